"""The list filters shared by the JSON lists and the CSV downloads, validated one way:
an unknown status or a bad period is a 422, never an empty answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from debtcases.api.fields import AT_PATTERN, ORDER_ID_PATTERN, WS, OrderIdStr, trim
from debtcases.domain.actors import Role
from debtcases.domain.holds import HoldReason
from debtcases.domain.statuses import Status, parse_statuses
from debtcases.projections.queries import ALL_PERIODS, CaseFilter, parse_period

# The document states each filter's language exactly, as a pattern; the server checks the
# value against that same pattern first (so a status the domain's parser would also read,
# such as a Kelvin sign for K, is refused as the document says) and then parses it.


def _any_case(text: str) -> str:
    """A pattern matching ``text`` in any case, any run of whitespace for a space."""
    out = []
    for ch in text:
        if ch == " ":
            out.append(f"{WS}+")
        elif ch.lower() != ch.upper():
            out.append(f"[{ch.upper()}{ch.lower()}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _status_list_pattern(statuses: list[Status]) -> str:
    names = sorted({n for s in statuses for n in (s.value, s.label)}, key=str.casefold)
    one = "(?:" + "|".join(_any_case(n) for n in names) + ")"
    # Comma-separated; blank parts are skipped, but one part must name a status. A blank
    # value is no filter.
    return f"^(?:{WS}*|(?:{WS}*,)*{WS}*{one}{WS}*(?:,{WS}*(?:{one}{WS}*)?)*)$"


STATUS_PATTERN = _status_list_pattern(list(Status))
# A vendor never sees BLOCKED, so for them it is no status at all.
VENDOR_STATUS_PATTERN = _status_list_pattern([s for s in Status if s is not Status.BLOCKED])
_ALL_PERIODS = "|".join(_any_case(p) for p in sorted(ALL_PERIODS, key=len, reverse=True) if p)
PERIOD_PATTERN = f"^{WS}*(?:[0-9]{{4}}-(?:0[1-9]|1[0-2])|{_ALL_PERIODS})?{WS}*$"
SEARCH_PATTERN = f"^{WS}*(?:{ORDER_ID_PATTERN.removeprefix('^').removesuffix('$')})?{WS}*$"
_STATUS = re.compile(STATUS_PATTERN)
_VENDOR_STATUS = re.compile(VENDOR_STATUS_PATTERN)
_PERIOD = re.compile(PERIOD_PATTERN)
_SEARCH = re.compile(SEARCH_PATTERN)
_AT = re.compile(AT_PATTERN)

_STATUS_HELP = (
    "One status or several, comma-separated, by code or by label, in any case "
    "(e.g. `LOCKED,RUNNING` or `Gesperrt,Ans Inkasso übergeben`); blank: any status. "
)


def _status_query(pattern: str, extra: str) -> Any:
    return Query(
        description=_STATUS_HELP + extra,
        json_schema_extra={"pattern": pattern},
        examples=["LOCKED,RUNNING", "Gesperrt"],
    )


# The list filters as query parameters, shared by the JSON lists and the CSV downloads.
StatusQuery = Annotated[
    str | None,
    _status_query(STATUS_PATTERN, "Codes: " + ", ".join(f"{s.value} ({s.label})" for s in Status)),
]
VendorStatusQuery = Annotated[
    str | None,
    _status_query(
        VENDOR_STATUS_PATTERN,
        "A vendor never sees BLOCKED (Blockiert): it is no status here (422).",
    ),
]
PeriodQuery = Annotated[
    str | None,
    Query(
        description="`YYYY-MM` (month the case entered dunning, Europe/Berlin; digits 0-9) "
        "or `all` / `alle` / `Alle Perioden` in any case, or blank: every period (the default)",
        json_schema_extra={"pattern": PERIOD_PATTERN},
        examples=["2024-05", "Alle Perioden"],
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
        json_schema_extra={"pattern": SEARCH_PATTERN},
        description="The one search field: an order id or a vendor's User-ID. All digits: "
        "the User-ID if that vendor has cases, else the order id; anything else: the order id "
        "(trimmed, any case). The answer says which it matched (`matched`). Together with "
        "`order_id` or `user_id` every filter applies (a contradiction finds nothing).",
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


def moment_query(description: str, alias: str | None = None) -> Any:
    """A moment as a query parameter: ISO 8601 with a UTC offset (``AT_PATTERN``)."""
    return Query(
        alias=alias,
        pattern=AT_PATTERN,
        description=description
        + " ISO 8601 with a UTC offset (`2024-06-01T00:00:00Z`, `2024-06-01T02:00:00+02:00`).",
        examples=["2024-06-01T00:00:00Z"],
    )


AsOfQuery = Annotated[
    str | None,
    moment_query(
        "The answer as it stood at this moment (each case replayed up to it; a vendor sees "
        "it as they always do); default: now."
    ),
]


def parse_moment(field: str, text: str | None) -> datetime | None:
    """A moment (``AT_PATTERN``: only moments that exist) as a datetime in UTC. One whose
    offset puts it before year 1 or after year 9999 in UTC is the earliest or latest
    moment (nothing happened before or after either)."""
    if text is None:
        return None
    if not _AT.fullmatch(text):
        raise invalid_query(field, f"not a moment with a UTC offset: {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_query(field, f"not a moment: {text!r}") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


def days_after(moment: datetime, days: int) -> datetime:
    """``moment`` plus ``days``, at most the latest moment there is."""
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def invalid_query(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )


# No order id is empty (ids have 1 to 64 characters): the filter that finds no case, for
# filters that contradict each other.
NO_CASE = CaseFilter(order_id="")


def case_filter(
    role: Role,
    order_id: str | None,
    user_id: int | None,
    status: str | None,
    period: str | None,
    fell_back: bool | None = None,
) -> CaseFilter:
    statuses: tuple[Status, ...] = ()
    if status is not None:
        pattern = _VENDOR_STATUS if role is Role.VENDOR else _STATUS
        if not pattern.fullmatch(status):
            raise invalid_query("status", _status_error(status, role))
        if trim(status):
            statuses = tuple(parse_statuses(status))
    if period is not None and not _PERIOD.fullmatch(period):
        try:
            parse_period(period)
        except ValueError as exc:
            raise invalid_query("period", str(exc)) from None
        raise invalid_query(
            "period", f"period must be YYYY-MM (e.g. 2024-05) or 'all', not {period!r}"
        )
    month = parse_period(period)
    return CaseFilter(
        order_id=order_id or None,
        user_id=user_id,
        statuses=statuses,
        period=month,
        fell_back=fell_back,
    )


def _status_error(status: str, role: Role) -> str:
    """The domain parser's message, which names the unknown status."""
    visible = [s for s in Status if role is not Role.VENDOR or s is not Status.BLOCKED]
    allowed = ", ".join(f"{s.value} ({s.label})" for s in visible)
    try:
        found = parse_statuses(status)
    except ValueError as exc:
        if role is not Role.VENDOR:
            return str(exc)
        message = str(exc)
        return message.split("; allowed:")[0] + f"; allowed: {allowed}"
    if role is Role.VENDOR and Status.BLOCKED in found:
        # Vendors never see BLOCKED, so for them it is not a status at all.
        return f"unknown status 'BLOCKED'; allowed: {allowed}"
    return f"unknown status in {status!r}; allowed: {allowed}"


