"""The case lists (Schulden tab, Inkasso-Beta tab), vendor collection access, /metrics.
Thin: parse the query, ask the views, answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field, TypeAdapter

from debtcases.api.cursors import AFTER_PATTERN, decode_cursor, encode_cursor
from debtcases.api.cursors import LENGTH as CURSOR_LENGTH
from debtcases.api.deps import ContainerDep, SupportActor, VendorActor
from debtcases.api.filters import (
    AsOfQuery,
    FellBackQuery,
    HoldEndsQuery,
    HoldReasonQuery,
    Matched,
    OrderQuery,
    PeriodQuery,
    SearchQuery,
    StatusQuery,
    VendorQuery,
    VendorStatusQuery,
    case_filter,
    days_after,
    invalid_query,
    parse_moment,
    search_filter,
)
from debtcases.api.responses import CaseOut, Problem, SupportCaseOut
from debtcases.domain.actors import Actor, Role
from debtcases.projections.queries import CaseFilter, CaseListPage

router = APIRouter(tags=["queries"])  # full paths: /metrics lives at the root

_P = {"model": Problem, "content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**_P, "description": "Missing or invalid token"},
    403: {**_P, "description": "This role may not do this"},
    422: {
        **_P,
        "description": "`validation_error`: unknown status, bad period, paging or search, "
        "or an unknown query parameter",
    },
}


class CasePage(BaseModel):
    items: list[SupportCaseOut | CaseOut] = Field(
        description="The cases in the one shape of a case: SupportCaseOut for support, "
        "CaseOut (the vendor's fields) for a vendor"
    )
    total: int
    page: int = Field(
        description="This page's number: `page`, or with `after` the number the cursor "
        "carries (one more than the page it came from)"
    )
    page_size: int
    matched: Matched | None = Field(
        default=None, description="With `q`: whether it was taken as an order id or a User-ID"
    )
    next_after: str | None = Field(
        default=None,
        pattern=AFTER_PATTERN,
        description="The cursor of the next page: pass it as `after` with the same filters "
        "(null: this is the last page)",
    )


class PortalAccessMessage(BaseModel):
    """The one `portal_access` message for this vendor (topic diagonal.portal-access)."""

    message_id: str
    order_id: str = Field(description="The vendor's first case to reach Diagonal")
    granted_at: datetime = Field(description="When that case reached HANDED_OVER")
    sent_at: datetime | None = Field(
        description="When the broker (or, in embedded mode, "
        "the simulator) took the message; null while pending"
    )


class CollectionAccessOut(BaseModel):
    user_id: int
    has_cases_at_diagonal: bool
    portal_access: bool = Field(
        description="Diagonal's portal access follows the first handed-over case"
    )
    since: datetime | None = Field(description="First handover to Diagonal")
    cases_total: int
    cases_at_diagonal: int = Field(
        description="Cases Diagonal has or is being sent: the cases' own `at_diagonal`"
    )
    by_status: dict[str, int]
    portal_access_message: PortalAccessMessage | None = None


PageQuery = Annotated[
    int,
    Query(ge=1, le=1_000_000, description="1-based page (at most 1,000,000); ignored with `after`"),
]
AfterQuery = Annotated[
    str | None,
    Query(
        min_length=CURSOR_LENGTH,
        max_length=CURSOR_LENGTH,
        pattern=AFTER_PATTERN,
        description="Keyset pagination: the page after this cursor (a list's `next_after`, "
        "opaque), read straight from the index however deep (`page` is then ignored). Send "
        "it with the same filters: it only says where in the order to start, so with other "
        "filters it starts there in that list and never shows a case outside them.",
    ),
]
PageSizeQuery = Annotated[int, Query(ge=1, le=500, description="Items per page (1..500)")]
AdmittedQuery = Annotated[
    Literal["manual"] | None, Query(description="`manual`: only orders admitted by hand")
]


@router.get(
    "/api/v1/support/cases",
    response_model=CasePage,
    responses=RESPONSES,
    summary="Schulden tab: every case, searchable and filtered (support)",
)
def support_cases(
    actor: SupportActor,
    container: ContainerDep,
    q: SearchQuery = None,
    order_id: OrderQuery = None,
    user_id: VendorQuery = None,
    status: StatusQuery = None,
    period: PeriodQuery = None,
    fell_back: FellBackQuery = None,
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
    admitted: AdmittedQuery = None,
    hold_reason: HoldReasonQuery = None,
    hold_ends_within_days: HoldEndsQuery = None,
    as_of: AsOfQuery = None,
    after: AfterQuery = None,
) -> Response:
    """Search by order id or vendor User-ID (one field `q`, or `order_id` / `user_id`),
    filter by status and period; newest change first. Statuses as support sees them
    (BLOCKED included). `admitted=manual`: only the orders support admitted by hand.
    `hold_reason`, `hold_ends_within_days`: blocked cases by their hold. `as_of`: the list
    as it stood at that moment (holds ending within N days of it; the total is counted).
    `after`: the page after a cursor (`next_after`), with any of these filters."""
    views = container.views
    moment = parse_moment("as_of", as_of)
    search = search_filter(views, actor.role, q, order_id, user_id, status, period, fell_back)
    f = replace(
        search.filter,
        hold_reason=hold_reason.value if hold_reason is not None else None,
        hold_ends_by=None
        if hold_ends_within_days is None
        else days_after(moment or container.clock(), hold_ends_within_days),
    )
    if admitted == "manual":
        f = replace(f, order_ids=tuple(container.orders.manual_orders()))
    found, number = _page(container, f, actor, page, page_size, after, moment)
    return _json(case_page(found, number, page_size, SupportCaseOut, search.matched))


@router.get(
    "/api/v1/vendor/cases",
    response_model=CasePage,
    responses=RESPONSES,
    summary="Inkasso-Beta tab: the calling vendor's own cases (vendor)",
)
def vendor_cases(
    actor: VendorActor,
    container: ContainerDep,
    order_id: OrderQuery = None,
    status: VendorStatusQuery = None,
    period: PeriodQuery = None,
    fell_back: FellBackQuery = None,
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
    as_of: AsOfQuery = None,
    after: AfterQuery = None,
) -> Response:
    """Only the vendor's own cases; a blocked case shows the status before the block (and
    `status=` filters on that status); support-only details are absent. `as_of`: the list
    as it stood at that moment, as the vendor saw it then. `after`: the page after a
    cursor (`next_after`); never another vendor's cases, whatever the cursor."""
    moment = parse_moment("as_of", as_of)
    f = case_filter(actor.role, order_id, None, status, period, fell_back)
    found, number = _page(container, f, actor, page, page_size, after, moment)
    return _json(case_page(found, number, page_size, CaseOut))


