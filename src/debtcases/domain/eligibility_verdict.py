"""Eligibility's answer for support: the one **verdict** rule (the scheduler admits exactly
when it says ``missing``), how a case was admitted (read back from its ``Locked`` reason),
and the **explanation** of why an order is (not) in dunning, with the next step. Everything
is computed on the engine (``eligibility``), so the explainer and the scheduler cannot
disagree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from debtcases.domain.actors import Actor
from debtcases.domain.eligibility import Due, RuleSetResult, due_of, evaluate
from debtcases.domain.eligibility_checks import Context, berlin_date
from debtcases.domain.eligibility_ruleset import RuleSet, Timeline
from debtcases.domain.order_facts import OrderFacts
from debtcases.domain.statuses import Status


class Verdict(StrEnum):
    IN_DUNNING = "in_dunning"
    ELIGIBLE_ON = "eligible_on"
    NOT_ELIGIBLE = "not_eligible"
    MISSING = "missing"
    UNKNOWN_ORDER = "unknown_order"


class AdmittedBy(StrEnum):
    SCHEDULER = "scheduler"  # the rule set (``admit-due``)
    MANUAL = "manual"  # support, by hand, with a reason
    INTAKE = "intake"  # POST /api/v1/cases (or a CSV import) directly


@dataclass(frozen=True)
class Admission:
    """How a case entered dunning, as its ``Locked`` event tells."""

    by: AdmittedBy
    at: datetime
    actor: Actor
    ruleset_version: str | None = None
    group: str | None = None
    reason: str = ""  # manual: support's why


_AUTO = re.compile(r"^Automatisch aufgenommen: Regelwerk (\S+), Gruppe (\S+)")
_MANUAL = re.compile(r"^Von Hand aufgenommen \(Regelwerk (\S+); rot: [^)]*\): (.*)$", re.S)


def scheduler_reason(due: Due) -> str:
    """The ``Locked`` reason of an admission by the scheduler (parsed back by
    ``admission_of``)."""
    return (
        f"Automatisch aufgenommen: Regelwerk {due.ruleset_version}, Gruppe {due.group}, "
        f"fällig seit {due.at.isoformat()}"
    )


def manual_reason(ruleset_version: str, red: Sequence[str], why: str) -> str:
    """The ``Locked`` reason of support's admission by hand: the rule-set version, the red
    conditions and support's reason."""
    reds = ", ".join(red) or "keine"
    return f"Von Hand aufgenommen (Regelwerk {ruleset_version}; rot: {reds}): {why}"


def admission_of(reason: str, actor: Actor, at: datetime) -> Admission:
    """Read a ``Locked`` event's reason back into how the case was admitted."""
    m = _AUTO.match(reason)
    if m:
        return Admission(AdmittedBy.SCHEDULER, at, actor, m.group(1), m.group(2).rstrip(","))
    m = _MANUAL.match(reason)
    if m:
        return Admission(AdmittedBy.MANUAL, at, actor, m.group(1), None, m.group(2))
    return Admission(AdmittedBy.INTAKE, at, actor, reason=reason)


@dataclass(frozen=True)
class CaseInfo:
    """What the explainer needs of an existing case (as of the moment explained)."""

    status: Status
    admission: Admission


@dataclass(frozen=True)
class NextStep:
    text: str
    at: datetime | None


@dataclass(frozen=True)
class Explanation:
    order_id: str
    at: datetime
    verdict: Verdict
    summary: str
    ruleset: RuleSet | None
    result: RuleSetResult | None
    due: Due | None
    next_step: NextStep
    case: CaseInfo | None = None
    blocking: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (group, red condition ids)


def verdict_of(due: Due | None, has_case: bool, has_facts: bool, at: datetime) -> Verdict:
    """The one verdict rule (the scheduler admits exactly when this says ``missing``)."""
    if has_case:
        return Verdict.IN_DUNNING
    if not has_facts:
        return Verdict.UNKNOWN_ORDER
    if due is None:
        return Verdict.NOT_ELIGIBLE
    if due.at <= at:
        return Verdict.MISSING
    return Verdict.ELIGIBLE_ON


