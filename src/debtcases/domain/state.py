"""CaseState and ``evolve``: the ONE fold of a dunning case.

The aggregate applies its events with ``evolve``, the views build their rows from the
states it returns, and the history popup is a scan of it. A new event is taught here once
(a ``case`` in ``evolve``), and every reader of the case follows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.holds import Hold
from debtcases.domain.rules import visible_status
from debtcases.domain.statuses import Status

if TYPE_CHECKING:
    from debtcases.domain.case import DunningCase


@dataclass(frozen=True)
class Closure:
    """How a case was closed (PAID or CANCELLED) and what it was before: what support's
    correction (``Reopened``) goes back to, and until when it may (``at``)."""

    at: datetime
    version: int  # the closing event's version (the correction references it)
    event: str  # "Paid" or "Cancelled"
    notified: bool  # Diagonal was sent a withdrawal / payment notice
    status: Status
    status_before_block: Status | None
    hold: Hold | None
    running_since: datetime | None


@dataclass(frozen=True)
class CaseState:
    """Everything known about one case after a sequence of its events."""

    case_id: UUID
    order_id: str
    user_id: int
    amount: Decimal
    currency: str
    debtor: Debtor
    admitted_debtor: Debtor  # the address as admitted (an order's admission data)
    created_at: datetime
    created_by: Actor
    status: Status = Status.LOCKED
    status_before_block: Status | None = None
    hold: Hold | None = None  # the terms of the block (only while BLOCKED)
    errors: tuple[str, ...] = ()
    # The status fell back by itself (for a specialist): Diagonal rejected the case after it
    # had been HANDED_OVER, or after support's repair of a FAILED case had started (step 1,
    # FAILED -> RUNNING). Stays set through further repair attempts, until Diagonal
    # confirms it received the case.
    fell_back: bool = False
    in_repair: bool = False  # RUNNING again after FAILED, and not yet received by Diagonal
    handover_sent: bool = False  # Diagonal has (or is being sent) the case
    received_by_diagonal: bool = False
    handed_over_at: datetime | None = None
    running_since: datetime | None = None
    payment_reference: str | None = None
    awaiting_diagonal_close: bool = False
    closed_at_diagonal_at: datetime | None = None
    seen_messages: frozenset[str] = frozenset()  # Diagonal message ids applied
    closure: Closure | None = None  # while PAID or CANCELLED: how, when, and what before
    # The last change: when, which event, by whom, why, and the stream version after it.
    updated_at: datetime | None = None
    last_event: str = "Locked"
    last_actor: Actor | None = None
    last_reason: str = ""
    version: int = 1
    # What the vendor sees changed last: support-only events (is_support_only) do not
    # move these, so a block neither bumps the vendor's version nor reorders their list.
    vendor_version: int = 1
    vendor_updated_at: datetime | None = None

    def status_for(self, role: Role) -> Status:
        """The status ``role`` sees (vendors never see BLOCKED)."""
        return visible_status(self.status, self.status_before_block, role)

    def rejection_falls_back(self) -> bool:
        """Whether a rejection by Diagonal now would be a fall-back (see ``fell_back``)."""
        effective = self.status_before_block if self.status is Status.BLOCKED else self.status
        return effective is Status.HANDED_OVER or self.in_repair

    @property
    def at_diagonal(self) -> bool:
        """Whether Diagonal has (or is being sent) this case."""
        return self.handover_sent

    @property
    def hold_ends_at(self) -> datetime | None:
        """When the block ends by itself (None: not blocked, or only support ends it)."""
        return self.hold.ends_at if self.hold is not None else None

    def is_stuck(self, now: datetime, after_seconds: float) -> bool:
        """RUNNING for longer than ``after_seconds`` without Diagonal's ``received``."""
        return is_stuck(self.status, self.running_since, now, after_seconds)


def is_stuck(
    status: Status, running_since: datetime | None, now: datetime, after_seconds: float
) -> bool:
    """The watchdog's rule, for a state or a row of the cases view alike: RUNNING for
    longer than ``after_seconds`` without Diagonal's ``received``."""
    return (
        status == Status.RUNNING
        and running_since is not None
        and (now - running_since).total_seconds() > after_seconds
    )


def is_support_only(event: DunningCase.Event) -> bool:
    """Events a vendor never sees (the block, its end and its expiry are invisible to
    them; so are ignored acks)."""
    folds = _FOLDS or _folds()
    return type(event) in folds.support_only or isinstance(event, folds.support_only_types)


# Event details a vendor never sees (the payment reference is the platform's bookkeeping;
# a hold, also one a correction restores, is support's).
SUPPORT_ONLY_DETAILS = frozenset({"reference", "hold"})