Matched = Literal["order_id", "user_id"]
_USER_ID = re.compile(r"[0-9]{1,15}")  # ASCII digits only: "٧٩٤٢٤" is not a User-ID


@dataclass(frozen=True)
class Search:
    """What ``q`` turned out to be: the filter to apply and which field it matched (None:
    neither an order nor a vendor with cases; the filter then finds nothing)."""

    filter: CaseFilter
    matched: Matched | None


def resolve_search(views: Any, q: str, base: CaseFilter) -> Search:
    """The article's one search field, within the other filters in ``base``: a User-ID if
    that vendor has cases (among ``base``'s order/vendor), else an order id."""
    if not _SEARCH.fullmatch(q):
        raise invalid_query(
            "q",
            "search for an order id (e.g. B-2024-000123) or a User-ID (digits 0-9)",
        )
    text = trim(q)
    if _USER_ID.fullmatch(text) and 0 < int(text) < 2**53 and base.user_id in (None, int(text)):
        by_user = replace(base, user_id=int(text))
        if _exists(views, replace(by_user, statuses=(), period=None)):
            return Search(by_user, "user_id")
    if base.order_id is not None and base.order_id.casefold() != text.casefold():
        return Search(NO_CASE, None)  # q and order_id name two orders
    by_order = replace(base, order_id=text)
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
    """The list filter of the support list and its CSV, with or without ``q``; with
    ``order_id`` or ``user_id`` too, every filter applies."""
    f = case_filter(role, order_id, user_id, status, period, fell_back)
    if q is None or (_SEARCH.fullmatch(q) and not trim(q)):
        return Search(f, None)
    return resolve_search(views, q, f)
