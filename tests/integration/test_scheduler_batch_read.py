"""The scheduler reads a chunk's order facts in one query (``OrderFactsApp.get_many``) where
it read them one order at a time (``facts_as_of``, one query and a pre-ping each). On
SQLite and PostgreSQL: the batch read gives every order the facts the single read gives,
and a round (and the round after it) does, stores and marks exactly what the per-order
round did, byte for byte, over facts with several versions per order, orders not yet due
at the moment, orders whose facts known then are due later than the moment (or that
were not known yet), and orders that already have a case (same data, other data, by
hand)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.commands.orders import SCHEDULER, AdmitDueReport, Orders
from debtcases.domain.actors import Actor
from debtcases.domain.eligibility_verdict import scheduler_reason
from debtcases.domain.errors import OrderConflict
from debtcases.domain.order_facts import OrderFacts, OrderFactsAggregate
from tests.facts_builders import T0, random_facts, returned_debit

INTAKE = Actor.system("intake")
SUPPORT = Actor.support("anna")


# ----------------------------------------------------------- the per-order round


def _admit_chunk_one_by_one(
    orders: Orders, order_ids: Sequence[str], at: datetime, report: AdmitDueReport
) -> None:
    """The scheduler's chunk as it was before the batch read (commit 694188c): each
    order's facts read on its own (``facts_as_of``), then decided and admitted as now."""
    assert orders.due_index is not None
    admissions: list[Admission] = []
    done: list[str] = []
    for order_id in order_ids:
        report.looked_at += 1
        version = orders.facts_as_of(order_id, at)
        due = orders.due(version.facts) if version else None
        if version is None or due is None or due.at > at:
            report.not_due += 1
            continue
        f = version.facts
        admissions.append(
            Admission(f.order_id, f.user_id, f.amount, f.currency, f.debtor, scheduler_reason(due))
        )
    try:
        outcomes = orders.cases.admit_many(admissions, SCHEDULER, at)
    except OrderConflict:
        outcomes = []
        for a in admissions:
            try:
                outcomes.extend(orders.cases.admit_many([a], SCHEDULER, at))
            except OrderConflict:
                report.existing += 1
                done.append(a.order_id)
    for o in outcomes:
        done.append(o.case.order_id)
        if o.created:
            report.admitted.append(o.case.order_id)
        else:
            report.existing += 1
    orders.due_index.mark_done(done, at)


def _admit_due_one_by_one(orders: Orders, at: datetime) -> AdmitDueReport:
    assert orders.due_index is not None
    report = AdmitDueReport(at)
    orders.due_index.catch_up()
    candidates = orders.due_index.due_orders(at, 1_000_000)
    for i in range(0, len(candidates), orders.batch_size):
        _admit_chunk_one_by_one(orders, candidates[i : i + orders.batch_size], at, report)
    return report


# ------------------------------------------------------------------- the data


def _scenario(seed: int, n: int) -> tuple[list[tuple[datetime, list[OrderFacts]]], datetime]:
    """Batches of facts to report (in time order) and the scheduler's moment: 1-4 versions
    per order recorded over two months around the moment, each drawn afresh (a later
    version may be due earlier, later or never, with other admission data)."""
    rng = random.Random(seed)
    at = T0 + timedelta(days=30, hours=rng.randrange(24))
    by_time: dict[datetime, list[OrderFacts]] = {}
    for i in range(n):
        order_id = f"S{seed}-{i:04d}"
        days = sorted(rng.sample(range(0, 60), rng.choice([1, 1, 2, 3, 4])))
        for day in days:
            facts = random_facts(rng, order_id)
            if rng.random() < 0.4:  # many due: a returned debit due 2024-05-29
                facts = returned_debit(order_id, amount=Decimal(rng.choice(["9.90", "49.90"])))
            moment = T0 + timedelta(days=day, seconds=rng.randrange(86400))
            by_time.setdefault(moment, []).append(facts)
    return sorted(by_time.items()), at


