"""The list pages' query: search, status filter, period, paging, counts per status, all
through the views' own queries (the same as the JSON lists), so they stay fast at a million
cases."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from debtcases.api.fields import ORDER_ID_PATTERN
from debtcases.api.web.fmt import BERLIN
from debtcases.domain.actors import Role
from debtcases.domain.holds import HoldReason
from debtcases.domain.rules import visible_status
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter, parse_period

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
MAX_USER_ID = 2**53
MAX_HOLD_DAYS = 3660  # as the support list API takes it


@dataclass
class ListQuery:
    """What the user asked for, as typed (kept to show it again), and what it means."""

    q: str = ""
    statuses: tuple[Status, ...] = ()
    period: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    order_id: str | None = None
    user_id: int | None = None
    matched: str = ""  # what the search matched, in words
    # Support only (a vendor never sees a hold): the hold's reason code, and "ends within
    # N days" (as typed, and the moment it means).
    hold_reason: str | None = None
    hold_days: str = ""
    hold_ends_by: datetime | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def filter(self) -> CaseFilter:
        return CaseFilter(
            order_id=self.order_id,
            user_id=self.user_id,
            statuses=self.statuses,
            period=self.period,
            hold_reason=self.hold_reason,
            hold_ends_by=self.hold_ends_by,
        )

    def params(self, **override: Any) -> str:
        """The query string of this list (with overrides), e.g. for the pager and export."""
        values: dict[str, Any] = {
            "q": self.q,
            "status": [s.value for s in self.statuses],
            "periode": self.period or "all",
            "sperre": self.hold_reason,
            "endet_in": self.hold_days,
            "seite": self.page,
            "groesse": self.page_size,
        }
        values.update(override)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if value is None or value == "" or value == []:
                continue
            if isinstance(value, list):
                pairs.extend((key, str(v)) for v in value)
            else:
                pairs.append((key, str(value)))
        return urlencode(pairs)


# The hold filters' query parameters (support's list and export only).
HOLD_PARAMS = ("sperre", "endet_in")


def parse_list_query(
    params: QueryParams, role: Role, has_case: Any, now: datetime | None = None
) -> ListQuery:
    """Read the list's query parameters. A malformed value is reported next to its field and
    never widens the list: the list is then empty rather than unfiltered. ``now`` is the
    moment "the hold ends within N days" counts from (support only)."""
    lq = ListQuery(q=(params.get("q") or "").strip()[:100])
    statuses: list[Status] = []
    for raw in params.getlist("status"):
        try:
            status = Status(raw.strip().upper())
        except ValueError:
            lq.errors["status"] = f"Unbekannter Status {raw!r}."
            continue
        if role is Role.VENDOR and status is Status.BLOCKED:
            lq.errors["status"] = f"Unbekannter Status {raw!r}."
            continue
        if status not in statuses:
            statuses.append(status)
    lq.statuses = tuple(statuses)
    try:
        lq.period = parse_period(params.get("periode"))
    except ValueError:
        lq.errors["periode"] = "Periode als Monat (JJJJ-MM) oder „Alle Perioden“."
    if role is Role.SUPPORT:
        _parse_hold_filters(lq, params, now)
    lq.page = _int(params.get("seite"), 1, 1, 1_000_000)
    lq.page_size = _int(params.get("groesse"), DEFAULT_PAGE_SIZE, 1, 500)
    _resolve_search(lq, role, has_case)
    return lq


def _parse_hold_filters(lq: ListQuery, params: QueryParams, now: datetime | None) -> None:
    """``sperre``: blocked cases whose hold has this reason code; ``endet_in=N``: blocked
    cases whose hold ends by itself within N days (the support list API's ``hold_reason``
    and ``hold_ends_within_days``)."""
    reason = (params.get("sperre") or "").strip()
    if reason:
        if reason in {r.value for r in HoldReason}:
            lq.hold_reason = reason
        else:
            lq.errors["sperre"] = f"Unbekannter Sperrgrund {reason!r}."
    days = (params.get("endet_in") or "").strip()[:10]
    lq.hold_days = days
    if days:
        if not (days.isascii() and days.isdigit()) or int(days) > MAX_HOLD_DAYS:
            lq.errors["endet_in"] = f"Anzahl Tage als ganze Zahl von 0 bis {MAX_HOLD_DAYS}."
        elif now is not None:
            lq.hold_ends_by = now + timedelta(days=int(days))


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text or default)
    except ValueError:
        return default
    return min(max(value, low), high)


def _resolve_search(lq: ListQuery, role: Role, has_case: Any) -> None:
    """ONE search field: digits are a vendor's User-ID (support only), anything else an
    order ID, matched case-insensitively (as typed, else in capitals, as order IDs are
    issued)."""
    text = lq.q
    if not text:
        return
    if text.isdigit() and role is Role.SUPPORT:
        user_id = int(text)
        if not 0 < user_id < MAX_USER_ID:
            lq.errors["q"] = "Keine gültige User-ID."
            return
        lq.user_id = user_id
        lq.matched = f"User-ID {user_id}: alle Fälle dieses Händlers"
        return
    if not re.fullmatch(ORDER_ID_PATTERN, text):
        lq.errors["q"] = (
            "Bitte eine Bestell-ID (z. B. B-2024-000123)"
            + (" oder eine User-ID (nur Ziffern)" if role is Role.SUPPORT else "")
            + " eingeben."
        )
        return
    for candidate in dict.fromkeys((text, text.upper(), text.lower())):
        if has_case(candidate):
            lq.order_id = candidate
            lq.matched = f"Bestell-ID {candidate}"
            return
    lq.order_id = text.upper()
    lq.matched = f"Bestell-ID {text.upper()}"


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    total: int
    counts: list[tuple[Status, int]]
    pages: int


def run_list(views: Any, lq: ListQuery, role: Role, vendor_id: int | None) -> ListResult:
    if lq.errors:
        return ListResult([], 0, [(s, 0) for s in shown_statuses(role)], 0)
    items, total = views.page_cases(lq.filter(), role, vendor_id, lq.page, lq.page_size)
    counts = []
    for status in shown_statuses(role):
        # page_size 1: the total comes from the counts tables, not a COUNT(*) over the rows.
        _, n = views.page_cases(replace(lq.filter(), statuses=(status,)), role, vendor_id, 1, 1)
        counts.append((status, n))
    pages = max(1, -(-total // lq.page_size))
    return ListResult(items, total, counts, pages)


def shown_statuses(role: Role) -> list[Status]:
    return [s for s in Status if not (role is Role.VENDOR and s is Status.BLOCKED)]


def period_choices(now: datetime, months: int = 24) -> list[str]:
    """The last ``months`` calendar months (Europe/Berlin), newest first."""
    local = now.astimezone(BERLIN)
    year, month = local.year, local.month
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out


def as_vendor_sees(item: dict[str, Any]) -> dict[str, Any]:
    """A support list item with the status the vendor sees (a block is invisible)."""
    status = visible_status(
        Status(str(item["status"])), item.get("status_before_block"), Role.VENDOR
    )
    return {**item, "status": status, "status_label": status.label}
