"""The case lists (Schulden tab, Inkasso-Beta tab), vendor collection access, /metrics.
Thin: parse the query, ask the views, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from debtcases.api.deps import ContainerDep, SupportActor, VendorActor
from debtcases.api.filters import (
    Matched,
    OrderQuery,
    PeriodQuery,
    SearchQuery,
    StatusQuery,
    VendorQuery,
    VendorStatusQuery,
    case_filter,
    search_filter,
)
from debtcases.api.schemas import ActorOut, CaseOut, Problem
from debtcases.domain.statuses import Status

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


class LastChange(BaseModel):
    at: datetime
    event: str
    actor: ActorOut
    reason: str


class CaseListItem(CaseOut):
    """A case as the lists show it: the single-case fields plus list extras. Support-only
    extras (`status_before_block`, `stuck`, `last_change`, `payment_reference`) are absent
    from the vendor's list."""

    entered_month: str = Field(description="YYYY-MM (Europe/Berlin) the case entered dunning")
    handed_over_at: datetime | None = None
    awaiting_diagonal_close: bool = Field(
        False, description="Cancelled/paid while at Diagonal; Diagonal has not closed it yet"
    )
    closed_at_diagonal_at: datetime | None = Field(
        None, description="When Diagonal confirmed it closed the case"
    )
    status_before_block: Status | None = None
    stuck: bool | None = Field(
        None, description="RUNNING longer than the configured bound without Diagonal's ack"
    )
    last_change: LastChange | None = None
    payment_reference: str | None = None


class CasePage(BaseModel):
    items: list[CaseListItem]
    total: int
    page: int
    page_size: int
    matched: Matched | None = Field(
        default=None, description="With `q`: whether it was taken as an order id or a User-ID"
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
    cases_at_diagonal: int = Field(description="Cases that ever reached HANDED_OVER")
    by_status: dict[str, int]
    portal_access_message: PortalAccessMessage | None = None


PageQuery = Annotated[
    int, Query(ge=1, le=1_000_000, description="1-based page (at most 1,000,000)")
]
PageSizeQuery = Annotated[int, Query(ge=1, le=500, description="Items per page (1..500)")]


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
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
) -> CasePage:
    """Search by order id or vendor User-ID (one field `q`, or `order_id` / `user_id`),
    filter by status and period; newest change first. Statuses as support sees them
    (BLOCKED included)."""
    views = container.views
    search = search_filter(views, actor.role, q, order_id, user_id, status, period)
    items, total = views.page_cases(search.filter, actor.role, None, page, page_size)
    return CasePage(
        items=[CaseListItem(**i) for i in items],
        total=total,
        page=page,
        page_size=page_size,
        matched=search.matched,
    )


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
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
) -> CasePage:
    """Only the vendor's own cases; a blocked case shows the status before the block (and
    `status=` filters on that status); support-only details are absent."""
    f = case_filter(actor.role, order_id, None, status, period)
    items, total = container.views.page_cases(f, actor.role, actor.vendor_id, page, page_size)
    return CasePage(
        items=[CaseListItem(**i) for i in items], total=total, page=page, page_size=page_size
    )


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
    summary="Prometheus metrics (projection lag, consumer lag, ...)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(container: ContainerDep) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    from debtcases.consumers import metrics as edge
    from debtcases.projections.metrics import observe_lag

    observe_lag(container.views)
    # Gauges read at scrape time: the watchdog (one answer: the cases view) and the outbox.
    edge.CASES_STUCK.set(len(container.views.stuck_cases()))
    edge.OUTBOX_BACKLOG.set(container.diagonal.outbox.backlog())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
