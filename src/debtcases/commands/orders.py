"""Orders: the platform's facts of unpaid orders (``OrderFactsApp``, a second event-sourced
application), the explainer ("why is this order not in dunning?"), the scheduler that admits
due orders (``admit_due``) and support's admission by hand.

Every admission goes through ``DunningCases.admit_many`` (one order, one case, for ever), so
an order is admitted once however many schedulers run. The explainer and the scheduler ask
the same engine (``domain/eligibility.py``) the same question: the due date of the facts
known at a moment; ``verdict_of`` is the one rule both follow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from debtcases.adapters.bulk import select_events_of_many
from debtcases.adapters.threads import LoopWorker
from debtcases.commands.app import Admission, DunningCases
from debtcases.commands.transcodings import register_domain_transcodings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.debtor import DEFAULT_SERVED_COUNTRIES
from debtcases.domain.eligibility import Due, due_of
from debtcases.domain.eligibility_checks import Context
from debtcases.domain.eligibility_ruleset import RuleSet, RuleSetError, Timeline, parse_ruleset
from debtcases.domain.eligibility_verdict import (
    CaseInfo,
    Explanation,
    Verdict,
    admission_of,
    explain,
    manual_reason,
    red_conditions,
    scheduler_reason,
)
from debtcases.domain.errors import ConcurrentModification, NotPermitted, OrderConflict
from debtcases.domain.history import state_as_of, stream_up_to
from debtcases.domain.order_facts import (
    FactsVersion,
    ManualAdmission,
    OrderFacts,
    OrderFactsAggregate,
    facts_id_for,
)

Clock = Callable[[], datetime]
SCHEDULER = Actor.system("scheduler")

# ================================================================ rule files


def load_ruleset_file(path: str | Path) -> RuleSet:
    """Read and validate one rule file; ``RuleSetError`` names the file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleSetError(str(p), None, f"cannot be read: {exc}") from None
    return parse_ruleset(text, str(p))


def default_ruleset() -> RuleSet:
    """The shipped default (``domain/rulesets/default.toml``)."""
    ref = resources.files("debtcases.domain").joinpath("rulesets/default.toml")
    return parse_ruleset(ref.read_text(encoding="utf-8"), "debtcases/domain/rulesets/default.toml")


def load_timeline(paths: Iterable[str | Path] = ()) -> Timeline:
    """The configured rule files (each a version with its ``active_from``), or the default."""
    given = list(paths)
    return Timeline.of([load_ruleset_file(p) for p in given] if given else [default_ruleset()])


# ================================================================ the facts


