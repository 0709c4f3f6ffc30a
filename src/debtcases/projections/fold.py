"""Pure folds of DunningCase events into view rows: the same state the aggregate's
``apply`` methods build, flattened into columns. No I/O here (the recorders do that)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from debtcases.domain.actors import Role
from debtcases.domain.rules import visible_status
from debtcases.domain.statuses import Status

BERLIN = ZoneInfo("Europe/Berlin")

# Columns of the cases view, in table order (position = notification id of the last event).
CASE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "order_id",
    "user_id",
    "status",
    "status_before_block",
    "vendor_status",
    "amount",
    "currency",
    "debtor_name",
    "debtor_street",
    "debtor_postal_code",
    "debtor_city",
    "debtor_country",
    "errors",
    "created_at",
    "updated_at",
    "entered_month",
    "last_event",
    "last_actor_role",
    "last_actor_id",
    "last_reason",
    "at_diagonal",
    "handed_over_at",
    "running_since",
    "awaiting_diagonal_close",
    "closed_at_diagonal_at",
    "fell_back",
    "payment_reference",
    "version",
    "position",
)
CASE_TIMESTAMPS = frozenset(
    {"created_at", "updated_at", "handed_over_at", "running_since", "closed_at_diagonal_at"}
)
CASE_BOOLEANS = frozenset({"at_diagonal", "awaiting_diagonal_close", "fell_back"})

# Columns of the per-case state the vendor-access view keeps to compute its deltas.
ACCESS_CASE_COLUMNS: tuple[str, ...] = ("case_id", "user_id", "status", "handed_over_at")
ACCESS_VENDOR_COLUMNS: tuple[str, ...] = (
    "user_id",
    "cases_total",
    "cases_at_diagonal",
    "first_handed_over_at",
    *(f"n_{s.value.lower()}" for s in Status),
)


def entered_month(created_at: datetime) -> str:
    """The period filter: calendar month (Europe/Berlin) in which the case entered dunning."""
    return created_at.astimezone(BERLIN).strftime("%Y-%m")


def event_name(event: Any) -> str:
    return type(event).__name__


def fold_case(row: dict[str, Any] | None, event: Any, position: int) -> dict[str, Any] | None:
    """Apply one event to a cases-view row (None: no row yet). Returns the new row, or
    None when the event cannot apply (an event of an unknown case, or already applied)."""
    name = event_name(event)
    ts: datetime = event.timestamp
    if row is None:
        if name != "Locked":
            return None
        debtor = event.debtor
        row = {
            "case_id": str(event.originator_id),
            "order_id": event.order_id,
            "user_id": int(event.user_id),
            "status": Status.LOCKED.value,
            "status_before_block": None,
            "vendor_status": Status.LOCKED.value,
            "amount": f"{event.amount:.2f}",
            "currency": event.currency,
            "debtor_name": debtor.name,
            "debtor_street": debtor.street,
            "debtor_postal_code": debtor.postal_code,
            "debtor_city": debtor.city,
            "debtor_country": debtor.country,
            "errors": [],
            "created_at": ts,
            "updated_at": ts,
            "entered_month": entered_month(ts),
            "at_diagonal": False,
            "handed_over_at": None,
            "running_since": None,
            "awaiting_diagonal_close": False,
            "closed_at_diagonal_at": None,
            "fell_back": False,
            "payment_reference": None,
            "version": 0,
        }
    elif int(event.originator_version) <= int(row["version"]):
        return None  # defensive: never apply an event twice
    else:
        row = dict(row)
    status = Status(event.to_status)
    sbb = Status(row["status_before_block"]) if row["status_before_block"] else None
    if name == "DunningStarted":
        row.update(errors=[], at_diagonal=True, fell_back=False, running_since=ts)
    elif name == "HandoverFailed":
        if status is Status.BLOCKED:
            sbb = Status.FAILED
        row.update(errors=list(event.errors), fell_back=bool(event.fell_back), running_since=None)
        if event.source == "diagonal":
            row["at_diagonal"] = False
    elif name == "HandedToCollection":
        if status is Status.BLOCKED:
            sbb = Status.HANDED_OVER
        row.update(errors=[], running_since=None)
        if row["handed_over_at"] is None:
            row["handed_over_at"] = ts
    elif name == "Cancelled":
        row.update(running_since=None, awaiting_diagonal_close=bool(event.withdraw))
    elif name == "Blocked":
        sbb = Status(event.from_status) if event.from_status else None
    elif name == "Unblocked":
        sbb = None
    elif name == "Paid":
        row.update(
            payment_reference=event.reference,
            running_since=None,
            awaiting_diagonal_close=bool(event.notify),
        )
    elif name == "AddressCorrected":
        d = event.debtor
        row.update(
            debtor_name=d.name,
            debtor_street=d.street,
            debtor_postal_code=d.postal_code,
            debtor_city=d.city,
            debtor_country=d.country,
        )
        if status is Status.FAILED or (status is Status.BLOCKED and sbb is Status.FAILED):
            row["errors"] = list(event.errors)
    elif name == "ClosedAtDiagonal":
        row.update(awaiting_diagonal_close=False, closed_at_diagonal_at=ts)
    if status is not Status.BLOCKED:
        sbb = None  # as the aggregate: leaving BLOCKED any way (cancel, paid ...) forgets it
    row["status"] = status.value
    row["status_before_block"] = sbb.value if sbb else None
    row["vendor_status"] = visible_status(status, sbb, Role.VENDOR).value
    actor = event.actor
    row.update(
        updated_at=ts,
        version=int(event.originator_version),
        position=position,
        last_event=name,
        last_actor_role=actor.role.value,
        last_actor_id=actor.id,
        last_reason=event.reason or "",
    )
    return row


def fold_access_case(state: dict[str, Any] | None, event: Any) -> dict[str, Any] | None:
    """The little per-case state the vendor-access view needs (status, first handover)."""
    name = event_name(event)
    if state is None:
        if name != "Locked":
            return None
        state = {
            "case_id": str(event.originator_id),
            "user_id": int(event.user_id),
            "status": Status.LOCKED.value,
            "handed_over_at": None,
        }
        return state
    state = dict(state)
    state["status"] = Status(event.to_status).value
    if name == "HandedToCollection" and state["handed_over_at"] is None:
        state["handed_over_at"] = event.timestamp
    return state
