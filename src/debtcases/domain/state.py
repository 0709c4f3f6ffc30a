"""CaseState and ``evolve``: the ONE fold of a dunning case.

The aggregate applies its events with ``evolve``, the views build their rows from the
states it returns, and the history popup is a scan of it. A new event is taught here once
(a ``case`` in ``evolve``), and every reader of the case follows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
        return (
            self.status == Status.RUNNING
            and self.running_since is not None
            and (now - self.running_since).total_seconds() > after_seconds
        )


def is_support_only(event: DunningCase.Event) -> bool:
    """Events a vendor never sees (the block, its end and its expiry are invisible to
    them; so are ignored acks)."""
    from debtcases.domain.case import DunningCase as C

    return isinstance(event, C.Blocked | C.Unblocked | C.HoldExpired | C.AckRecorded)


# Event details a vendor never sees (the payment reference is the platform's bookkeeping;
# a hold, also one a correction restores, is support's).
SUPPORT_ONLY_DETAILS = frozenset({"reference", "hold"})


def evolve(state: CaseState | None, event: DunningCase.Event) -> CaseState:
    """The state after ``event``. ``state`` is None only before the case's first event.

    Raises ValueError for an event that cannot follow ``state`` (a first event that is not
    ``Locked``, or a ``Locked`` after the case exists)."""
    from debtcases.domain.case import DunningCase as C  # the event classes (see case.py)

    ts: datetime = event.timestamp
    if isinstance(event, C.Locked):
        if state is not None:
            raise ValueError(f"case {event.originator_id} exists already")
        return CaseState(
            case_id=event.originator_id,
            order_id=event.order_id,
            user_id=int(event.user_id),
            amount=event.amount,
            currency=event.currency,
            debtor=event.debtor,
            admitted_debtor=event.debtor,
            created_at=ts,
            created_by=event.actor,
            updated_at=ts,
            last_actor=event.actor,
            last_reason=event.reason or "",
            version=int(event.originator_version),
            vendor_version=int(event.originator_version),
            vendor_updated_at=ts,
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} before the case {event.originator_id} exists")

    status = Status(event.to_status)  # JSON gives plain strings back: coerce once, here
    before_block = state.status_before_block
    hold = state.hold
    changes: dict[str, Any] = {}
    match event:
        case C.DunningStarted():
            changes = {
                "errors": (),
                "handover_sent": True,
                "running_since": ts,
                # Support's repair step 1; an earlier fall-back stays flagged.
                "in_repair": state.in_repair or state.status is Status.FAILED,
            }
        case C.HandoverFailed():
            if status is Status.BLOCKED:  # Diagonal rejected it while blocked
                before_block = Status.FAILED
            changes = {"errors": tuple(event.errors), "running_since": None}
            if event.source == "diagonal":
                changes["handover_sent"] = False
                changes["fell_back"] = (
                    state.fell_back or bool(event.fell_back) or state.rejection_falls_back()
                )
            if event.message_id:
                changes["seen_messages"] = state.seen_messages | {event.message_id}
        case C.HandedToCollection():
            if status is Status.BLOCKED:  # Diagonal received it while blocked
                before_block = Status.HANDED_OVER
            changes = {"errors": (), "running_since": None}
            if state.handed_over_at is None:
                changes["handed_over_at"] = ts
            if event.source == "diagonal":  # the repair (if any) worked
                changes.update(received_by_diagonal=True, fell_back=False, in_repair=False)
            if event.message_id:
                changes["seen_messages"] = state.seen_messages | {event.message_id}
        case C.Cancelled():
            changes = {
                "running_since": None,
                "awaiting_diagonal_close": bool(event.withdraw),
                "closure": _closure(state, event, bool(event.withdraw)),
            }
        case C.Blocked():
            before_block = Status(event.from_status) if event.from_status else None
            hold = event.hold
        case C.Unblocked() | C.HoldExpired():
            before_block = None
        case C.Paid():
            changes = {
                "payment_reference": event.reference,
                "running_since": None,
                "awaiting_diagonal_close": bool(event.notify),
                "closure": _closure(state, event, bool(event.notify)),
            }
        case C.Reopened():
            # Back to what the case was before the mistaken PAID / CANCELLED (the event
            # carries it, so a view folding from its row needs nothing more).
            sbb = event.status_before_block
            before_block = Status(sbb) if sbb else None
            hold = event.hold
            changes = {
                "running_since": event.running_since,
                "payment_reference": None,
                "awaiting_diagonal_close": False,
                "closed_at_diagonal_at": None,
                "closure": None,
            }
        case C.AddressCorrected():
            changes = {"debtor": event.debtor}
            if status is Status.FAILED or (
                status is Status.BLOCKED and before_block is Status.FAILED
            ):
                changes["errors"] = tuple(event.errors)
        case C.ClosedAtDiagonal():
            changes = {
                "awaiting_diagonal_close": False,
                "closed_at_diagonal_at": ts,
                "seen_messages": state.seen_messages | {event.message_id},
            }
        case C.AckRecorded():
            changes = {"seen_messages": state.seen_messages | {event.message_id}}
        case _:
            raise ValueError(f"unknown event {type(event).__name__}")
    if status is not Status.BLOCKED:
        before_block = hold = None  # leaving BLOCKED any way (cancel, paid ...) forgets it
    if not is_support_only(event):
        changes["vendor_version"] = int(event.originator_version)
        changes["vendor_updated_at"] = ts
    return replace(
        state,
        **changes,
        status=status,
        status_before_block=before_block,
        hold=hold,
        updated_at=ts,
        last_event=type(event).__name__,
        last_actor=event.actor,
        last_reason=event.reason or "",
        version=int(event.originator_version),
    )


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
