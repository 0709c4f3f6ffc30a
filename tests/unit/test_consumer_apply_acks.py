"""A poll's worth of Diagonal's acks applied in one transaction (``DunningCases.apply_acks``)
has exactly the effect of applying them one by one, on the in-memory backend."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import given, settings
from hypothesis import strategies as st

from debtcases.bootstrap import utc_now
from debtcases.commands.acks import AckInput, AckResult
from debtcases.commands.app import Admission, DunningCases
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.errors import CaseNotFound
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR as GOOD

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
INTAKE, SUPPORT = Actor.system("intake"), Actor.support("anna")

# How a case stands when the acks arrive: the commands that bring it there.
SETUPS: dict[str, Callable[[DunningCases, str], Any]] = {
    "locked": lambda app, o: None,
    "running": lambda app, o: app.start_dunning(o, SUPPORT, now=NOW),
    "handed_over": lambda app, o: (
        app.start_dunning(o, SUPPORT, now=NOW),
        app.hand_over(o, SUPPORT, "r", now=NOW),
    ),
    "cancelled": lambda app, o: (
        app.start_dunning(o, SUPPORT, now=NOW),
        app.cancel(o, SUPPORT, "r", now=NOW),
    ),
    "blocked_running": lambda app, o: (
        app.start_dunning(o, SUPPORT, now=NOW),
        app.block(o, SUPPORT, "r", now=NOW),
    ),
}


def new_app() -> DunningCases:
    return DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)


def admitted(setups: dict[str, str]) -> DunningCases:
    app = new_app()
    for order_id, setup in setups.items():
        app.admit(Admission(order_id, 100, Decimal("9.90"), "EUR", GOOD), INTAKE, now=NOW)
        SETUPS[setup](app, order_id)
    return app


def diagonal_events(app: DunningCases, order_id: str) -> list[Any]:
    return [
        e
        for e in app.events.get(case_id_for(order_id))
        if isinstance(e, DunningCase.Event) and e.actor.role is Role.DIAGONAL
    ]


def status(app: DunningCases, order_id: str) -> Status:
    return app.get_case(order_id, SUPPORT).status


def results(outcomes: list[AckResult]) -> list[tuple[str, str]]:
    return [(r.ack.message_id, r.result) for r in outcomes]


def count_saves(app: DunningCases, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of cases each ``save`` call stores from now on (it is given the cases'
    events, or the cases)."""
    saves: list[int] = []
    real_save = app.save

    def save(*objs: Any, **kwargs: Any) -> Any:
        saves.append(len({getattr(o, "originator_id", None) or o.id for o in objs}))
        return real_save(*objs, **kwargs)

    monkeypatch.setattr(app, "save", save)
    return saves


def test_several_acks_for_one_case_in_one_batch_build_on_each_other_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = admitted({"A": "running", "B": "running"})
    saves = count_saves(app, monkeypatch)
    outcome = app.apply_acks(
        [
            AckInput("A", "received", "m1"),
            AckInput("B", "received", "m2"),
            AckInput("A", "rejected", "m3", ("PLZ unbekannt",)),
            AckInput("A", "received", "m4"),
        ],
        now=NOW,
    )
    assert results(outcome) == [(m, "applied") for m in ("m1", "m2", "m3", "m4")]
    assert saves == [2]  # both cases, one transaction
    events_a = diagonal_events(app, "A")
    assert [type(e).__name__ for e in events_a] == [
        "HandedToCollection",
        "HandoverFailed",
        "AckRecorded",  # received after the rejection no longer fits: recorded only
    ]
    assert events_a[1].fell_back and events_a[1].errors == ["PLZ unbekannt"]
    assert status(app, "A") is Status.FAILED
    assert status(app, "B") is Status.HANDED_OVER


def test_a_message_id_seen_earlier_in_the_batch_or_before_it_is_applied_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = admitted({"A": "running"})
    first = app.apply_acks([AckInput("A", "received", "m1")], now=NOW)
    assert results(first) == [("m1", "applied")]
    second = app.apply_acks(
        [
            AckInput("A", "received", "m1"),  # from the batch before
            AckInput("A", "closed", "m2"),
            AckInput("A", "closed", "m2"),  # twice in this batch
        ],
        now=NOW,
    )
    assert results(second) == [("m1", "duplicate"), ("m2", "applied"), ("m2", "duplicate")]
    assert [e.actor.id for e in diagonal_events(app, "A")] == ["m1", "m2"]

    saves = count_saves(app, monkeypatch)
    again = app.apply_acks([AckInput("A", "received", "m1"), AckInput("A", "closed", "m2")])
    assert results(again) == [("m1", "duplicate"), ("m2", "duplicate")]
    assert saves == []  # nothing to store: no transaction at all