def _page(
    container: Any,
    f: CaseFilter,
    actor: Actor,
    page: int,
    page_size: int,
    after: str | None,
    moment: datetime | None,
) -> tuple[CaseListPage, int]:
    """The page the request asks for (by ``after`` if given, else by ``page``) and its
    number."""
    vendor_id = actor.vendor_id if actor.role is Role.VENDOR else None
    if after is None:
        found = container.views.list_cases(
            f, actor.role, vendor_id, page_size, page=page, as_of=moment
        )
        return found, page
    try:
        cursor = decode_cursor(after)
    except ValueError as exc:
        raise invalid_query("after", str(exc)) from None
    found = container.views.list_cases(
        f, actor.role, vendor_id, page_size, after=cursor.key, as_of=moment
    )
    return found, cursor.page


def _next(found: CaseListPage, number: int) -> str | None:
    return None if found.next_after is None else encode_cursor(found.next_after, number + 1)


def case_page(
    found: CaseListPage,
    number: int,
    page_size: int,
    model: type[CaseOut],
    matched: Matched | None = None,
) -> CasePage:
    """The answer of a list: its items as ``model`` (support's or the vendor's shape),
    validated as one list (the same models as ``model(**item)`` each, in one call)."""
    return CasePage(
        items=_ITEMS[model].validate_python(found.items),
        total=found.total,
        page=number,
        page_size=page_size,
        matched=matched,
        next_after=_next(found, number),
    )


_ITEMS: dict[type[CaseOut], TypeAdapter[list[Any]]] = {
    SupportCaseOut: TypeAdapter(list[SupportCaseOut]),
    CaseOut: TypeAdapter(list[CaseOut]),
}


def _json(page: CasePage) -> Response:
    """``page`` serialised once, here: the bytes FastAPI would send for it as the
    ``response_model`` (``TypeAdapter(CasePage).dump_json(page, by_alias=True)`` is what
    it runs), without FastAPI validating the model again on a second thread hop first
    (tests/integration/test_list_bytes.py compares both). The route keeps
    ``response_model=CasePage`` for the OpenAPI document."""
    return Response(page.model_dump_json(by_alias=True), media_type="application/json")


@router.get(
    "/api/v1/support/vendors/{user_id}/collection-access",
    response_model=CollectionAccessOut,
    responses=RESPONSES,
    summary="Does this vendor have cases at Diagonal (and so portal access)?",
)
def collection_access(
    user_id: Annotated[int, Path(gt=0, lt=2**53)],
    actor: SupportActor,
    container: ContainerDep,
) -> CollectionAccessOut:
    """A vendor gets Diagonal's portal access once their first case is handed over; a
    vendor without cases (or with only LOCKED ones) has none."""
    access = container.views.collection_access(user_id)
    message = container.diagonal.outbox.portal_access(user_id)
    portal = PortalAccessMessage(**message) if message is not None else None
    return CollectionAccessOut(**access, portal_access_message=portal)


@router.get(
    "/metrics",
    include_in_schema=True,
    tags=["service"],
    summary="Prometheus metrics (projection lag, parked events, runner failures, ...)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(container: ContainerDep) -> Response:
    from debtcases.api.metrics import exposition
    from debtcases.consumers import metrics as edge
    from debtcases.projections.metrics import observe_lag, observe_parked

    observe_lag(container.views)
    observe_parked(container.runner)
    # Gauges read at scrape time: the watchdog (one answer: the cases view) and the outbox.
    edge.CASES_STUCK.set(len(container.views.stuck_cases()))
    edge.OUTBOX_BACKLOG.set(container.diagonal.outbox.backlog())
    body, content_type = exposition()
    return Response(body, media_type=content_type)