def _prepare(c: Container, seed: int, n: int) -> datetime:
    """Report the scenario's facts; before the round, admit some orders directly with the
    facts known at the moment (same data), some with other data, one by hand."""
    batches, at = _scenario(seed, n)
    for moment, batch in batches:
        c.orders.report(batch, INTAKE, moment)
    rng = random.Random(seed * 7 + 1)
    versions = {o: c.orders.facts_as_of(o, at) for o in _order_ids(batches)}
    known = {o: v for o, v in versions.items() if v is not None}
    due = sorted(o for o, v in known.items() if (d := c.orders.due(v.facts)) and d.at <= at)
    chosen = sorted(rng.sample(due, max(5, len(due) // 5)))
    for k, order_id in enumerate(chosen):
        f = known[order_id].facts
        amount = f.amount if k % 3 else f.amount + Decimal("1.00")  # every third: other data
        if k == len(chosen) - 1:
            c.orders.admit_by_hand(order_id, SUPPORT, "Kundin bat darum", at)
            continue
        when = at - timedelta(hours=1 + k)
        c.cases.admit_many(
            [Admission(order_id, f.user_id, amount, f.currency, f.debtor, "direkt")], INTAKE, when
        )
    return at


def _order_ids(batches: list[tuple[datetime, list[OrderFacts]]]) -> list[str]:
    return sorted({f.order_id for _, batch in batches for f in batch})


def _stored(c: Container) -> dict[str, Any]:
    """Everything a round leaves behind: the cases' log byte for byte, the due index."""
    log = [
        (n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        for n in c.cases.recorder.select_notifications(1, 1_000_000)
    ]
    store: Any = c.orders.due_index.store  # type: ignore[union-attr]
    with store.datastore.transaction(commit=False) as cur:
        cur.execute("SELECT * FROM order_due ORDER BY order_id")
        rows = [dict(r) for r in cur.fetchall()]
    return {"log": log, "due": rows}


def _summary(r: AdmitDueReport) -> tuple[Any, ...]:
    return (r.now, r.looked_at, r.admitted, r.existing, r.not_due)


# ----------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", "postgres"])
def two_database_urls(
    request: pytest.FixtureRequest, tmp_path: object
) -> Iterator[tuple[str, str]]:
    """Two empty databases of the same backend: one for each way of reading."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/batch.sqlite", f"sqlite:///{tmp_path}/one_by_one.sqlite"
        return
    import psycopg

    server = str(request.getfixturevalue("pg_server_url"))
    parsed = urlparse(server)
    admin = urlunparse(parsed._replace(path="/postgres"))
    names = ["t_" + uuid.uuid4().hex[:16] for _ in range(2)]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        a, b = (urlunparse(parsed._replace(path="/" + name)) for name in names)
        yield a, b
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -------------------------------------------------------------------- tests


@pytest.mark.parametrize(("seed", "batch_size"), [(1, 200), (2, 7), (3, 50)])
def test_a_round_reading_a_chunk_at_once_does_what_the_per_order_round_did(
    two_database_urls: tuple[str, str],
    make_container: Callable[..., Container],
    seed: int,
    batch_size: int,
) -> None:
    batch = make_container(two_database_urls[0], run_workers=False)
    one_by_one = make_container(two_database_urls[1], run_workers=False)
    ats = {_prepare(c, seed, 120) for c in (batch, one_by_one)}
    assert len(ats) == 1
    at = ats.pop()
    batch.orders.batch_size = one_by_one.orders.batch_size = batch_size
    assert _stored(batch) == _stored(one_by_one)

    new, old = batch.orders.admit_due(at), _admit_due_one_by_one(one_by_one.orders, at)
    assert _summary(new) == _summary(old)
    # The scenario reaches every path: admitted, had a case (same and other data: the
    # OrderConflict path), due by the latest facts but not by those known at the moment.
    assert new.admitted and new.existing >= 3 and new.not_due > 0
    assert _stored(batch) == _stored(one_by_one)

    # The next round admits nothing twice; a later one admits the same on both.
    assert batch.orders.admit_due(at).admitted == []
    assert _admit_due_one_by_one(one_by_one.orders, at).admitted == []
    later = at + timedelta(days=45)
    assert _summary(batch.orders.admit_due(later)) == _summary(
        _admit_due_one_by_one(one_by_one.orders, later)
    )
    assert _stored(batch) == _stored(one_by_one)


def _aggregate(agg: OrderFactsAggregate | None) -> Any:
    if agg is None:
        return None
    return (agg.id, agg.version, agg.created_on, agg.modified_on, agg.order_id, agg.history)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    versions=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=12),
    hours=st.lists(st.integers(min_value=-48, max_value=24 * 40), min_size=1, max_size=4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_the_batch_read_gives_each_order_what_the_single_read_gives(
    container: Container, versions: list[int], hours: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    prefix = uuid.uuid4().hex[:8]  # one container for every example: fresh orders each
    order_ids = [f"{prefix}-{i}" for i in range(len(versions))]  # 0 versions: unknown
    for step in range(max(versions)):
        moment = T0 + timedelta(days=step * 3, minutes=rng.randrange(3 * 24 * 60))
        batch = [
            replace(random_facts(rng, o), order_id=o)
            for o, n in zip(order_ids, versions, strict=True)
            if n > step
        ]
        container.orders.report(batch, INTAKE, moment)
    many = container.order_facts.get_many([*reversed(order_ids), "never-reported"])
    assert set(many) == {*order_ids, "never-reported"}
    for order_id in [*order_ids, "never-reported"]:
        assert _aggregate(many[order_id]) == _aggregate(container.order_facts.get(order_id))
    for h in hours:
        at = T0 + timedelta(hours=h)
        assert container.orders.facts_as_of_many(order_ids, at) == {
            o: container.orders.facts_as_of(o, at) for o in order_ids
        }