# A status from its stored text (JSON gives plain strings back): a dict lookup, where
# calling the enum class costs ~1.5 us an event. Anything else goes to ``Status(...)``
# (which raises for an unknown status, as before).
_STATUS = {s.value: s for s in Status}

# The new state's fields, as ``evolve`` builds them: a copy of the old state's
# ``__dict__``, changed in place and set as the new state's ``__dict__`` (the same fields
# and values ``dataclasses.replace`` gives, without its per-field ``__init__`` of a
# frozen dataclass: ~10 us an event, the fold's largest cost).
_Changes = dict[str, Any]
_Fold = Callable[[CaseState, Any, datetime, Status, _Changes], None]


class _Folds:
    """Each event class's part of the fold, and the support-only classes; built on first
    use (the event classes live in case.py, which imports this module)."""

    def __init__(self) -> None:
        from debtcases.domain.case import DunningCase as C  # the event classes (see case.py)

        self.locked: type[Any] = C.Locked
        self.by_class: dict[type[Any], _Fold] = {
            C.DunningStarted: _dunning_started,
            C.HandoverFailed: _handover_failed,
            C.HandedToCollection: _handed_to_collection,
            C.Cancelled: _cancelled,
            C.Blocked: _blocked,
            C.Unblocked: _unblocked,
            C.HoldExpired: _unblocked,
            C.Paid: _paid,
            C.Reopened: _reopened,
            C.AddressCorrected: _address_corrected,
            C.ClosedAtDiagonal: _closed_at_diagonal,
            C.AckRecorded: _ack_recorded,
        }
        self.support_only_types: tuple[type[Any], ...] = (
            C.Blocked,
            C.Unblocked,
            C.HoldExpired,
            C.AckRecorded,
        )
        self.support_only: frozenset[type[Any]] = frozenset(self.support_only_types)

    def find(self, event_class: type[Any]) -> _Fold | None:
        """The fold of ``event_class``; a subclass of a known event folds as its base
        (as the ``match`` on classes did before the table)."""
        fold = self.by_class.get(event_class)
        if fold is None:
            for cls, base_fold in list(self.by_class.items()):
                if issubclass(event_class, cls):
                    self.by_class[event_class] = fold = base_fold
                    break
        return fold


_FOLDS: _Folds | None = None


def _folds() -> _Folds:
    global _FOLDS
    if _FOLDS is None:
        _FOLDS = _Folds()
    return _FOLDS


# A new case's state fields in ``CaseState``'s order: the defaults, None where ``Locked``
# gives the value (``evolve`` sets every one of those).
_NEW_STATE: dict[str, Any] = {
    f.name: None if f.default is dataclasses.MISSING else f.default
    for f in dataclasses.fields(CaseState)
}


def evolve(state: CaseState | None, event: DunningCase.Event) -> CaseState:
    """The state after ``event``. ``state`` is None only before the case's first event.

    Raises ValueError for an event that cannot follow ``state`` (a first event that is not
    ``Locked``, or a ``Locked`` after the case exists)."""
    folds = _FOLDS or _folds()
    ts: datetime = event.timestamp
    event_class = type(event)
    if event_class is folds.locked or isinstance(event, folds.locked):
        if state is not None:
            raise ValueError(f"case {event.originator_id} exists already")
        first: Any = event  # a Locked (checked above)
        # What ``CaseState(case_id=..., ...)`` builds (the defaults, then these fields),
        # without the frozen dataclass's ``__init__`` (~3 us: one ``object.__setattr__``
        # per field), as for every other event below.
        version = int(first.originator_version)
        fields = _NEW_STATE.copy()
        fields["case_id"] = first.originator_id
        fields["order_id"] = first.order_id
        fields["user_id"] = int(first.user_id)
        fields["amount"] = first.amount
        fields["currency"] = first.currency
        fields["debtor"] = fields["admitted_debtor"] = first.debtor
        fields["created_at"] = fields["updated_at"] = fields["vendor_updated_at"] = ts
        fields["created_by"] = fields["last_actor"] = first.actor
        fields["last_reason"] = first.reason or ""
        fields["version"] = fields["vendor_version"] = version
        created = object.__new__(CaseState)
        object.__setattr__(created, "__dict__", fields)
        return created
    if state is None:
        raise ValueError(f"{event_class.__name__} before the case {event.originator_id} exists")

    to_status = event.to_status
    status = _STATUS.get(to_status) or Status(to_status)  # coerce once, here
    fold = folds.find(event_class)
    if fold is None:
        raise ValueError(f"unknown event {event_class.__name__}")
    # The new state's fields: the old ones, then the event's own changes (``fold`` writes
    # them into ``new``), then what every event sets.
    new = state.__dict__.copy()
    fold(state, event, ts, status, new)
    if status is not Status.BLOCKED:
        # leaving BLOCKED any way (cancel, paid ...) forgets it
        new["status_before_block"] = new["hold"] = None
    version = int(event.originator_version)
    if event_class not in folds.support_only and not isinstance(event, folds.support_only_types):
        new["vendor_version"] = version
        new["vendor_updated_at"] = ts
    new["status"] = status
    new["updated_at"] = ts
    new["last_event"] = event_class.__name__
    new["last_actor"] = event.actor
    new["last_reason"] = event.reason or ""
    new["version"] = version
    result = object.__new__(CaseState)
    object.__setattr__(result, "__dict__", new)
    return result