_NEXT_FOR_STATUS = {
    Status.LOCKED: "Der Vendor startet das Mahnverfahren (Play) im Inkasso-Beta-Tab.",
    Status.RUNNING: "Die Übergabe an Diagonal läuft; Diagonals Bestätigung steht aus.",
    Status.FAILED: "Support: Fehler hinter dem '!' beheben, dann 'Laufend' und "
    "'Ans Inkasso übergeben'.",
    Status.HANDED_OVER: "Der Fall ist bei Diagonal.",
    Status.BLOCKED: "Pausiert: Support hebt die Blockierung auf, wenn der Vendor entschieden hat.",
    Status.CANCELLED: "Keiner: der Fall ist gekündigt.",
    Status.PAID: "Keiner: der Fall ist bezahlt.",
}


def explain(
    *,
    order_id: str,
    timeline: Timeline,
    facts: OrderFacts | None,
    case: CaseInfo | None,
    at: datetime,
    ctx: Context,
) -> Explanation:
    """Why is this order (not) in dunning at ``at``? Pure: the caller loads the facts
    known at ``at`` and the case as of ``at``."""
    ruleset = timeline.active_at(at) or timeline.rulesets[0]
    result = evaluate(ruleset, facts, at, ctx) if facts is not None else None
    due = due_of(timeline, facts, ctx) if facts is not None else None
    verdict = verdict_of(due, case is not None, facts is not None, at)
    blocking: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if result is not None:
        blocking = tuple(
            (g.id, tuple(c.id for c in g.blocking)) for g in result.groups if g.blocking
        )
    if verdict is Verdict.IN_DUNNING:
        assert case is not None
        a = case.admission
        how = {
            AdmittedBy.SCHEDULER: f"automatisch (Regelwerk {a.ruleset_version}, Gruppe {a.group})",
            AdmittedBy.MANUAL: f"von Hand durch {a.actor.id}: {a.reason}",
            AdmittedBy.INTAKE: f"direkt übermittelt durch {a.actor.role.value}:{a.actor.id}",
        }[a.by]
        summary = (
            f"Im Mahnwesen seit {a.at.isoformat()}, Status {case.status.value} "
            f"({case.status.label}); aufgenommen {how}."
        )
        step = NextStep(_NEXT_FOR_STATUS[case.status], None)
    elif verdict is Verdict.UNKNOWN_ORDER:
        summary = (
            "Zu dieser Bestell-ID liegen keine Fakten vor: die Plattform hat sie nicht gemeldet."
        )
        step = NextStep(
            "Prüfen, ob die Bestell-ID stimmt; sonst die Meldung der Plattform prüfen.", None
        )
    elif verdict is Verdict.NOT_ELIGIBLE:
        red = "; ".join(f"{g}: {', '.join(ids)}" for g, ids in blocking)
        summary = f"Nicht im Mahnwesen: in jeder Gruppe ist etwas rot ({red})."
        step = NextStep(
            "Keine automatische Aufnahme. Rote Bedingungen beheben (neue Fakten melden) "
            "oder von Hand aufnehmen (mit Begründung).",
            None,
        )
    elif verdict is Verdict.ELIGIBLE_ON:
        assert due is not None
        summary = (
            f"Noch nicht fällig: erscheint am {berlin_date(due.at).isoformat()} im Mahnwesen "
            f"(Gruppe {due.group}, Regelwerk {due.ruleset_version})."
        )
        step = NextStep("Automatische Aufnahme ins Mahnwesen (Status Gesperrt).", due.at)
    else:
        assert due is not None
        summary = (
            f"FEHLER: Gruppe {due.group} ist erfüllt und fällig seit {due.at.isoformat()}, "
            "aber es gibt keinen Fall. Bitte ein Ticket erstellen (Jira)."
        )
        step = NextStep(
            "Ticket melden; der Planer (admit-due) sollte die Bestellung beim nächsten Lauf "
            "aufnehmen.",
            at,
        )
    return Explanation(
        order_id=order_id,
        at=at,
        verdict=verdict,
        summary=summary,
        ruleset=ruleset,
        result=result,
        due=due,
        next_step=step,
        case=case,
        blocking=blocking if verdict is Verdict.NOT_ELIGIBLE else (),
    )


def red_conditions(ruleset: RuleSet, facts: OrderFacts, now: datetime, ctx: Context) -> list[str]:
    """``group.condition`` ids that are red at ``now`` (for a manual admission's record)."""
    result = evaluate(ruleset, facts, now, ctx)
    if any(g.passed for g in result.groups):
        return []
    return [f"{g.id}.{c.id}" for g in result.groups for c in g.red]
