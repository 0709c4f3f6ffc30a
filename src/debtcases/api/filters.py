"""The list filters shared by the JSON lists and the CSV downloads, validated one way:
an unknown status or a bad period is a 422, never an empty answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from debtcases.api.schemas import ORDER_ID_PATTERN, OrderIdStr
from debtcases.domain.actors import Role
from debtcases.domain.holds import HoldReason
from debtcases.domain.statuses import Status, parse_statuses
from debtcases.projections.queries import CaseFilter, parse_period

# The list filters as query parameters, shared by the JSON lists and the CSV downloads.
StatusQuery = Annotated[
    str | None,
    Query(
        description="One status or several, comma-separated, by code or by label, any case "
        "(e.g. `LOCKED,RUNNING` or `Gesperrt,Ans Inkasso übergeben`)"
    ),
]
PeriodQuery = Annotated[
    str | None,
    Query(
        description="`YYYY-MM` (month the case entered dunning, Europe/Berlin) or "
        "`all` / `Alle Perioden` / `alle` (the default)"
    ),
]
OrderQuery = Annotated[
    OrderIdStr | None,
    Query(description="One order; trimmed, and found whatever the case (`b-1001` finds `B-1001`)"),
]
SearchQuery = Annotated[
    str | None,
    Query(
        max_length=80,
        description="The one search field: an order id or a vendor's User-ID. All digits: "
        "the User-ID if that vendor has cases, else the order id; anything else: the order id "
        "(trimmed, any case). The answer says which it matched (`matched`).",
    ),
]
FellBackQuery = Annotated[
    bool | None,
    Query(
        description="`true`: only cases whose status fell back by itself (Diagonal rejected "
        "them after a handover or during support's repair): the specialist's worklist"
    ),
]
HoldReasonQuery = Annotated[
    HoldReason | None,
    Query(
        description="Support only: blocked cases whose hold has this reason code "
        "(`dispute`, `promise_to_pay`, `vendor_unsure`, `legal_check`, `other`)"
    ),
]
HoldEndsQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=3660,
        description="Support only: blocked cases whose hold ends by itself within this many "
        "days from now (`0`: holds whose end has come and is being processed)",
    ),
]
VendorQuery = Annotated[int | None, Query(gt=0, lt=2**53, description="Vendor User-ID")]


def invalid_query(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )


def case_filter(
    role: Role,
    order_id: str | None,
    user_id: int | None,
    status: str | None,
    period: str | None,
    fell_back: bool | None = None,
) -> CaseFilter:
    statuses: tuple[Status, ...] = ()
    if status is not None and status.strip():
        try:
            statuses = tuple(parse_statuses(status))
        except ValueError as exc:
            raise invalid_query("status", str(exc)) from None
        if role is Role.VENDOR and Status.BLOCKED in statuses:
            # Vendors never see BLOCKED, so for them it is not a status at all.
            allowed = ", ".join(s.value for s in Status if s is not Status.BLOCKED)
            raise invalid_query("status", f"unknown status 'BLOCKED'; allowed: {allowed}")
    try:
        month = parse_period(period)
    except ValueError as exc:
        raise invalid_query("period", str(exc)) from None
    return CaseFilter(
        order_id=order_id or None,
        user_id=user_id,
        statuses=statuses,
        period=month,
        fell_back=fell_back,
    )


Matched = Literal["order_id", "user_id"]
_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_USER_ID = re.compile(r"[0-9]{1,15}")  # ASCII digits only: "٧٩٤٢٤" is not a User-ID


@dataclass(frozen=True)
class Search:
    """What ``q`` turned out to be: the filter to apply and which field it matched (None:
    neither an order nor a vendor with cases; the filter then finds nothing)."""

    filter: CaseFilter
    matched: Matched | None


def resolve_search(views: Any, q: str, base: CaseFilter) -> Search:
    """The article's one search field. ``base`` holds the other filters (not order/user)."""
    text = q.strip()
    if not _ORDER_ID.fullmatch(text):
        raise invalid_query(
            "q",
            "search for an order id (e.g. B-2024-000123) or a User-ID (digits 0-9)",
        )
    by_order = replace(base, order_id=text)
    if _USER_ID.fullmatch(text) and 0 < int(text) < 2**53:
        by_user = replace(base, user_id=int(text))
        if _exists(views, replace(by_user, statuses=(), period=None)):
            return Search(by_user, "user_id")
    if _exists(views, replace(by_order, statuses=(), period=None)):
        return Search(by_order, "order_id")
    return Search(by_order, None)


def _exists(views: Any, f: CaseFilter) -> bool:
    _, total = views.page_cases(f, Role.SUPPORT, None, 1, 1)
    return bool(total)


def search_filter(
    views: Any,
    role: Role,
    q: str | None,
    order_id: str | None,
    user_id: int | None,
    status: str | None,
    period: str | None,
    fell_back: bool | None = None,
) -> Search:
    """The list filter of the support list and its CSV, with or without ``q``."""
    f = case_filter(role, order_id, user_id, status, period, fell_back)
    if q is None or not q.strip():
        return Search(f, None)
    if order_id or user_id is not None:
        raise invalid_query("q", "search with q, or filter by order_id / user_id, not both")
    return resolve_search(views, q, f)
