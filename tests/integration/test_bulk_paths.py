"""The batch paths (``admit_many``, ``apply_acks``) on SQLite and PostgreSQL store exactly
what the library's own save of the aggregates stores: the same rows (id, version, topic,
state bytes) under the same notification ids, in the same order, and the log runner sees
them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

from debtcases.bootstrap import Container
from debtcases.commands.acks import AckInput
from debtcases.commands.app import Admission
from debtcases.domain import case as case_module
from debtcases.domain.actors import Actor
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.debtor import Debtor
from debtcases.domain.statuses import Status

INTAKE, SUPPORT = Actor.system("intake"), Actor.support("anna")
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _batch(start: int, n: int) -> list[Admission]:
    return [
        Admission(
            f"O-{i:05d}",
            10_000 + i % 7,
            Decimal(f"{i % 500}.{i % 100:02d}"),
            "eur" if i % 3 else "EUR",
            Debtor(f"Kundin {i} Schäfer", f"Lindenstraße {i}", "10969", "Berlin", "DE"),
            f"Rücklastschrift {i}" if i % 2 else "",
        )
        for i in range(start, start + n)
    ]


def _by_the_aggregate(a: Admission) -> DunningCase:
    return DunningCase.admit(
        order_id=a.order_id,
        user_id=a.user_id,
        amount=a.amount,
        currency=a.currency,
        debtor=a.debtor,
        actor=INTAKE,
        reason=a.reason,
        now=NOW,
    )


def _log(container: Container) -> list[tuple[int, str, int, str, bytes]]:
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        for n in container.cases.recorder.select_notifications(1, 100_000)
    ]


def test_admit_many_stores_the_rows_the_aggregates_save_would_store(
    database_url: str, tmp_path: object, make_container: Callable[..., Container]
) -> None:
    fast = make_container(database_url)
    slow = make_container(f"sqlite:///{tmp_path}/slow.sqlite")
    # Two batches, the second larger than one insert chunk (1,000 events).
    batches = [_batch(0, 300), _batch(300, 1200)]
    positions = []
    for batch in batches:
        outcomes = fast.cases.admit_many(batch, INTAKE, now=NOW)
        positions.append({o.position for o in outcomes})
        slow.cases.save(*[_by_the_aggregate(a) for a in batch])
    assert positions == [{300}, {1500}]  # one transaction each, ids in order
    log = _log(fast)
    assert log == _log(slow)
    assert [row[0] for row in log] == list(range(1, 1501))
    # Re-admitting the same data changes nothing; the views' runner sees every case.
    again = fast.cases.admit_many(batches[0][:5], INTAKE, now=NOW)
    assert [o.created for o in again] == [False] * 5
    fast.runner.catch_up()
    assert fast.views.positions()["cases"] == 1500


def test_apply_acks_stores_what_one_ack_at_a_time_stores(
    database_url: str, tmp_path: object, make_container: Callable[..., Container]
) -> None:
    batch = _batch(0, 40)
    acks = [
        AckInput(a.order_id, kind, f"m-{a.order_id}-{kind}", ("PLZ ungültig",) * (i % 2))
        for kind in ("received", "rejected", "received", "closed")
        for i, a in enumerate(batch)
    ] + [AckInput("O-00003", "received", "m-O-00003-received")]  # a duplicate
    stores = []
    for url, batched in ((database_url, True), (f"sqlite:///{tmp_path}/one.sqlite", False)):
        c = make_container(url)
        c.cases.admit_many(batch, INTAKE, now=NOW)
        for a in batch[::2]:
            c.cases.start_dunning(a.order_id, SUPPORT, now=NOW)
        for a in batch[::6]:
            c.cases.block(a.order_id, SUPPORT, "Rückfrage", now=NOW)
        for a in batch[1::5]:
            c.cases.cancel(a.order_id, SUPPORT, "storniert", now=NOW)
        if batched:
            results = [r.result for r in c.cases.apply_acks(acks, now=NOW)]
        else:
            # The single command, loading the case through the library's repository and
            # recording the decision through the library's trigger_event.
            with mock.patch.object(case_module, "_own_fields", lambda _cls: None):
                results = [
                    "applied"
                    if c.cases.apply_ack(
                        ack.order_id,
                        kind=ack.kind,
                        message_id=ack.message_id,
                        errors=list(ack.errors),
                        now=NOW,
                    ).changed
                    else "duplicate"
                    for ack in acks
                ]
        # The batch stores its events case by case, one at a time in ack order: the same
        # streams (each case's events in its order), other notification ids.
        stores.append((results, sorted(row[1:] for row in _log(c))))
        assert c.cases.get_case("O-00002", SUPPORT).status is Status.FAILED
        assert c.cases.get_case("O-00000", SUPPORT).status is Status.BLOCKED
    assert stores[0] == stores[1]
    assert stores[0][0].count("duplicate") == 1 + 40  # the repeated message ids
    # O-00000: admitted, started, blocked, received (still blocked), rejected, closed.
    assert sum(row[0] == str(case_id_for("O-00000")) for row in stores[0][1]) == 6
    topics = {row[2].rsplit(".", 1)[-1] for row in stores[0][1]}
    assert {"HandedToCollection", "HandoverFailed", "ClosedAtDiagonal", "AckRecorded"} <= topics


def test_the_batch_paths_take_their_connections_without_the_pre_ping(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    """They retry a broken connection themselves; a single case read keeps the pre-ping."""
    c = make_container(pg_url)
    # The pool's check is the ping wrapped (pre-ping unless retried, check all on the first
    # broken one): count the ping itself, innermost.
    check = c.cases.recorder.datastore.pool._check  # type: ignore[attr-defined]
    while hasattr(check.check, "check"):
        check = check.check
    pings: list[object] = []
    real = check.check
    check.check = lambda conn: (pings.append(conn), real(conn))[1]
    c.cases.admit_many(_batch(0, 10), INTAKE, now=NOW)
    c.cases.apply_acks([AckInput("O-00001", "received", "m-1")], now=NOW)
    assert pings == []
    c.cases.get_case("O-00001", SUPPORT)
    assert len(pings) == 1