class UnknownOrder(LookupError):
    """No facts (and no case) for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"No facts for order {order_id!r}.")
        self.order_id = order_id


@dataclass(frozen=True)
class Reported:
    """The result of one snapshot of an intake batch."""

    order_id: str
    facts_version: int
    changed: bool
    position: int | None = None


class OrderFactsApp(Application[UUID]):
    """Every unpaid order's facts as reported by the platform, each version kept."""

    name = "OrderFacts"  # table prefix: orderfacts_events

    def __init__(self, env: dict[str, str] | None = None, *, max_attempts: int = 5) -> None:
        super().__init__(env)
        self.max_attempts = max_attempts

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def get(self, order_id: str) -> OrderFactsAggregate | None:
        try:
            agg: OrderFactsAggregate = self.repository.get(facts_id_for(order_id))
        except AggregateNotFoundError:
            return None
        return agg

    def get_many(self, order_ids: Iterable[str]) -> dict[str, OrderFactsAggregate | None]:
        """Each order's facts (None: no facts), what ``get`` gives one by one, for a whole
        batch in one query (per 10,000 orders; ``adapters/bulk.py``) instead of one query,
        and the pool's pre-ping, per order: the same stored events folded by the same
        ``mutate`` calls (with the library's checks of each event's id and version), without
        its runtime protocol check of every event. With snapshots or an aggregate cache
        configured (this application uses neither) it goes the library's way, order by
        order."""
        ids = {order_id: facts_id_for(order_id) for order_id in order_ids}
        if self.snapshots is not None or self.repository.cache is not None:
            return {order_id: self.get(order_id) for order_id in ids}
        stored = select_events_of_many(self.recorder, ids.values())
        to_domain_event = self.mapper.to_domain_event
        found: dict[str, OrderFactsAggregate | None] = {}
        for order_id, facts_id in ids.items():
            agg: OrderFactsAggregate | None = None
            for event in stored.get(facts_id, ()):
                agg = cast(OrderFactsAggregate.Event, to_domain_event(event)).mutate(agg)
            found[order_id] = agg
        return found

    def report(self, batch: Sequence[OrderFacts], actor: Actor, now: datetime) -> list[Reported]:
        """Record a batch of snapshots in one transaction (all or none).

        Rules: only the system (the platform's intake) reports facts; an order appears at
        most once per batch; a snapshot equal to the order's latest records nothing
        (``changed`` false); every other one is a new version, never overwriting."""
        if actor.role is not Role.SYSTEM:
            raise NotPermitted(actor.role.value, "report order facts")
        seen: set[str] = set()
        for f in batch:
            if f.order_id in seen:
                raise OrderConflict(f.order_id, ["appears twice in one batch"])
            seen.add(f.order_id)
        for attempt in range(1, self.max_attempts + 1):
            changed: list[OrderFactsAggregate] = []
            results: list[tuple[OrderFactsAggregate, bool]] = []
            for f in batch:
                agg = self.get(f.order_id)
                if agg is None:
                    agg = OrderFactsAggregate.report_first(f, actor, now)
                    did = True
                else:
                    did = agg.report(f, actor, now)
                if did:
                    changed.append(agg)
                results.append((agg, did))
            position = None
            if changed:
                try:
                    recordings = self.save(*changed)
                except IntegrityError:
                    time.sleep(0.002 * attempt)
                    continue
                ids = [r.notification.id for r in recordings if r.notification is not None]
                position = max(ids) if ids else None
            return [
                Reported(a.order_id, len(a.history.versions), did, position) for a, did in results
            ]
        raise ConcurrentModification(batch[0].order_id if batch else "", self.max_attempts)


# ============================================================== the due index


class DueIndex(Protocol):
    """The orders with a due date, kept by a processor on the facts' log (projections/):
    so the scheduler does not load every order each round."""

    def catch_up(self) -> None:
        """Process every fact recorded so far (the scheduler's view is then current)."""
        ...

    def due_orders(self, now: datetime, limit: int) -> list[str]:
        """Order ids due at ``now`` (due date <= now) not yet marked done, due date first."""
        ...

    def mark_done(self, order_ids: Sequence[str], at: datetime) -> None:
        """These orders have a case now: no need to look at them again."""
        ...

    def manual_orders(self) -> list[str]:
        """Order ids support admitted by hand."""
        ...


@dataclass
class AdmitDueReport:
    """One scheduler round: what it looked at and what it did."""

    now: datetime
    looked_at: int = 0
    admitted: list[str] = field(default_factory=list)  # cases created by this round
    existing: int = 0  # had a case already (another scheduler, a manual or direct admission)
    not_due: int = 0  # the index said due, the facts no longer do


# ================================================================ the service


