"""The scheduler on the real databases: idempotent and missing -> in_dunning on SQLite and
PostgreSQL; two schedulers racing on PostgreSQL admit each due order exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor
from debtcases.domain.case import case_id_for
from tests.facts_builders import T0, returned_debit

NOW = datetime(2024, 7, 1, tzinfo=UTC)
INTAKE = Actor.system("intake")
SUPPORT = Actor.support("anna")


def test_missing_turns_into_in_dunning_and_a_second_round_admits_nothing(
    container: Container,
) -> None:
    orders = container.orders
    orders.report([returned_debit("B-1"), returned_debit("B-2", dunning_enabled=False)], INTAKE, T0)
    assert orders.explain("B-1", SUPPORT, NOW)[0].verdict.value == "missing"
    assert orders.admit_due(NOW).admitted == ["B-1"]
    assert orders.admit_due(NOW).admitted == []
    assert orders.explain("B-1", SUPPORT, NOW)[0].verdict.value == "in_dunning"
    assert orders.explain("B-2", SUPPORT, NOW)[0].verdict.value == "not_eligible"
    assert not orders.cases.has_case("B-2")


@pytest.mark.postgres
def test_two_schedulers_racing_on_postgres_admit_each_due_order_exactly_once(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    one = make_container(pg_url, run_workers=False)
    two = make_container(pg_url, run_workers=False)  # another process, in effect
    facts = [
        returned_debit(f"R-{i:04d}", failed_on=date(2024, 5, 1) + timedelta(days=i % 40))
        for i in range(400)
    ]
    for i in range(0, len(facts), 200):
        one.orders.report(facts[i : i + 200], INTAKE, T0)
    now = datetime(2024, 6, 5, tzinfo=UTC)
    due = [f.order_id for f in facts if (d := one.orders.due(f)) is not None and d.at <= now]
    assert 100 < len(due) < 400
    # Different chunkings, so the two schedulers' saves overlap in different ways.
    one.orders.batch_size, two.orders.batch_size = 50, 7
    barrier = threading.Barrier(2)
    reports = {}

    def run(name: str, c: Container) -> None:
        barrier.wait()
        reports[name] = c.orders.admit_due(now)

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in (("a", one), ("b", two))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a, b = reports["a"].admitted, reports["b"].admitted
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(due)
    for order_id in due:
        events = list(one.cases.events.get(case_id_for(order_id)))
        assert [type(e).__name__ for e in events] == ["Locked"]
    # And again, by either: nothing.
    assert one.orders.admit_due(now).admitted == two.orders.admit_due(now).admitted == []
    assert sorted(one.orders.admit_due(NOW).admitted) == sorted(
        set(f.order_id for f in facts) - set(due)
    )