# Each event's own changes (``new`` starts as a copy of ``state``'s fields). The
# block's memory (``status_before_block``, ``hold``) stays as it was unless set here.


def _dunning_started(
    state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes
) -> None:
    new["errors"] = ()
    new["handover_sent"] = True
    new["running_since"] = ts
    # Support's repair step 1; an earlier fall-back stays flagged.
    new["in_repair"] = state.in_repair or state.status is Status.FAILED


def _handover_failed(
    state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes
) -> None:
    if status is Status.BLOCKED:  # Diagonal rejected it while blocked
        new["status_before_block"] = Status.FAILED
    new["errors"] = tuple(event.errors)
    new["running_since"] = None
    if event.source == "diagonal":
        new["handover_sent"] = False
        new["fell_back"] = state.fell_back or bool(event.fell_back) or state.rejection_falls_back()
    if event.message_id:
        new["seen_messages"] = state.seen_messages | {event.message_id}


def _handed_to_collection(
    state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes
) -> None:
    if status is Status.BLOCKED:  # Diagonal received it while blocked
        new["status_before_block"] = Status.HANDED_OVER
    new["errors"] = ()
    new["running_since"] = None
    if state.handed_over_at is None:
        new["handed_over_at"] = ts
    if event.source == "diagonal":  # the repair (if any) worked
        new["received_by_diagonal"] = True
        new["fell_back"] = False
        new["in_repair"] = False
    if event.message_id:
        new["seen_messages"] = state.seen_messages | {event.message_id}


def _cancelled(state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes) -> None:
    new["running_since"] = None
    new["awaiting_diagonal_close"] = bool(event.withdraw)
    new["closure"] = _closure(state, event, bool(event.withdraw))


def _blocked(state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes) -> None:
    new["status_before_block"] = _STATUS.get(event.from_status) or (
        Status(event.from_status) if event.from_status else None
    )
    new["hold"] = event.hold


def _unblocked(state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes) -> None:
    new["status_before_block"] = None


def _paid(state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes) -> None:
    new["payment_reference"] = event.reference
    new["running_since"] = None
    new["awaiting_diagonal_close"] = bool(event.notify)
    new["closure"] = _closure(state, event, bool(event.notify))


def _reopened(state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes) -> None:
    # Back to what the case was before the mistaken PAID / CANCELLED (the event carries
    # it, so a view folding from its row needs nothing more).
    sbb = event.status_before_block
    new["status_before_block"] = Status(sbb) if sbb else None
    new["hold"] = event.hold
    new["running_since"] = event.running_since
    new["payment_reference"] = None
    new["awaiting_diagonal_close"] = False
    new["closed_at_diagonal_at"] = None
    new["closure"] = None


def _address_corrected(
    state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes
) -> None:
    new["debtor"] = event.debtor
    if status is Status.FAILED or (
        status is Status.BLOCKED and new["status_before_block"] is Status.FAILED
    ):
        new["errors"] = tuple(event.errors)


def _closed_at_diagonal(
    state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes
) -> None:
    new["awaiting_diagonal_close"] = False
    new["closed_at_diagonal_at"] = ts
    new["seen_messages"] = state.seen_messages | {event.message_id}


def _ack_recorded(
    state: CaseState, event: Any, ts: datetime, status: Status, new: _Changes
) -> None:
    new["seen_messages"] = state.seen_messages | {event.message_id}


def _closure(state: CaseState, event: DunningCase.Event, notified: bool) -> Closure:
    return Closure(
        at=event.timestamp,
        version=int(event.originator_version),
        event=type(event).__name__,
        notified=notified,
        status=state.status,
        status_before_block=state.status_before_block,
        hold=state.hold,
        running_since=state.running_since,
    )
