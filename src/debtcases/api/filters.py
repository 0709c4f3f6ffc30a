"""The list filters shared by the JSON lists and the CSV downloads, validated one way:
an unknown status or a bad period is a 422, never an empty answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from debtcases.api.schemas import ORDER_ID_PATTERN
from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status, parse_statuses
from debtcases.projections.queries import CaseFilter, parse_period

# The list filters as query parameters, shared by the JSON lists and the CSV downloads.
StatusQuery = Annotated[
    str | None, Query(description="One status or several, comma-separated (e.g. `LOCKED,RUNNING`)")
]
PeriodQuery = Annotated[
    str | None,
    Query(
        description="`YYYY-MM` (month the case entered dunning, Europe/Berlin) or `all` (default)"
    ),
]
OrderQuery = Annotated[str | None, Query(pattern=ORDER_ID_PATTERN, description="One order")]
FellBackQuery = Annotated[
    bool | None,
    Query(
        description="`true`: only cases whose status fell back by itself (Diagonal rejected "
        "them after a handover or during support's repair): the specialist's worklist"
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
