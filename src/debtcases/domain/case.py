"""The DunningCase aggregate: one order's dunning, for its whole life, as events.

State changes only by applying events (so replay and live commands run the same code);
decisions take the actor and ``now`` as arguments and check the transition table.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from hashlib import sha1
from typing import Any
from uuid import NAMESPACE_URL, UUID, SafeUUID, uuid5

from eventsourcing.domain import Aggregate

from debtcases.domain.actors import Actor, Role
from debtcases.domain.case_acks import AckDecisions
from debtcases.domain.case_handover import HandoverDecisions
from debtcases.domain.case_holds import HoldDecisions
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import CaseNotFound, InvalidTransition, NotPermitted
from debtcases.domain.holds import Hold
from debtcases.domain.rules import TARGET, Command, allowed_from, already_there, may_issue
from debtcases.domain.state import CaseState, evolve
from debtcases.domain.statuses import Status

# Case ids are derived from order ids, so an order can only ever have one case.
CASE_NAMESPACE = uuid5(NAMESPACE_URL, "https://debtcases.example/orders")


_NAMESPACE_BYTES = CASE_NAMESPACE.bytes
# uuid5's version and variant bits, as ``UUID(bytes=..., version=5)`` sets them.
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (5 << 76)


def case_id_for(order_id: str) -> UUID:
    """``uuid5(CASE_NAMESPACE, order_id)``, the same UUID in ~1.3 us instead of ~2.2 (its
    per-call import and ``UUID.__init__``'s checks; one per ack and per admission)."""
    digest = sha1(_NAMESPACE_BYTES + order_id.encode("utf-8"), usedforsecurity=False).digest()
    case_id = object.__new__(UUID)
    object.__setattr__(case_id, "int", int.from_bytes(digest[:16]) & _CLEAR | _SET)
    object.__setattr__(case_id, "is_safe", SafeUUID.unknown)
    return case_id


# The library's events are frozen dataclasses whose first fields are these three.
_COMMON_FIELDS = ("originator_id", "originator_version", "timestamp")
_OWN_FIELDS: dict[type[Any], tuple[tuple[str, ...], frozenset[str]] | None] = {}


def _own_fields(event_class: type[Any]) -> tuple[tuple[str, ...], frozenset[str]] | None:
    """An event class's own fields after the three common ones, in ``__init__``'s order
    (and as a set), or None for a class ``DunningCase._trigger`` leaves to the library
    (not a plain dataclass event of this aggregate: a created event, a
    ``__post_init__`` of its own)."""
    try:
        return _OWN_FIELDS[event_class]
    except KeyError:
        pass
    found: tuple[tuple[str, ...], frozenset[str]] | None = None
    names = tuple(f.name for f in dataclasses.fields(event_class) if f.init)
    if (
        names[:3] == _COMMON_FIELDS
        and issubclass(event_class, DunningCase.Event)
        and not issubclass(event_class, Aggregate.Created)
        and event_class.__post_init__ is Aggregate.Event.__post_init__
        and event_class.mutate is Aggregate.Event.mutate
        and all(
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            for f in dataclasses.fields(event_class)
        )
    ):
        found = (names[3:], frozenset(names[3:]))
    _OWN_FIELDS[event_class] = found
    return found


class DunningCase(HandoverDecisions, HoldDecisions, AckDecisions, Aggregate):
    """One order's dunning. Its state is a ``CaseState`` built by ``evolve`` (state.py);
    the methods below and its mixins are the decisions, each checked against the transition
    table: sending to Diagonal (case_handover.py), holds and reopening (case_holds.py),
    Diagonal's acknowledgements (case_acks.py). The events stay nested here: their topics
    (``debtcases.domain.case:DunningCase.X``) are stored with every event."""

    class Event(Aggregate.Event):
        actor: Actor
        reason: str
        from_status: Status | None
        to_status: Status

        def apply(self, aggregate: Any) -> None:
            aggregate.state = evolve(getattr(aggregate, "state", None), self)

    class Locked(Event, Aggregate.Created):
        """The order entered dunning: a case exists, nothing happens until Play."""

        order_id: str
        user_id: int
        amount: Decimal
        currency: str
        debtor: Debtor

    class DunningStarted(Event):
        """Play (or support's first repair step): a handover message goes to Diagonal."""

    class HandoverFailed(Event):
        """The handover could not go through; ``errors`` say why (the "!" popup)."""

        errors: list[str]
        source: str  # "validation" (our checks) or "diagonal" (a rejection)
        message_id: str | None
        fell_back: bool  # the status fell back by itself (CaseState.rejection_falls_back)

    class HandedToCollection(Event):
        """The case is at Diagonal: acknowledged (``source`` diagonal) or set by support."""

        source: str  # "diagonal" or "support"
        message_id: str | None

    class Cancelled(Event):
        """The order was cancelled or voided; ``withdraw`` when Diagonal must close it too."""

        withdraw: bool

    class Blocked(Event):
        """Paused by support with a hold (reason code, optional end, a promise's amount and
        date); invisible to the vendor. Version 2 added ``hold``: a block stored before
        (free text only) loads as reason code ``other`` without an end."""

        class_version = 2
        hold: Hold

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["hold"] = Hold()

    class Unblocked(Event):
        """Support resumed a blocked case: back to the status before the block."""

    class HoldExpired(Event):
        """The hold ended by itself at ``ended_at`` (its ``until``, or the day after a
        promise to pay's date): back to the status before the block. ``promise_broken``:
        the debtor promised to pay by that date and the case was not paid."""

        hold: Hold
        ended_at: datetime
        promise_broken: bool

    class Reopened(Event):
        """Support corrected a mistaken PAID or CANCELLED (the event at
        ``corrects_version``): back to the status before it, with what went with that
        status; ``notify`` when Diagonal was told of the withdrawal or payment and must be
        told of the correction."""

        corrects_version: int
        corrects_event: str
        status_before_block: Status | None
        hold: Hold | None
        running_since: datetime | None
        notify: bool

    class Paid(Event):
        """The debtor paid the platform; ``notify`` when Diagonal must be told."""

        reference: str
        notify: bool

    class AddressCorrected(Event):
        """Support entered the right address; ``errors`` are the re-checked handover errors."""

        debtor: Debtor
        errors: list[str]
        notify: bool  # Diagonal has the case and needs the new address

    class ClosedAtDiagonal(Event):
        """Diagonal confirmed it closed the case after a withdrawal or payment."""

        message_id: str

    class AckRecorded(Event):
        """An acknowledgement that no longer fits the case: kept, changes nothing."""

        kind: str
        message_id: str
        note: str

    # ------------------------------------------------------------------ state

    state: CaseState  # set by the first event's apply (evolve)

    def __init__(self) -> None:
        """Nothing to do: ``Locked.apply`` builds the state (the library calls it next)."""

    @property
    def order_id(self) -> str:
        return self.state.order_id

    @property
    def user_id(self) -> int:
        return self.state.user_id

    @property
    def amount(self) -> Decimal:
        return self.state.amount

    @property
    def currency(self) -> str:
        return self.state.currency

    @property
    def debtor(self) -> Debtor:
        return self.state.debtor

    @property
    def status(self) -> Status:
        return self.state.status

    @property
    def status_before_block(self) -> Status | None:
        return self.state.status_before_block

    @property
    def errors(self) -> list[str]:
        return list(self.state.errors)

    @property
    def fell_back(self) -> bool:
        return self.state.fell_back

    @property
    def handover_sent(self) -> bool:
        return self.state.handover_sent

    @property
    def received_by_diagonal(self) -> bool:
        return self.state.received_by_diagonal

    @property
    def handed_over_at(self) -> datetime | None:
        return self.state.handed_over_at

    @property
    def running_since(self) -> datetime | None:
        return self.state.running_since

    @property
    def payment_reference(self) -> str | None:
        return self.state.payment_reference

    @property
    def awaiting_diagonal_close(self) -> bool:
        return self.state.awaiting_diagonal_close

    @property
    def closed_at_diagonal_at(self) -> datetime | None:
        return self.state.closed_at_diagonal_at

    @property
    def seen_messages(self) -> frozenset[str]:
        return self.state.seen_messages

    @property
    def created_by(self) -> Actor:
        return self.state.created_by

    @property
    def updated_by(self) -> Actor | None:
        return self.state.last_actor

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return case_id_for(order_id)

    @classmethod
    def admit(
        cls,
        *,
        order_id: str,
        user_id: int,
        amount: Decimal,
        currency: str,
        debtor: Debtor,
        actor: Actor,
        reason: str,
        now: datetime,
    ) -> DunningCase:
        if not may_issue(actor.role, Command.ADMIT):
            raise NotPermitted(actor.role.value, Command.ADMIT.value)
        return cls._create(
            cls.Locked,
            id=case_id_for(order_id),
            timestamp=now,
            order_id=order_id,
            user_id=user_id,
            amount=amount,
            currency=currency.upper(),
            debtor=debtor,
            actor=actor,
            reason=reason,
            from_status=None,
            to_status=Status.LOCKED,
        )

    # ------------------------------------------------------------- queries

    def status_for(self, role: Role) -> Status:
        return self.state.status_for(role)

    def differing_admission_fields(
        self, *, user_id: int, amount: Decimal, currency: str, debtor: Debtor
    ) -> list[str]:
        """The admission fields in which the given data differs from this case. The debtor
        matches the address as admitted or as corrected since (an export carries the
        current one, and the README promises an export can be imported again)."""
        s = self.state
        given = {
            "user_id": (user_id, s.user_id),
            "amount": (amount, s.amount),
            "currency": (currency.upper(), s.currency),
        }
        differing = [name for name, (new, old) in given.items() if new != old]
        if debtor not in (s.admitted_debtor, s.debtor):
            differing.append("debtor")
        return differing

    @property
    def at_diagonal(self) -> bool:
        """Whether Diagonal has (or is being sent) this case."""
        return self.state.at_diagonal

    def is_stuck(self, now: datetime, after_seconds: float) -> bool:
        """RUNNING for longer than ``after_seconds`` without Diagonal's ``received``."""
        return self.state.is_stuck(now, after_seconds)

    # ------------------------------------------------------------ decisions

    def ensure_visible_to(self, actor: Actor) -> None:
        """Vendors only ever see their own cases; anything else is 'not found'."""
        if actor.role is Role.VENDOR and actor.vendor_id != self.user_id:
            raise CaseNotFound(self.order_id)

    def _check(self, actor: Actor, command: Command) -> bool:
        """Refuse what ``actor`` may not do now; False when the case already is what the
        command asks for (the caller then records nothing)."""
        if not may_issue(actor.role, command):
            raise NotPermitted(actor.role.value, command.value)
        self.ensure_visible_to(actor)
        if already_there(command, self.status):
            return False
        allowed = allowed_from(actor.role, command)
        if self.status not in allowed:
            seen = self.status_for(actor.role)
            target = TARGET[command] or seen
            detail = ""
            if actor.role is Role.VENDOR and self.status == Status.BLOCKED:
                detail = "This case cannot be changed at the moment; please contact support."
            raise InvalidTransition(command.value, seen.value, target.value, detail)
        return True

    def _trigger(self, event_class: type[Any], now: datetime, **kwargs: Any) -> None:
        """Record the decision: ``event_class`` with ``kwargs`` as the next event.

        The event the library's ``trigger_event`` makes, built without its machinery:
        the dataclass ``__init__`` of a frozen event (``object.__setattr__`` per field),
        the ``mutate`` checks of an id and version taken from this case, and the
        keyword copies cost ~5 us of the ~8 us of an ack's decision. Same fields in the
        same order (the stored JSON follows it), same ``apply`` (``evolve``), then the
        version, ``modified_on`` and the pending event as ``mutate`` and
        ``trigger_event`` set them. Anything unusual (no timestamp, other or missing
        fields: the library raises) goes the library's way.
        tests/unit/test_ack_fast_path.py holds the events and their stored bytes equal."""
        kwargs.setdefault("from_status", self.status)
        fields = _own_fields(event_class)
        if now is None or fields is None or kwargs.keys() != fields[1] or type(self.id) is not UUID:
            self.trigger_event(event_class, timestamp=now, **kwargs)
            return
        version = self.version + 1
        state = {"originator_id": self.id, "originator_version": version, "timestamp": now}
        for name in fields[0]:
            state[name] = kwargs[name]
        event = object.__new__(event_class)
        object.__setattr__(event, "__dict__", state)
        event.apply(self)  # evolve: raises before anything changed, like mutate
        self.version = version
        self.modified_on = now
        self._pending_events.append(event)

    def cancel(self, actor: Actor, now: datetime, reason: str) -> None:
        if not self._check(actor, Command.CANCEL):
            return
        self._trigger(
            self.Cancelled,
            now,
            actor=actor,
            reason=reason,
            to_status=Status.CANCELLED,
            withdraw=self.handover_sent,
        )

    def mark_paid(self, actor: Actor, now: datetime, reason: str, reference: str) -> None:
        if not self._check(actor, Command.MARK_PAID):
            if reference != self.payment_reference:  # a different payment: not the same ask
                raise InvalidTransition(
                    Command.MARK_PAID.value,
                    self.status.value,
                    Status.PAID.value,
                    f"The case is paid already (reference {self.payment_reference!r}).",
                )
            return
        self._trigger(
            self.Paid,
            now,
            actor=actor,
            reason=reason,
            to_status=Status.PAID,
            reference=reference,
            notify=self.handover_sent,
        )
