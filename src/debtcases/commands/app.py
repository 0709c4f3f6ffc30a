"""DunningCases: loads a case, lets the aggregate decide, saves; retries on conflict."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import (
    DomainEventProtocol,
    MutableOrImmutableAggregate,
    OriginatorIDError,
    OriginatorVersionError,
)
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording
from eventsourcing.utils import get_topic

from debtcases.adapters.bulk import select_events_of_many
from debtcases.commands.acks import AckBatches
from debtcases.commands.case_queries import CaseQueries
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
from debtcases.domain.holds import Hold
from debtcases.domain.rules import Command, may_issue
from debtcases.domain.state import evolve
from debtcases.domain.statuses import Status

Clock = Callable[[], datetime]
CASE_TOPIC = get_topic(DunningCase)


class Outcome:
    """A command's result: the case after it, whether it was new, and the position of the
    last stored event in the notification log (for read-your-writes on the views).

    A case admitted by ``admit_many`` is built from its ``Locked`` event only when asked
    for (``case``): a batch from intake or an import only needs the order and User-ID."""

    __slots__ = ("_admitted", "_case", "changed", "created", "position")

    def __init__(
        self,
        case: DunningCase | None,
        created: bool = False,
        position: int | None = None,
        changed: bool = True,
        *,
        admitted: DunningCase.Locked | None = None,
    ) -> None:
        assert case is not None or admitted is not None
        self._case = case
        self._admitted = admitted
        self.created = created
        self.position = position
        self.changed = changed

    @property
    def case(self) -> DunningCase:
        if self._case is None:
            assert self._admitted is not None
            # What DunningCase.admit builds from the same event (the library's _create).
            self._case = cast(DunningCase, self._admitted.mutate(None))
        return self._case

    @property
    def order_id(self) -> str:
        return self._admitted.order_id if self._admitted is not None else self.case.order_id

    @property
    def user_id(self) -> int:
        return self._admitted.user_id if self._admitted is not None else self.case.user_id

    def __repr__(self) -> str:
        return (
            f"Outcome(order_id={self.order_id!r}, created={self.created},"
            f" position={self.position}, changed={self.changed})"
        )


def admission_event(
    case_id: UUID, admission: Admission, actor: Actor, now: datetime
) -> DunningCase.Locked:
    """The one event ``DunningCase.admit`` records for ``admission`` (what its ``_create``
    constructs: the case id, version 1, the aggregate's topic, the admission's fields with
    the currency in upper case), without building the aggregate around it (~15 us a case:
    the fold and the library's checks). tests/unit/test_admission_fast_path.py holds the
    stored events of both equal, byte for byte."""
    # The library makes the event classes dataclasses at run time: mypy sees no fields.
    locked: Any = DunningCase.Locked
    return cast(
        DunningCase.Locked,
        locked(
            originator_id=case_id,
            originator_version=DunningCase.INITIAL_VERSION,
            timestamp=now,
            originator_topic=CASE_TOPIC,
            order_id=admission.order_id,
            user_id=admission.user_id,
            amount=admission.amount,
            currency=admission.currency.upper(),
            debtor=admission.debtor,
            actor=actor,
            reason=admission.reason,
            from_status=None,
            to_status=Status.LOCKED,
        ),
    )


def replay(events: Sequence[DunningCase.Event]) -> DunningCase:
    """The case the library's ``mutate`` calls build from a case's ``events`` (its whole
    stream, in order): the same attributes (id, version, created / modified on, no
    pending events) and the same state, folded by ``evolve`` (what each event's ``apply``
    calls), with the library's checks of each event's originator id and version.

    The library's ``Created.mutate`` resolves the aggregate's topic and filters the
    event's fields against two ``__init__`` signatures for every case (~12 us); here the
    class is known. A first event that is not this application's ``Locked`` goes the
    library's way. tests/unit/test_admission_fast_path.py holds both equal."""
    first = events[0]
    if type(first) is not DunningCase.Locked or first.originator_topic != CASE_TOPIC:
        case: DunningCase | None = None
        for event in events:
            case = cast(DunningCase, event.mutate(case))
        assert case is not None
        return case
    case = DunningCase.__new__(DunningCase)
    case.__base_init__(first.originator_id, first.originator_version, first.timestamp)
    case.__init__()  # type: ignore[misc]  # what the library calls (it does nothing)
    state = evolve(None, first)
    case_id, version, modified_on = first.originator_id, first.originator_version, first.timestamp
    for event in events[1:]:
        if event.originator_id != case_id:
            raise OriginatorIDError(event.originator_id, case_id)
        if event.originator_version != version + 1:
            raise OriginatorVersionError(event.originator_version, version + 1)
        state = evolve(state, event)
        version, modified_on = event.originator_version, event.timestamp
    case.state = state
    case.version = version
    case.modified_on = modified_on
    return case


class DunningCases(CaseQueries, AckBatches, Application[UUID]):
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
        orders), instead of one query per case."""
        return self._load_cases({o: case_id_for(o) for o in order_ids})

    def _load_cases(self, case_ids: Mapping[str, UUID]) -> dict[str, DunningCase | None]:
        """``_load_many`` for orders whose case ids the caller has: what the repository
        would give one by one (no snapshots, no cache here), replayed from the same stored
        events with the same ``mutate`` calls (without the library's runtime protocol check
        of every event, ~10 us each)."""
        stored = select_events_of_many(self.recorder, case_ids.values())
        to_domain_event = self.mapper.to_domain_event
        cases: dict[str, DunningCase | None] = {}
        for order_id, case_id in case_ids.items():
            events = [cast(DunningCase.Event, to_domain_event(e)) for e in stored.get(case_id, ())]
            cases[order_id] = replay(events) if events else None
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

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """The library's ``save`` for a list of this application's events: the same
        ``EventStore.put`` (mapper, recorder, recordings) and the same hooks, without
        checking every event against a runtime protocol (~10 us an event on Python 3.11;
        the class check here costs nanoseconds). Anything else (aggregates, tracking,
        snapshots or an aggregate cache configured) goes the library's way."""
        if (
            kwargs
            or self.snapshots is not None
            or self.repository.cache is not None
            or not all(isinstance(o, DunningCase.Event) for o in objs)
        ):
            return super().save(*objs, **kwargs)
        events = cast(list[DunningCase.Event], list(objs))
        recordings = self.events.put(events)
        self._notify(recordings)
        self.notify(events)  # type: ignore[arg-type]  # the library's deprecated hook
        return recordings

    def _save(self, *cases: DunningCase) -> int | None:
        # The cases' pending events, not the cases: the library checks each object it is
        # given against two runtime protocols (~21 us a case on Python 3.11, 10 % of the
        # intake's time). The aggregates themselves would only feed snapshots and the
        # repository cache, which this application does not use.
        events = [event for case in cases for event in case.collect_events()]
        return self._save_events(cast(list[DunningCase.Event], events))

    def _save_events(self, events: Sequence[DunningCase.Event]) -> int | None:
        recordings = self.save(*events)
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
        # One uuid5 per order, for the read and the new case's id.
        case_ids = {a.order_id: case_id_for(a.order_id) for a in admissions}
        for _attempt in range(1, self.max_attempts + 1):
            at = now or self.clock()
            existing_cases: dict[int, DunningCase] = {}
            new_events: list[DunningCase.Locked] = []
            loaded = self._load_cases(case_ids)
            for i, a in enumerate(admissions):
                existing = loaded[a.order_id]
                if existing is None:
                    # The new case's one event, as DunningCase.admit would record it.
                    new_events.append(admission_event(case_ids[a.order_id], a, actor, at))
                    continue
                differing = existing.differing_admission_fields(
                    user_id=a.user_id, amount=a.amount, currency=a.currency, debtor=a.debtor
                )
                if differing:
                    raise OrderConflict(a.order_id, differing)
                existing_cases[i] = existing
            position = None
            if new_events:
                try:
                    position = self._save_events(new_events)
                except IntegrityError:
                    continue  # admitted concurrently: compare again
            created = iter(new_events)
            return [
                Outcome(existing_cases[i], created=False, changed=False)
                if i in existing_cases
                else Outcome(None, created=True, position=position, admitted=next(created))
                for i in range(len(admissions))
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
