"""The query interface of the case lists (Schulden tab, Inkasso-Beta tab, CSV export)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from debtcases.domain.actors import Role
from debtcases.domain.rules import visible_status
from debtcases.domain.state import CaseState, is_stuck
from debtcases.domain.statuses import Status
from debtcases.projections.cases_rows import entered_month, hold_from_row

BERLIN = ZoneInfo("Europe/Berlin")  # the period filter's calendar (see entered_month)


@dataclass(frozen=True)
class CaseFilter:
    """Filters of the case lists. ``period`` is ``"YYYY-MM"`` (Europe/Berlin month in which
    the case entered dunning) or None for all periods. ``statuses`` empty means any status;
    for a vendor the statuses are matched against the vendor-visible status. ``fell_back``
    True is the specialist's worklist (cases whose status fell back by itself)."""

    order_id: str | None = None
    user_id: int | None = None
    statuses: tuple[Status, ...] = ()
    period: str | None = None  # None = all
    # Only these orders (e.g. `?admitted=manual`: the orders support admitted by hand).
    order_ids: tuple[str, ...] | None = None
    fell_back: bool | None = None  # None = either
    # Support only (a vendor never sees a hold): blocked with this reason code ...
    hold_reason: str | None = None
    # ... and/or blocked with a hold that ends by itself at or before this moment.
    hold_ends_by: datetime | None = None


@dataclass(frozen=True)
class Keyset:
    """Where a list page starts (keyset pagination): right after the case whose last
    visible change was at ``changed`` and whose last event is ``position`` in the log. The
    lists are ordered by exactly this pair, newest first, and no two cases share it (a
    position is one event's), so "after" is well defined whatever the filters."""

    changed: datetime
    position: int


@dataclass(frozen=True)
class CaseListPage:
    """One page of a case list: its items (rows or shaped items), the total, and where the
    next page starts (None: this is the last page)."""

    items: list[dict[str, Any]]
    total: int
    next_after: Keyset | None


# Details only support sees in list items (the vendor's tab hides blocks and staff notes).
SUPPORT_ONLY_FIELDS = (
    "status_before_block",
    "last_change",
    "stuck",
    "payment_reference",
    "hold",
)


# "Alle Perioden" as the UI says it, in any case; "all" as the API always took it.
ALL_PERIODS = frozenset({"", "all", "alle", "alle perioden"})


def parse_period(text: str | None) -> str | None:
    """``"YYYY-MM"`` -> itself, ``"all"``/``"Alle Perioden"``/``"alle"``/empty -> None;
    anything else (other scripts' digits included) raises ValueError."""
    import re

    if text is None or " ".join(text.split()).casefold() in ALL_PERIODS:
        return None
    value = text.strip()
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
        raise ValueError(f"period must be YYYY-MM (e.g. 2024-05) or 'all', not {text!r}")
    return value


def case_shape(
    state: CaseState, role: Role, now: datetime, stuck_after_hours: float
) -> dict[str, Any]:
    """A case as ``role`` sees it, wherever it appears (the case endpoint, command answers,
    list items, CSV rows): ONE shape built from the one fold. Vendors get the status they
    may see, the version and time of the last change they may see, and none of the
    support-only fields (SUPPORT_ONLY_FIELDS)."""
    vendor = role is Role.VENDOR
    status = state.status_for(role)
    updated_at = (state.vendor_updated_at if vendor else state.updated_at) or state.created_at
    item: dict[str, Any] = {
        "order_id": state.order_id,
        "user_id": state.user_id,
        "status": status,
        "status_label": status.label,
        "amount": f"{state.amount:.2f}",
        "currency": state.currency,
        "debtor": state.debtor.as_dict(),
        "errors": list(state.errors),
        "created_at": state.created_at,
        "updated_at": updated_at,
        "version": state.vendor_version if vendor else state.version,
        "at_diagonal": state.at_diagonal,
        "fell_back": state.fell_back,
        "entered_month": state.created_at.astimezone(BERLIN).strftime("%Y-%m"),
        "handed_over_at": state.handed_over_at,
        "awaiting_diagonal_close": state.awaiting_diagonal_close,
        "closed_at_diagonal_at": state.closed_at_diagonal_at,
    }
    if not vendor:
        actor = state.last_actor or state.created_by
        item.update(
            status_before_block=state.status_before_block,
            stuck=state.is_stuck(now, stuck_after_hours * 3600),
            last_change={
                "at": updated_at,
                "event": state.last_event,
                "actor": actor.as_dict(),
                "reason": state.last_reason,
            },
            payment_reference=state.payment_reference,
            hold=state.hold.as_dict() if state.hold is not None else None,
        )
    return item


def case_item(
    row: dict[str, Any], role: Role, now: datetime, stuck_after_hours: float
) -> dict[str, Any]:
    """A cases-view row as a list item: ``case_shape(state_from_row(row), ...)``, equal to
    it key for key and value for value (``tests/unit/test_list_items.py`` holds that on
    generated rows), made straight from the row's columns: a list page shapes 50 rows, and
    building each row's frozen ``CaseState`` first was half of that page's Python time."""
    vendor = role is Role.VENDOR
    sbb = row["status_before_block"]
    before = Status(sbb) if sbb else None
    status = visible_status(Status(row["status"]), before, role)
    created_at = row["created_at"]
    updated_at = (row["vendor_updated_at"] if vendor else row["updated_at"]) or created_at
    item: dict[str, Any] = {
        "order_id": row["order_id"],
        "user_id": int(row["user_id"]),
        "status": status,
        "status_label": status.label,
        "amount": f"{Decimal(row['amount']):.2f}",
        "currency": row["currency"],
        "debtor": {
            "name": row["debtor_name"],
            "street": row["debtor_street"],
            "postal_code": row["debtor_postal_code"],
            "city": row["debtor_city"],
            "country": row["debtor_country"],
        },
        "errors": list(row["errors"]),
        "created_at": created_at,
        "updated_at": updated_at,
        "version": int(row["vendor_version"] if vendor else row["version"]),
        "at_diagonal": bool(row["at_diagonal"]),
        "fell_back": bool(row["fell_back"]),
        "entered_month": entered_month(created_at),
        "handed_over_at": row["handed_over_at"],
        "awaiting_diagonal_close": bool(row["awaiting_diagonal_close"]),
        "closed_at_diagonal_at": row["closed_at_diagonal_at"],
    }
    if not vendor:
        hold = hold_from_row(row)
        item.update(
            status_before_block=before,
            # Support sees the status itself (``visible_status``): the watchdog's rule on it.
            stuck=is_stuck(status, row["running_since"], now, stuck_after_hours * 3600),
            last_change={
                "at": updated_at,
                "event": row["last_event"],
                "actor": {"role": Role(row["last_actor_role"]).value, "id": row["last_actor_id"]},
                "reason": row["last_reason"],
            },
            payment_reference=row["payment_reference"],
            hold=hold.as_dict() if hold is not None else None,
        )
    return item
