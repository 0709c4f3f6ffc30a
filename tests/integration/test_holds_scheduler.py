"""The hold scheduler on the real databases: the due holds come from the cases view and
end exactly once, also with two schedulers racing on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor
from debtcases.domain.case import case_id_for
from debtcases.domain.holds import Hold, HoldReason, start_of_day
from debtcases.domain.statuses import Status
from tests.builders import INTAKE, SUPPORT, VENDOR_ID, admission

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def test_holds_end_at_their_end_on_both_backends(container: Container) -> None:
    c = container
    for i, day in enumerate([date(2024, 7, 1), date(2024, 7, 2)]):
        c.cases.admit(admission(f"B-{i}"), INTAKE, T0)
        c.cases.block(f"B-{i}", SUPPORT, "r", T0, Hold(HoldReason.DISPUTE, day))
    c.cases.admit(admission("B-P"), INTAKE, T0)
    promise = Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("5"), date(2024, 6, 30))
    c.cases.block("B-P", SUPPORT, "r", T0, promise)
    c.runner.catch_up()
    first = start_of_day(date(2024, 7, 1))
    assert c.holds.expire_holds(first - timedelta(microseconds=1)).expired == []
    report = c.holds.expire_holds(first)
    assert report.expired == ["B-0", "B-P"] and report.promises_broken == ["B-P"]
    c.runner.catch_up()
    assert c.holds.expire_holds(first).looked_at == 0
    assert c.cases.get_case("B-1", SUPPORT).status is Status.BLOCKED


@pytest.mark.postgres
def test_two_schedulers_racing_on_postgres_end_each_hold_once(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    one = make_container(pg_url, run_workers=False)
    two = make_container(pg_url, run_workers=False)  # another process, in effect
    orders = [f"H-{i:03d}" for i in range(120)]
    one.cases.admit_many([admission(o) for o in orders], INTAKE, T0)
    for i, order_id in enumerate(orders):
        if i % 3 == 0:
            one.cases.start_dunning(order_id, Actor.vendor(VENDOR_ID), now=T0)
        hold = (
            Hold(
                HoldReason.PROMISE_TO_PAY,
                None,
                Decimal("10"),
                date(2024, 6, 15) + timedelta(days=i % 10),
            )
            if i % 4 == 0
            else Hold(HoldReason.DISPUTE, date(2024, 6, 20) + timedelta(days=i % 15))
        )
        one.cases.block(order_id, SUPPORT, "r", T0, hold)
    one.runner.catch_up()
    now = start_of_day(date(2024, 6, 28))
    due = sorted(one.views.recorder.due_holds(now, 10_000))
    assert 40 < len(due) < 120
    barrier = threading.Barrier(2)
    reports = {}

    def run(name: str, c: Container) -> None:
        barrier.wait()
        reports[name] = c.holds.expire_holds(now)

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in (("a", one), ("b", two))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a, b = reports["a"], reports["b"]
    assert not a.conflicts and not b.conflicts
    assert a.looked_at == b.looked_at == len(due)  # both went for every due hold
    assert not set(a.expired) & set(b.expired)
    assert sorted(a.expired + b.expired) == due
    for order_id in due:
        names = [type(e).__name__ for e in one.cases.events.get(case_id_for(order_id))]
        assert names.count("HoldExpired") == 1
        assert one.cases.get_case(order_id, SUPPORT).status is not Status.BLOCKED
    assert one.holds.expire_holds(now).expired == two.holds.expire_holds(now).expired == []