def test_an_unknown_order_is_reported_and_the_other_acks_are_applied() -> None:
    app = admitted({"A": "running"})
    outcome = app.apply_acks(
        [AckInput("NO-SUCH", "received", "m1"), AckInput("A", "received", "m2")], now=NOW
    )
    assert results(outcome) == [("m1", "unknown_order"), ("m2", "applied")]
    assert status(app, "A") is Status.HANDED_OVER
    assert not app.has_case("NO-SUCH")


def test_a_case_changed_between_load_and_save_is_reloaded_and_the_batch_decided_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = admitted({"A": "running", "B": "running"})
    real_save = app.save
    interfered: list[bool] = []

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        if not interfered:  # support blocks A just before the batch is stored
            interfered.append(True)
            app.block("A", SUPPORT, "Rückfrage", now=NOW)
        return real_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save)
    outcome = app.apply_acks(
        [AckInput("A", "received", "m1"), AckInput("B", "received", "m2")], now=NOW
    )
    assert results(outcome) == [("m1", "applied"), ("m2", "applied")]
    case_a = app.get_case("A", SUPPORT)
    # Decided again on the blocked case: Diagonal's answer moves the remembered status.
    assert case_a.status is Status.BLOCKED
    assert case_a.status_before_block is Status.HANDED_OVER
    assert status(app, "B") is Status.HANDED_OVER
    assert [e.actor.id for e in diagonal_events(app, "A")] == ["m1"]
    assert [e.actor.id for e in diagonal_events(app, "B")] == ["m2"]


def test_a_batch_that_keeps_conflicting_is_applied_one_ack_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = admitted({"A": "running", "B": "running"})
    real_save = app.save
    refused: list[int] = []

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        if len(aggregates) > 1:  # every joint save conflicts
            refused.append(len(aggregates))
            raise IntegrityError("conflict")
        return real_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save)
    outcome = app.apply_acks(
        [
            AckInput("A", "received", "m1"),
            AckInput("B", "rejected", "m2"),
            AckInput("A", "received", "m1"),
            AckInput("X", "closed", "m3"),
        ],
        now=NOW,
    )
    assert refused == [2] * app.max_attempts
    assert results(outcome) == [
        ("m1", "applied"),
        ("m2", "applied"),
        ("m1", "duplicate"),
        ("m3", "unknown_order"),
    ]
    assert status(app, "A") is Status.HANDED_OVER
    assert status(app, "B") is Status.FAILED


# ------------------------------------------------------------------ batch == one by one

ORDERS = ("A", "B", "C")
acks = st.builds(
    AckInput,
    order_id=st.sampled_from((*ORDERS, "UNKNOWN")),
    kind=st.sampled_from(("received", "rejected", "closed")),
    message_id=st.sampled_from(("m1", "m2", "m3", "m4", "m5")),
    errors=st.sampled_from(((), ("PLZ unbekannt",))),
)


def one_by_one(app: DunningCases, ack: AckInput) -> tuple[str, str]:
    try:
        outcome = app.apply_ack(
            ack.order_id,
            kind=ack.kind,
            message_id=ack.message_id,
            errors=list(ack.errors),
            now=NOW,
        )
    except CaseNotFound:
        return ack.message_id, "unknown_order"
    return ack.message_id, "applied" if outcome.changed else "duplicate"


def stream(app: DunningCases, order_id: str) -> list[dict[str, Any]]:
    return [vars(e) for e in app.events.get(case_id_for(order_id))]


@settings(max_examples=150, deadline=None)
@given(
    setups=st.fixed_dictionaries({o: st.sampled_from(sorted(SETUPS)) for o in ORDERS}),
    sequence=st.lists(acks, max_size=25),
    cuts=st.sets(st.integers(min_value=1, max_value=24), max_size=4),
)
def test_applying_acks_in_batches_equals_applying_them_one_by_one(
    setups: dict[str, str], sequence: list[AckInput], cuts: set[int]
) -> None:
    sequential, batched = admitted(setups), admitted(setups)
    expected = [one_by_one(sequential, ack) for ack in sequence]

    bounds = [0, *sorted(c for c in cuts if c < len(sequence)), len(sequence)]
    got: list[tuple[str, str]] = []
    for start, end in itertools.pairwise(bounds):
        got += results(batched.apply_acks(sequence[start:end], now=NOW))

    assert got == expected
    for order_id in ORDERS:
        assert stream(batched, order_id) == stream(sequential, order_id), order_id
