"""DunningCases: loads a case, lets the aggregate decide, saves; retries on conflict."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from debtcases.adapters.bulk import select_events_of_many
from debtcases.commands.transcodings import register_domain_transcodings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.admission import Admission as Admission  # re-exported for callers
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.debtor import DEFAULT_SERVED_COUNTRIES, Debtor
from debtcases.domain.errors import (
    CaseNotFound,
    ConcurrentModification,
    NotPermitted,
    OrderConflict,
)
from debtcases.domain.history import (
    Change,
    HistoryEntry,
    changes_between,
    history_entries,
    state_as_of,
)
from debtcases.domain.holds import Hold
from debtcases.domain.rules import Command, may_issue
from debtcases.domain.state import CaseState

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Outcome:
    """A command's result: the case after it, whether it was new, and the position of the
    last stored event in the notification log (for read-your-writes on the views)."""

    case: DunningCase
    created: bool = False
    position: int | None = None
    changed: bool = True


@dataclass(frozen=True)
class AckInput:
    """One of Diagonal's acknowledgements as it arrived (``kind``: received, rejected,
    closed)."""

    order_id: str
    kind: str
    message_id: str
    errors: Sequence[str] = ()


AckResultKind = Literal["applied", "duplicate", "unknown_order"]


@dataclass(frozen=True)
class AckResult:
    """What became of one ack of a batch: ``applied`` (an event was stored: the ack's
    effect, or ``AckRecorded`` when it no longer fits the case), ``duplicate`` (its
    message_id was applied before; nothing stored) or ``unknown_order`` (no such case;
    nothing stored)."""

    ack: AckInput
    result: AckResultKind

    @property
    def changed(self) -> bool:
        return self.result == "applied"


class DunningCases(Application[UUID]):
    """Every unpaid order's dunning case, as an event stream."""

    name = "DunningCases"  # table prefix: dunningcases_events

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Clock,
        served_countries: Iterable[str] = DEFAULT_SERVED_COUNTRIES,
        max_attempts: int = 5,
        reopen_window: timedelta = timedelta(days=30),
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.served_countries = frozenset(c.upper() for c in served_countries)
        self.max_attempts = max_attempts
        self.reopen_window = reopen_window

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    # ------------------------------------------------------------ helpers

    def _load(self, order_id: str) -> DunningCase:
        try:
            case: DunningCase = self.repository.get(case_id_for(order_id))
        except AggregateNotFoundError:
            raise CaseNotFound(order_id) from None
        return case

    def _load_many(self, order_ids: Iterable[str]) -> dict[str, DunningCase | None]:
        """Each order's case (None: no case), for a whole batch in one query (per 10,000
        orders), instead of one query per case: what the repository would give one by one
        (no snapshots, no cache here), replayed from the same stored events."""
        case_ids = {case_id_for(o): o for o in order_ids}
        stored = select_events_of_many(self.recorder, case_ids)
        cases: dict[str, DunningCase | None] = {}
        for case_id, order_id in case_ids.items():
            events = stored.get(case_id)
            cases[order_id] = (
                project_aggregate(None, map(self.mapper.to_domain_event, events))
                if events
                else None
            )
        return cases

    def _load_visible(self, order_id: str, actor: Actor) -> DunningCase:
        """The case, if the actor may see it. A vendor's ownership is checked on the case's
        first stored event *before* the case is loaded: another vendor's order then costs
        what an unknown one costs (one indexed read of at most one row), so the time of
        the 404 does not tell that the order exists."""
        if actor.role is Role.VENDOR:
            first = self.recorder.select_events(case_id_for(order_id), limit=1)
            owner = (
                getattr(self.mapper.to_domain_event(first[0]), "user_id", None) if first else None
            )
            if owner is None or owner != actor.vendor_id:
                raise CaseNotFound(order_id)
        case = self._load(order_id)
        case.ensure_visible_to(actor)
        return case

    def _save(self, *cases: DunningCase) -> int | None:
        # The cases' pending events, not the cases: the library checks each object it is
        # given against two runtime protocols (~21 us a case on Python 3.11, 10 % of the
        # intake's time), an event against one. The aggregates themselves would only feed
        # snapshots and the repository cache, which this application does not use.
        recordings = self.save(*[event for case in cases for event in case.collect_events()])
        ids = [r.notification.id for r in recordings if r.notification is not None]
        return max(ids) if ids else None

    def _change(
        self,
        order_id: str,
        actor: Actor,
        command: Command | None,
        decide: Callable[[DunningCase, datetime], Any],
        now: datetime | None,
    ) -> Outcome:
        if command is not None and not may_issue(actor.role, command):
            raise NotPermitted(actor.role.value, command.value)
        for attempt in range(1, self.max_attempts + 1):
            case = self._load_visible(order_id, actor)
            decide(case, now or self.clock())
            if not case.pending_events:
                return Outcome(case, changed=False)
            try:
                position = self._save(case)
            except IntegrityError:
                # Someone saved this case in between: reload and decide again.
                time.sleep(0.002 * attempt)
                continue
            return Outcome(case, position=position)
        raise ConcurrentModification(order_id, self.max_attempts)

    # ----------------------------------------------------------- commands

    def admit(self, admission: Admission, actor: Actor, now: datetime | None = None) -> Outcome:
        """Admit an order into dunning: a new case in LOCKED.

        Rules: only system and support admit; one order has one case for ever; the same
        order again with the same data returns the existing case unchanged; with different
        data it is an ``order_conflict``.
        """
        return self.admit_many([admission], actor, now)[0]

    def admit_many(
        self, admissions: Sequence[Admission], actor: Actor, now: datetime | None = None
    ) -> list[Outcome]:
        """Admit several orders in one transaction (all or none), e.g. a batch from intake
        or a CSV import. Same rules as ``admit``."""
        if not may_issue(actor.role, Command.ADMIT):
            raise NotPermitted(actor.role.value, Command.ADMIT.value)
        seen: set[str] = set()
        for a in admissions:
            if a.order_id in seen:
                raise OrderConflict(a.order_id, ["appears twice in one batch"])
            seen.add(a.order_id)
        for _attempt in range(1, self.max_attempts + 1):
            at = now or self.clock()
            outcomes: list[Outcome] = []
            new_cases: list[DunningCase] = []
            loaded = self._load_many(a.order_id for a in admissions)
            for a in admissions:
                existing = loaded[a.order_id]
                if existing is None:
                    case = DunningCase.admit(
                        order_id=a.order_id,
                        user_id=a.user_id,
                        amount=a.amount,
                        currency=a.currency,
                        debtor=a.debtor,
                        actor=actor,
                        reason=a.reason,
                        now=at,
                    )
                    new_cases.append(case)
                    outcomes.append(Outcome(case, created=True))
                    continue
                differing = existing.differing_admission_fields(
                    user_id=a.user_id, amount=a.amount, currency=a.currency, debtor=a.debtor
                )
                if differing:
                    raise OrderConflict(a.order_id, differing)
                outcomes.append(Outcome(existing, created=False, changed=False))
            if not new_cases:
                return outcomes
            try:
                position = self._save(*new_cases)
            except IntegrityError:
                continue  # admitted concurrently: compare again
            return [
                Outcome(o.case, o.created, position if o.created else None, o.changed)
                for o in outcomes
            ]
        raise ConcurrentModification(admissions[0].order_id, self.max_attempts)

    def start_dunning(
        self, order_id: str, actor: Actor, reason: str = "", now: datetime | None = None
    ) -> Outcome:
        """The Play button (vendor, own LOCKED case) and support's first repair step
        (LOCKED or FAILED -> RUNNING). Handover data failing Diagonal's checks gives FAILED
        with the errors instead."""
        return self._change(
            order_id,
            actor,
            Command.START,
            lambda c, t: c.start_dunning(actor, t, reason, self.served_countries),
            now,
        )

    def hand_over(
        self, order_id: str, actor: Actor, reason: str, now: datetime | None = None
    ) -> Outcome:
        """Support's manual "Ans Inkasso übergeben": RUNNING -> HANDED_OVER, validated like
        start (failing data gives FAILED with the errors)."""
        return self._change(
            order_id,
            actor,
            Command.HAND_OVER,
            lambda c, t: c.hand_over(actor, t, reason, self.served_countries),
            now,
        )

    def cancel(
        self, order_id: str, actor: Actor, reason: str, now: datetime | None = None
    ) -> Outcome:
        """The order was cancelled or voided: -> CANCELLED (vendor: own, not while
        blocked; support: any open case). Diagonal is told to withdraw if it has the case."""
        return self._change(
            order_id, actor, Command.CANCEL, lambda c, t: c.cancel(actor, t, reason), now
        )

    def block(
        self,
        order_id: str,
        actor: Actor,
        reason: str,
        now: datetime | None = None,
        hold: Hold | None = None,
    ) -> Outcome:
        """Support pauses a case: -> BLOCKED, remembering the status before. The vendor
        keeps seeing the old status and cannot act (and never sees the hold).

        Rules: the hold has a reason code (default `other`); `until` (a day, Europe/Berlin)
        ends it by itself at 00:00 of that day; `promise_to_pay` needs the promised amount
        (> 0) and date and ends by itself at 00:00 of the day after that date (the promise
        is then broken), without `until`; the end must lie ahead (else `invalid_hold`).
        Blocking a blocked case again with the same terms changes nothing; with other
        terms it is refused (unblock first)."""
        return self._change(
            order_id, actor, Command.BLOCK, lambda c, t: c.block(actor, t, reason, hold), now
        )

    def expire_hold(self, order_id: str, actor: Actor, now: datetime | None = None) -> Outcome:
        """End the case's hold if its end has come at ``now`` (``HoldExpired``: back to the
        status before the block; a promise to pay not kept says so). Nothing otherwise:
        not blocked, no end, or not yet. System only (the hold scheduler)."""
        return self._change(
            order_id, actor, Command.EXPIRE_HOLD, lambda c, t: c.expire_hold(actor, t), now
        )

    def reopen(
        self, order_id: str, actor: Actor, reason: str, now: datetime | None = None
    ) -> Outcome:
        """Support corrects a mistaken PAID or CANCELLED (``Reopened``): back to the status
        before it, as a new event; nothing is deleted.

        Rules: support only; a reason is required; only within the correction window
        after the PAID / CANCELLED event (setting, default 30 days; else
        `reopen_window_closed`); an open case is left as it is (`changed: false`). If
        Diagonal was told of the withdrawal or payment, it is told of the correction
        (`reopen`)."""
        return self._change(
            order_id,
            actor,
            Command.REOPEN,
            lambda c, t: c.reopen(actor, t, reason, self.reopen_window),
            now,
        )

    def unblock(
        self, order_id: str, actor: Actor, reason: str, now: datetime | None = None
    ) -> Outcome:
        """Support resumes a blocked case: back to the status before the block."""
        return self._change(
            order_id, actor, Command.UNBLOCK, lambda c, t: c.unblock(actor, t, reason), now
        )

    def mark_paid(
        self,
        order_id: str,
        actor: Actor,
        reason: str,
        reference: str,
        now: datetime | None = None,
    ) -> Outcome:
        """Support records that the debtor paid: -> PAID (support only; final). Diagonal
        is told if it has the case."""
        return self._change(
            order_id,
            actor,
            Command.MARK_PAID,
            lambda c, t: c.mark_paid(actor, t, reason, reference),
            now,
        )

    def correct_address(
        self,
        order_id: str,
        actor: Actor,
        debtor: Debtor,
        reason: str,
        now: datetime | None = None,
    ) -> Outcome:
        """Support enters the debtor's right address (AddressCorrected). A FAILED case's
        errors are re-checked; the status stays, so the two-step repair follows."""
        return self._change(
            order_id,
            actor,
            Command.CORRECT_ADDRESS,
            lambda c, t: c.correct_address(actor, t, debtor, reason, self.served_countries),
            now,
        )

    def apply_ack(
        self,
        order_id: str,
        *,
        kind: str,
        message_id: str,
        errors: list[str] | None = None,
        now: datetime | None = None,
    ) -> Outcome:
        """Apply one of Diagonal's acknowledgements exactly once (de-duplicated by
        message_id inside the case's own stream). Never refuses a known case."""
        actor = Actor.diagonal(message_id)
        return self._change(
            order_id,
            actor,
            None,
            lambda c, t: c.apply_ack(kind=kind, message_id=message_id, errors=errors or [], now=t),
            now,
        )

    def apply_acks(self, acks: Sequence[AckInput], now: datetime | None = None) -> list[AckResult]:
        """Apply a batch of Diagonal's acknowledgements in one transaction (e.g. one Kafka
        poll); one result per ack, in the same order.

        Rules: each ack has the effect ``apply_ack`` gives it, as if the acks were applied
        one by one in the order given (several acks for one case build on each other); a
        message_id already in the case's stream, earlier in the batch included, is a
        ``duplicate`` and stores nothing; an ack for an unknown order is reported as
        ``unknown_order`` and does not stop the others. Every case is loaded once and all
        changed cases are saved together, all or none. If one of them was changed
        meanwhile, the whole batch is reloaded and decided again (``max_attempts`` times),
        then applied one ack at a time with ``apply_ack``'s own retries (which end in
        ``ConcurrentModification``; the acks applied until then stay applied, so calling
        again with the same batch is safe).
        """
        for attempt in range(1, self.max_attempts + 1):
            results, changed = self._decide_acks(acks, now or self.clock())
            if not changed:
                return results
            try:
                self._save(*changed)
            except IntegrityError:
                # Someone saved one of these cases in between: reload and decide again.
                time.sleep(0.002 * attempt)
                continue
            return results
        return [self._apply_ack_alone(ack, now) for ack in acks]

    def _decide_acks(
        self, acks: Sequence[AckInput], at: datetime
    ) -> tuple[list[AckResult], list[DunningCase]]:
        cases = self._load_many(ack.order_id for ack in acks)
        results: list[AckResult] = []
        for ack in acks:
            case = cases[ack.order_id]
            if case is None:
                results.append(AckResult(ack, "unknown_order"))
                continue
            applied = case.apply_ack(
                kind=ack.kind, message_id=ack.message_id, errors=list(ack.errors), now=at
            )
            results.append(AckResult(ack, "applied" if applied else "duplicate"))
        changed = [c for c in cases.values() if c is not None and c.pending_events]
        return results, changed

    def _apply_ack_alone(self, ack: AckInput, now: datetime | None) -> AckResult:
        try:
            outcome = self.apply_ack(
                ack.order_id,
                kind=ack.kind,
                message_id=ack.message_id,
                errors=list(ack.errors),
                now=now,
            )
        except CaseNotFound:
            return AckResult(ack, "unknown_order")
        return AckResult(ack, "applied" if outcome.changed else "duplicate")

    # ------------------------------------------------------------ queries

    def get_case(self, order_id: str, actor: Actor) -> DunningCase:
        """One case. Rules: support sees every case, a vendor only their own (another
        vendor's case is 'not found'); integrations do not read cases."""
        if actor.role not in (Role.SUPPORT, Role.VENDOR):
            raise NotPermitted(actor.role.value, "read cases")
        return self._load_visible(order_id, actor)

    def find_cases(self, order_ids: Sequence[str], actor: Actor) -> dict[str, DunningCase]:
        """The cases of those orders that have one the actor may see (same rules as
        ``get_case``), read together: one query per 10,000 orders."""
        if actor.role not in (Role.SUPPORT, Role.VENDOR):
            raise NotPermitted(actor.role.value, "read cases")
        found: dict[str, DunningCase] = {}
        for order_id, case in self._load_many(order_ids).items():
            if case is None:
                continue
            try:
                case.ensure_visible_to(actor)
            except CaseNotFound:  # another vendor's case: as if there were none
                continue
            found[order_id] = case
        return found

    def history(self, order_id: str, actor: Actor) -> list[HistoryEntry]:
        """Every change to the case, oldest first, replayed from its stream. Vendors get
        their view: no support-only entries, no BLOCKED status."""
        case = self.get_case(order_id, actor)
        return history_entries(self.events.get(case.id), actor.role)

    def case_as_of(self, order_id: str, actor: Actor, at: datetime) -> CaseState:
        """The case as it was at ``at``: its stream replayed up to that moment through the
        one fold. Rules: who may read the case now may read it as it was (support: every
        case; a vendor: their own, as they always see it); a case admitted after ``at``
        was not there yet (not found)."""
        case = self.get_case(order_id, actor)
        state = state_as_of(self.events.get(case.id), at)
        if state is None:
            raise CaseNotFound(order_id)
        return state

    def changes(
        self, order_id: str, actor: Actor, start: datetime | None, end: datetime
    ) -> tuple[CaseState | None, CaseState | None, list[Change]]:
        """What changed on the case between ``start`` (None: since it was admitted) and
        ``end``: the case at each moment and every change in between (status, address,
        amount, hold), with who and why. Rules: as ``history``; vendors get their view
        (no support-only changes, no holds, never BLOCKED)."""
        case = self.get_case(order_id, actor)
        return changes_between(self.events.get(case.id), actor.role, start, end)

    def has_case(self, order_id: str) -> bool:
        try:
            self._load(order_id)
        except CaseNotFound:
            return False
        return True