class Orders:
    """Facts intake, the explainer, the scheduler and manual admission."""

    def __init__(
        self,
        facts: OrderFactsApp,
        cases: DunningCases,
        timeline: Timeline,
        *,
        clock: Clock,
        served_countries: Iterable[str] = DEFAULT_SERVED_COUNTRIES,
        due_index: DueIndex | None = None,
        batch_size: int = 200,
    ) -> None:
        self.facts = facts
        self.cases = cases
        self.timeline = timeline
        self.clock = clock
        self.ctx = Context(frozenset(c.upper() for c in served_countries))
        self.due_index = due_index
        self.batch_size = batch_size
        self._round = threading.Lock()

    # ------------------------------------------------------------- intake

    def report(
        self, batch: Sequence[OrderFacts], actor: Actor, now: datetime | None = None
    ) -> list[Reported]:
        return self.facts.report(batch, actor, now or self.clock())

    def history(
        self, order_id: str, actor: Actor
    ) -> tuple[list[FactsVersion], ManualAdmission | None]:
        """Every version of the order's facts, oldest first, and the manual admission (if
        any). Support only."""
        if actor.role is not Role.SUPPORT:
            raise NotPermitted(actor.role.value, "read order facts")
        agg = self.facts.get(order_id)
        if agg is None:
            raise UnknownOrder(order_id)
        return list(agg.history.versions), agg.history.manual

    # ---------------------------------------------------------- explainer

    def case_as_of(self, order_id: str, at: datetime) -> CaseInfo | None:
        """The order's case as it was at ``at`` (None: no case yet), replayed with the one
        fold (``evolve``) from the case's own stream."""
        stream = stream_up_to(self.cases.events.get(case_id_for(order_id)), at)
        if not stream:
            return None
        state, first = state_as_of(stream, at), cast(DunningCase.Event, stream[0])
        if state is None:
            return None
        return CaseInfo(state.status, admission_of(first.reason, first.actor, first.timestamp))

    def facts_as_of(self, order_id: str, at: datetime) -> FactsVersion | None:
        agg = self.facts.get(order_id)
        return agg.as_of(at) if agg is not None else None

    def facts_as_of_many(
        self, order_ids: Iterable[str], at: datetime
    ) -> dict[str, FactsVersion | None]:
        """``facts_as_of`` of each order, read in one query."""
        return {
            order_id: agg.as_of(at) if agg is not None else None
            for order_id, agg in self.facts.get_many(order_ids).items()
        }

    def explain(
        self, order_id: str, actor: Actor, at: datetime | None = None
    ) -> tuple[Explanation, FactsVersion | None]:
        """Why is this order (not) in dunning at ``at`` (default now)? Support only. Uses
        the facts known at ``at`` and the case as it was then; names the facts version and
        the rule-set version it used."""
        if actor.role is not Role.SUPPORT:
            raise NotPermitted(actor.role.value, "explain eligibility")
        moment = at or self.clock()
        version = self.facts_as_of(order_id, moment)
        case = self.case_as_of(order_id, moment)
        explanation = explain(
            order_id=order_id,
            timeline=self.timeline,
            facts=version.facts if version else None,
            case=case,
            at=moment,
            ctx=self.ctx,
        )
        return explanation, version

    def due(self, facts: OrderFacts) -> Due | None:
        return due_of(self.timeline, facts, self.ctx)

    # ---------------------------------------------------------- scheduler

    def admit_due(self, now: datetime | None = None) -> AdmitDueReport:
        """Admit every order whose due date has passed (LOCKED, with the rule-set version
        and group in the ``Locked`` reason).

        Rules: the facts known at ``now`` decide (the same due date the explainer shows);
        the case is created through ``DunningCases.admit_many`` (one order, one case), so a
        second round, or a second scheduler at the same time, admits nothing twice;
        deterministic for a given ``now``; reads only the due orders (the due index)."""
        if self.due_index is None:
            raise RuntimeError("admit_due needs the due index (bootstrap wires it)")
        at = now or self.clock()
        report = AdmitDueReport(at)
        with self._round:
            self.due_index.catch_up()
            candidates = self.due_index.due_orders(at, 1_000_000)
            for i in range(0, len(candidates), self.batch_size):
                self._admit_chunk(candidates[i : i + self.batch_size], at, report)
        return report

    def _admit_chunk(self, order_ids: Sequence[str], at: datetime, report: AdmitDueReport) -> None:
        assert self.due_index is not None
        admissions: list[Admission] = []
        done: list[str] = []
        # The chunk's facts in one query (one query per order was 2/3 of a round's time).
        versions = self.facts_as_of_many(order_ids, at)
        for order_id in order_ids:
            report.looked_at += 1
            version = versions[order_id]
            due = self.due(version.facts) if version else None
            if version is None or due is None or due.at > at:
                report.not_due += 1
                continue
            f = version.facts
            admissions.append(
                Admission(
                    f.order_id, f.user_id, f.amount, f.currency, f.debtor, scheduler_reason(due)
                )
            )
        try:
            outcomes = self.cases.admit_many(admissions, SCHEDULER, at)
        except OrderConflict:
            # One of them has a case with other data (admitted directly): one at a time.
            outcomes = []
            for a in admissions:
                try:
                    outcomes.extend(self.cases.admit_many([a], SCHEDULER, at))
                except OrderConflict:
                    report.existing += 1
                    done.append(a.order_id)
        for o in outcomes:
            done.append(o.case.order_id)
            if o.created:
                report.admitted.append(o.case.order_id)
            else:
                report.existing += 1
        self.due_index.mark_done(done, at)

    # ------------------------------------------------------ manual admission

    def admit_by_hand(
        self, order_id: str, actor: Actor, reason: str, now: datetime | None = None
    ) -> tuple[bool, Explanation]:
        """Support admits an order into dunning by hand, also with red conditions.

        Rules: support only; a non-empty reason is required; the order's facts must be
        known; the ``Locked`` event names support as the actor and carries the rule-set
        version, the red conditions and the reason (history and explainer show: by hand,
        by whom, why); an order that has a case already is left as it is (False)."""
        if actor.role is not Role.SUPPORT:
            raise NotPermitted(actor.role.value, "admit by hand")
        why = reason.strip()
        if not why:
            raise ValueError("a reason is required")
        at = now or self.clock()
        agg = self.facts.get(order_id)
        version = agg.as_of(at) if agg is not None else None
        if agg is None or version is None:
            raise UnknownOrder(order_id)
        f = version.facts
        ruleset = self.timeline.active_at(at) or self.timeline.rulesets[0]
        red = red_conditions(ruleset, f, at, self.ctx)
        created = False
        if self.case_as_of(order_id, at) is None:
            outcome = self.cases.admit(
                Admission(
                    f.order_id,
                    f.user_id,
                    f.amount,
                    f.currency,
                    f.debtor,
                    manual_reason(ruleset.version, red, why),
                ),
                actor,
                at,
            )
            created = outcome.created
        if created:
            # Recorded with the facts too (the support list's `?admitted=manual` filter).
            for attempt in range(1, self.facts.max_attempts + 1):
                agg = self.facts.get(order_id)
                assert agg is not None
                agg.admit_by_hand(actor, at, why, ruleset.version, red)
                try:
                    self.facts.save(agg)
                    break
                except IntegrityError:
                    time.sleep(0.002 * attempt)
            if self.due_index is not None:
                self.due_index.mark_done([order_id], at)
        return created, self.explain(order_id, actor, at)[0]

    def manual_orders(self) -> list[str]:
        if self.due_index is None:
            return []
        self.due_index.catch_up()
        return self.due_index.manual_orders()


class AdmitDueLoop(LoopWorker):
    """`serve`'s periodic scheduler: ``admit_due`` every ``interval`` seconds."""

    name = "admit-due"

    def __init__(self, orders: Orders, interval: float) -> None:
        super().__init__(interval=interval, max_backoff=max(5.0, interval))
        self.orders = orders
        self.last_report: AdmitDueReport | None = None

    def _thread_main(self) -> None:
        # The first round one interval after start (a process restart is no reason to
        # hurry; `debtcases admit-due` runs a round at once).
        if not self._stopping.wait(self.interval):
            self.run_forever()

    def run_once(self) -> int:
        self.last_report = self.orders.admit_due()
        return 0  # always wait the interval: one round admits everything due


__all__ = ["AdmitDueLoop", "OrderFactsApp", "Orders", "UnknownOrder", "Verdict"]
