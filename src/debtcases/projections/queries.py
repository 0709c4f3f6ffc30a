"""The query interface of the case lists (Schulden tab, Inkasso-Beta tab, CSV export)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status


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
    fell_back: bool | None = None  # None = either


# Details only support sees in list items (the vendor's tab hides blocks and staff notes).
SUPPORT_ONLY_FIELDS = ("status_before_block", "last_change", "stuck", "payment_reference")


def parse_period(text: str | None) -> str | None:
    """``"YYYY-MM"`` -> itself, ``"all"``/empty -> None; anything else raises ValueError."""
    import re

    if text is None or text.strip().lower() in ("", "all"):
        return None
    value = text.strip()
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise ValueError(f"period must be YYYY-MM or 'all', not {text!r}")
    return value


def case_item(
    row: dict[str, Any], role: Role, now: datetime, stuck_after_hours: float
) -> dict[str, Any]:
    """A cases-view row as a list item: the CaseOut fields (status role-visible) plus extras."""
    vendor = role is Role.VENDOR
    status = Status(row["vendor_status"] if vendor else row["status"])
    running_since = row["running_since"]
    item: dict[str, Any] = {
        "order_id": row["order_id"],
        "user_id": int(row["user_id"]),
        "status": status,
        "status_label": status.label,
        "amount": row["amount"],
        "currency": row["currency"],
        "debtor": {
            "name": row["debtor_name"],
            "street": row["debtor_street"],
            "postal_code": row["debtor_postal_code"],
            "city": row["debtor_city"],
            "country": row["debtor_country"],
        },
        "errors": list(row["errors"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": int(row["version"]),
        "at_diagonal": bool(row["at_diagonal"]),
        "fell_back": bool(row["fell_back"]),
        "entered_month": row["entered_month"],
        "handed_over_at": row["handed_over_at"],
        "awaiting_diagonal_close": bool(row["awaiting_diagonal_close"]),
        "closed_at_diagonal_at": row["closed_at_diagonal_at"],
    }
    if not vendor:
        item.update(
            status_before_block=(
                Status(row["status_before_block"]) if row["status_before_block"] else None
            ),
            stuck=(
                row["status"] == Status.RUNNING.value
                and running_since is not None
                and (now - running_since).total_seconds() > stuck_after_hours * 3600
            ),
            last_change={
                "at": row["updated_at"],
                "event": row["last_event"],
                "actor": {"role": row["last_actor_role"], "id": row["last_actor_id"]},
                "reason": row["last_reason"],
            },
            payment_reference=row["payment_reference"],
        )
    return item
