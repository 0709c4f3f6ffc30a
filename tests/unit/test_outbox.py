"""The outbox records exactly the messages the events call for, once, with stable ids."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.consumers.outbox import OutboxProcessor
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor
from debtcases.projections.runner import Runner

INTAKE = Actor.system("intake")
SUPPORT = Actor.support("anna")


def admit(
    container: Container, order_id: str, user_id: int = 79424, name: str = "Jana Schäfer"
) -> None:
    container.cases.admit(
        Admission(
            order_id,
            user_id,
            Decimal("49.90"),
            "EUR",
            Debtor(name, "Lindenstraße 12", "10969", "Berlin", "DE"),
        ),
        INTAKE,
    )


def types(container: Container, order_id: str | None = None) -> list[str]:
    return [r.type for r in container.diagonal.outbox.messages(order_id=order_id)]


def test_play_records_one_handover_with_the_debtor_and_amount(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    admit(c, "B-1")
    c.cases.start_dunning("B-1", Actor.vendor(79424))
    c.runner.catch_up()
    [row] = c.diagonal.outbox.messages()
    assert row.type == "handover" and row.key == "B-1"
    assert row.payload["debtor"]["name"] == "Jana Schäfer"
    assert row.payload["amount"] == "49.90" and row.payload["currency"] == "EUR"
    assert row.sent_at is None and c.diagonal.outbox.backlog() == 1


def test_a_locked_case_calls_for_no_message(make_container: Callable[..., Container]) -> None:
    c = make_container()
    admit(c, "B-1")
    c.runner.catch_up()
    assert types(c) == []


def test_withdrawal_payment_and_address_update_follow_a_handed_over_case(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    for o in ("B-1", "B-2"):
        admit(c, o)
        c.cases.start_dunning(o, Actor.vendor(79424))
    c.cases.correct_address(
        "B-1", SUPPORT, Debtor("Jana Schäfer", "Neue Str. 1", "10115", "Berlin", "DE"), "Umzug"
    )
    c.cases.cancel("B-1", SUPPORT, "storniert")
    c.cases.mark_paid("B-2", SUPPORT, "bezahlt", "ZE-1")
    c.runner.catch_up()
    assert types(c, "B-1") == ["handover", "address_update", "withdrawal"]
    assert types(c, "B-2") == ["handover", "payment"]


def test_cancelling_a_case_diagonal_never_had_sends_no_withdrawal(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    admit(c, "B-1")
    c.cases.cancel("B-1", SUPPORT, "storniert")
    c.runner.catch_up()
    assert types(c) == []


def test_portal_access_is_sent_once_per_vendor_on_the_first_handover(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    for o in ("B-1", "B-2"):
        admit(c, o)
        c.cases.start_dunning(o, Actor.vendor(79424))
        c.cases.apply_ack(o, kind="received", message_id=f"ack-{o}")
    c.runner.catch_up()
    assert types(c).count("portal_access") == 1
    access = c.diagonal.outbox.portal_access(79424)
    assert access is not None and access["order_id"] == "B-1"
    assert c.diagonal.outbox.portal_access(51234) is None


def test_a_second_processor_over_the_same_log_records_nothing_twice(
    make_container: Callable[..., Container], tmp_path: object
) -> None:
    c = make_container(f"sqlite:///{tmp_path}/cases.sqlite")
    admit(c, "B-1")
    c.cases.start_dunning("B-1", Actor.vendor(79424))
    c.runner.catch_up()
    ids = [r.message_id for r in c.diagonal.outbox.messages()]
    # e.g. after a restart: a new runner with a new processor over the same outbox
    again = Runner(c.cases, [OutboxProcessor(c.cases, c.diagonal.outbox)])
    assert again.catch_up() == 0
    assert [r.message_id for r in c.diagonal.outbox.messages()] == ids


def test_message_ids_are_stable_across_a_rebuilt_outbox(
    make_container: Callable[..., Container], tmp_path: object
) -> None:
    first = make_container(f"sqlite:///{tmp_path}/a.sqlite")
    second = make_container(f"sqlite:///{tmp_path}/b.sqlite")
    for c in (first, second):
        admit(c, "B-1")
        c.cases.start_dunning("B-1", Actor.vendor(79424))
        c.runner.catch_up()
    assert [r.message_id for r in first.diagonal.outbox.messages()] == [
        r.message_id for r in second.diagonal.outbox.messages()
    ]


def test_a_case_running_too_long_is_reported_stuck_until_diagonal_receives_it(
    make_container: Callable[..., Container],
) -> None:
    from datetime import timedelta

    c = make_container()
    admit(c, "B-1")
    c.cases.start_dunning("B-1", Actor.vendor(79424))
    c.runner.catch_up()
    later = c.cases.clock() + timedelta(hours=49)
    assert [s["order_id"] for s in c.views.stuck_cases(now=later)] == ["B-1"]
    c.cases.apply_ack("B-1", kind="received", message_id="ack-1")
    c.runner.catch_up()
    assert c.views.stuck_cases(now=later) == []
