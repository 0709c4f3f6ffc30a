"""Support's look at the Diagonal edge: the outbox (what was / is to be sent) and the
watchdog (cases RUNNING too long without Diagonal's 'received')."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from debtcases.api.deps import ContainerDep, SupportActor
from debtcases.api.fields import ORDER_ID_PATTERN
from debtcases.api.responses import Problem

router = APIRouter(prefix="/api/v1/support/diagonal", tags=["diagonal"])

_P = {"model": Problem, "content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**_P, "description": "Missing or invalid token"},
    403: {**_P, "description": "Support only"},
    404: {**_P, "description": "The Diagonal edge is not configured"},
    422: {**_P, "description": "`validation_error`"},
}


class OutboxMessage(BaseModel):
    position: int
    message_id: str
    type: str = Field(description="handover, withdrawal, payment, address_update, portal_access")
    order_id: str
    created_at: datetime
    sent_at: datetime | None = Field(description="When the broker (or simulator) took it")
    payload: dict[str, Any]


class OutboxOut(BaseModel):
    backlog: int = Field(description="Messages not yet delivered")
    items: list[OutboxMessage]


class StuckCase(BaseModel):
    order_id: str
    user_id: int
    running_since: datetime


class StuckOut(BaseModel):
    stuck_after_hours: float
    total: int
    items: list[StuckCase]


def _edge(container: ContainerDep) -> Any:
    if container.diagonal is None:
        raise HTTPException(404, "The Diagonal edge is not configured.")
    return container.diagonal


@router.get(
    "/outbox",
    response_model=OutboxOut,
    responses=RESPONSES,
    summary="Outgoing Diagonal messages, oldest first",
)
def outbox(
    container: ContainerDep,
    _actor: SupportActor,
    order_id: Annotated[str | None, Query(pattern=ORDER_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> OutboxOut:
    """Every message the cases' events called for (handover, withdrawal, payment,
    address_update, portal_access), with ``sent_at`` once the broker (or the simulator)
    took it. ``backlog`` counts the messages not yet delivered."""
    edge = _edge(container)
    rows = edge.outbox.messages(order_id=order_id, limit=limit)
    return OutboxOut(
        backlog=edge.outbox.backlog(),
        items=[
            OutboxMessage(
                position=r.position,
                message_id=r.message_id,
                type=r.type,
                order_id=r.order_id,
                created_at=r.created_at,
                sent_at=r.sent_at,
                payload=r.payload,
            )
            for r in rows
        ],
    )


@router.get(
    "/stuck",
    response_model=StuckOut,
    responses=RESPONSES,
    summary="Cases RUNNING too long without Diagonal's 'received'",
)
def stuck(container: ContainerDep, _actor: SupportActor) -> StuckOut:
    """The watchdog: cases RUNNING longer than ``stuck_after_hours`` (default 48) without
    Diagonal's acknowledgement; support may check with Diagonal or hand over by hand."""
    hours = container.settings.stuck_after_hours
    items = container.views.stuck_cases()
    return StuckOut(
        stuck_after_hours=hours, total=len(items), items=[StuckCase(**i) for i in items]
    )
