"""Support's look at the Diagonal edge: the outbox (what was / is to be sent) and the
watchdog (cases RUNNING too long without Diagonal's 'received')."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from debtcases.api.deps import ContainerDep, SupportActor

router = APIRouter(prefix="/api/v1/support/diagonal", tags=["diagonal"])


def _edge(container: ContainerDep) -> Any:
    if container.diagonal is None:
        raise HTTPException(404, "The Diagonal edge is not configured.")
    return container.diagonal


@router.get("/outbox", summary="Outgoing Diagonal messages, oldest first")
def outbox(
    container: ContainerDep,
    _actor: SupportActor,
    order_id: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Every message the cases' events called for (handover, withdrawal, payment,
    address_update, portal_access), with ``sent_at`` once the broker (or the simulator)
    took it. ``backlog`` counts the messages not yet delivered."""
    edge = _edge(container)
    rows = edge.outbox.messages(order_id=order_id, limit=limit)
    return {
        "backlog": edge.outbox.backlog(),
        "items": [
            {
                "position": r.position,
                "message_id": r.message_id,
                "type": r.type,
                "order_id": r.order_id,
                "created_at": r.created_at.isoformat(),
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                "payload": r.payload,
            }
            for r in rows
        ],
    }


@router.get("/stuck", summary="Cases RUNNING too long without Diagonal's 'received'")
def stuck(container: ContainerDep, _actor: SupportActor) -> dict[str, Any]:
    """The watchdog: cases RUNNING longer than ``stuck_after_hours`` (default 48) without
    Diagonal's acknowledgement; support may check with Diagonal or hand over by hand."""
    edge = _edge(container)
    hours = container.settings.stuck_after_hours
    items = edge.outbox.stuck_cases(container.clock() - timedelta(hours=hours))
    return {"stuck_after_hours": hours, "total": len(items), "items": items}
