"""Eligibility: the rules that admit orders into dunning, as data, and the ONE engine that
evaluates them, for the scheduler that admits and for the explainer that says why (so the
two can never disagree). The handover checks behind FAILED run on the same engine.

A **rule set** (a versioned file, see ``parse_ruleset``) holds groups of conditions. An order
qualifies when every condition of at least one group holds. A condition is a **check** from
``CHECKS`` (its vocabulary) with parameters; a *time condition* (check ``days_after``) turns
green at 00:00 Europe/Berlin of a date fact plus its offset and stays green. Every other
condition depends on the facts only. So, within one rule-set version, a group that is met
stays met, and the first moment it is met (its **due date**) is the latest of its time
conditions' moments, provided every other condition is green.

Rule sets form a **timeline**: each version applies from its ``active_from`` until the next
version's. An order's due date is the first moment ``t`` at which the version active at
``t`` has a fully met group; the version and group that made it due are recorded with the
case. Changing the rule set never changes an admitted case.

The vocabulary of checks is ``eligibility_checks``, the rule-set model and its loading
``eligibility_ruleset``, the verdict and the explanation ``eligibility_verdict``.

Pure: no I/O, no clock. File reading is the caller's (``commands/orders.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from debtcases.domain.debtor import Debtor
from debtcases.domain.eligibility_checks import Context
from debtcases.domain.eligibility_ruleset import Condition, Group, RuleSet, Timeline
from debtcases.domain.order_facts import Failure, OrderFacts, PaymentMethod

# ================================================================= the engine


@dataclass(frozen=True)
class ConditionResult:
    id: str
    label: str
    check: str
    passed: bool
    observed: str
    required: str
    message: str
    is_time: bool
    offset_days: int | None
    green_from: datetime | None


@dataclass(frozen=True)
class GroupResult:
    id: str
    label: str
    passed: bool
    conditions: tuple[ConditionResult, ...]
    # The first moment every condition holds when only time is missing (None: a condition
    # other than time is red, or a time condition's date is missing). Within this version.
    met_from: datetime | None

    @property
    def red(self) -> list[ConditionResult]:
        return [c for c in self.conditions if not c.passed]

    @property
    def blocking(self) -> list[ConditionResult]:
        """The red conditions time alone will not turn green."""
        return [c for c in self.conditions if not c.passed and c.green_from is None]


def evaluate_group(group: Group, facts: OrderFacts, now: datetime, ctx: Context) -> GroupResult:
    results = []
    met_from: datetime | None = datetime.min.replace(tzinfo=UTC)
    for c in group.conditions:
        o = c.evaluate(facts, now, ctx)
        results.append(
            ConditionResult(
                c.id,
                c.label,
                c.check,
                o.passed,
                o.observed,
                o.required,
                o.message,
                c.is_time,
                c.offset_days,
                o.green_from,
            )
        )
        if c.is_time:
            if o.green_from is None or met_from is None:
                met_from = None
            else:
                met_from = max(met_from, o.green_from)
        elif not o.passed:
            met_from = None
    return GroupResult(
        group.id, group.label, all(r.passed for r in results), tuple(results), met_from
    )


@dataclass(frozen=True)
class RuleSetResult:
    ruleset: RuleSet
    groups: tuple[GroupResult, ...]


def evaluate(ruleset: RuleSet, facts: OrderFacts, now: datetime, ctx: Context) -> RuleSetResult:
    return RuleSetResult(ruleset, tuple(evaluate_group(g, facts, now, ctx) for g in ruleset.groups))


@dataclass(frozen=True)
class Due:
    """When the order is (or was) due for dunning, and what made it due."""

    at: datetime
    ruleset_version: str
    group: str


def due_of(timeline: Timeline, facts: OrderFacts, ctx: Context) -> Due | None:
    """The first moment ``t`` at which the rule set active at ``t`` has a fully met group
    (None: never, with these facts). Deterministic: ties go to the earlier group in the
    file. Independent of ``now``: met-from moments do not depend on it."""
    best: Due | None = None
    for ruleset, start, end in timeline.windows():
        # ``now`` only colours the conditions; met_from does not depend on it.
        result = evaluate(ruleset, facts, start, ctx)
        for g in result.groups:
            if g.met_from is None:
                continue
            t = max(start, g.met_from)
            if end is not None and t >= end:
                continue
            if best is None or t < best.at:
                best = Due(t, ruleset.version, g.id)
        if best is not None:
            break  # a later window can only give a later moment
    return best


# ======================================================== the handover checks

# The data Diagonal needs before it can take a case: a fixed group on the same engine.
HANDOVER = Group(
    "handover",
    "Übergabe an Diagonal",
    (
        Condition("name", "Name des Kunden", "debtor_name"),
        Condition("street", "Straße mit Hausnummer", "debtor_street"),
        Condition("country", "Land wird von Diagonal bedient", "debtor_country_served"),
        Condition("postal_code", "Postleitzahl passt zum Land", "debtor_postal_code"),
        Condition("city", "Ort", "debtor_city"),
        Condition("amount", "Offener Betrag größer als 0", "amount_above", {"min": "0"}),
    ),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def handover_errors(debtor: Debtor, amount: Decimal, served_countries: Iterable[str]) -> list[str]:
    """What stops Diagonal from taking a case (German messages for the "!" popup), from
    the ``HANDOVER`` group on the engine."""
    facts = OrderFacts(
        order_id="handover",
        user_id=1,
        amount=amount,
        currency="EUR",
        payment_method=PaymentMethod.OTHER,
        failure=Failure.NONE,
        failed_on=None,
        invoice_number="",
        invoice_date=None,
        due_date=None,
        reminders=(),
        refunded_on=None,
        cancelled_on=None,
        debtor=debtor,
        dunning_enabled=True,
    )
    ctx = Context(frozenset(c.upper() for c in served_countries))
    result = evaluate_group(HANDOVER, facts, _EPOCH, ctx)
    return [c.message for c in result.conditions if not c.passed]
