"""The explainer and the scheduler never disagree: 10,000 generated fact sets x 3 moments,
on the real application (facts app, due index, DunningCases), 0 disagreements.

``eligible_on d`` => admitted at d and not before; ``not_eligible`` => never admitted;
``missing`` only while the scheduler has not run at a moment past the due date, and
``in_dunning`` once it has. The scheduler runs at every moment of every fact set, in time
order, so each order's due date is one of the moments it runs at."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.eligibility_checks import berlin_date
from debtcases.domain.eligibility_verdict import Verdict
from tests.facts_builders import random_facts

FACT_SETS = 10_000
RECORDED = datetime(2024, 2, 1, tzinfo=UTC)  # before any due date of random_facts
SUPPORT = Actor.support("diff")
INTAKE = Actor.system("intake")


def _moments(rng: random.Random, due: datetime | None) -> list[datetime]:
    if due is None:
        start = datetime(2024, 3, 1, tzinfo=UTC)
        return sorted(start + timedelta(seconds=rng.randrange(0, 300 * 86400)) for _ in range(3))
    return [
        due - timedelta(seconds=rng.choice([1, 60, 3600, 86400 * rng.randrange(1, 30)])),
        due,
        due + timedelta(seconds=rng.randrange(0, 30 * 86400)),
    ]


def test_the_explainer_and_the_scheduler_never_disagree(
    make_container: Callable[..., Container],
) -> None:
    c = make_container("memory://", run_workers=False)
    orders = c.orders
    rng = random.Random(20240601)
    facts = [random_facts(rng, f"D-{i:05d}") for i in range(FACT_SETS)]
    for i in range(0, FACT_SETS, 1000):
        orders.report(facts[i : i + 1000], INTAKE, RECORDED)
    due = {f.order_id: orders.due(f) for f in facts}
    at_moment: dict[datetime, list[str]] = defaultdict(list)
    for f in facts:
        d = due[f.order_id]
        for m in _moments(rng, d.at if d else None):
            at_moment[m].append(f.order_id)

    disagreements: list[str] = []
    verdicts: dict[Verdict, int] = defaultdict(int)
    admitted_at: dict[str, datetime] = {}

    def check(order_id: str, m: datetime, after_round: bool) -> None:
        e, _ = orders.explain(order_id, SUPPORT, m)
        verdicts[e.verdict] += 1
        d = due[order_id]
        has_case = order_id in admitted_at
        if d is None:
            expected = {Verdict.NOT_ELIGIBLE}
        elif d.at > m:
            expected = {Verdict.ELIGIBLE_ON}
            if e.verdict is Verdict.ELIGIBLE_ON and e.due is not None and e.due.at != d.at:
                disagreements.append(f"{order_id} at {m}: eligible_on {e.due.at}, due {d.at}")
        elif after_round or has_case:
            expected = {Verdict.IN_DUNNING}
        else:
            expected = {Verdict.MISSING}
        if e.verdict not in expected:
            disagreements.append(f"{order_id} at {m}: {e.verdict} (expected {expected})")
        if (e.verdict is Verdict.IN_DUNNING) != (order_id in admitted_at):
            disagreements.append(f"{order_id} at {m}: {e.verdict} but case={has_case}")

    for m in sorted(at_moment):
        for order_id in at_moment[m]:
            check(order_id, m, after_round=False)
        report = orders.admit_due(m)
        for order_id in report.admitted:
            d = due[order_id]
            if order_id in admitted_at:
                disagreements.append(f"{order_id} admitted twice ({admitted_at[order_id]}, {m})")
            if d is None:
                disagreements.append(f"{order_id}: admitted at {m} but never due")
            elif d.at != m:
                disagreements.append(f"{order_id}: due {d.at}, admitted at {m}")
            admitted_at[order_id] = m
        for order_id in at_moment[m]:
            check(order_id, m, after_round=True)

    # Every due order was admitted exactly at its due date, with the version and group.
    for f in facts:
        d = due[f.order_id]
        if d is None:
            if f.order_id in admitted_at or orders.cases.has_case(f.order_id):
                disagreements.append(f"{f.order_id}: not eligible, yet admitted")
            continue
        case: DunningCase = orders.cases.repository.get(case_id_for(f.order_id))
        first = next(iter(orders.cases.events.get(case.id)))
        if first.timestamp != d.at or f"Gruppe {d.group}," not in first.reason:  # type: ignore[attr-defined]
            disagreements.append(f"{f.order_id}: Locked {first.timestamp} vs due {d.at}")
        if berlin_date(d.at) < berlin_date(RECORDED):
            disagreements.append(f"{f.order_id}: due before the facts were known")

    assert disagreements == []
    # The generator reaches every verdict but unknown_order (which needs no facts).
    assert verdicts[Verdict.ELIGIBLE_ON] > 1000
    assert verdicts[Verdict.NOT_ELIGIBLE] > 1000
    assert verdicts[Verdict.MISSING] > 500
    assert verdicts[Verdict.IN_DUNNING] > 1000
    assert sum(verdicts.values()) == 2 * 3 * FACT_SETS
