"""Support's view of the log runner: events a processor parked because it could not write
them (thin: ask the runner, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from debtcases.api.deps import ContainerDep, SupportActor
from debtcases.api.responses import Problem

router = APIRouter(prefix="/api/v1/support", tags=["support"])

_P = {"model": Problem, "content": {"application/problem+json": {}}}


class ParkedEventOut(BaseModel):
    id: int
    processor: str
    view: str
    generation: int
    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    error: str
    first_seen: str
    last_seen: str
    attempts: int
    resolved_at: str | None
    resolution: str | None


class ParkedEventsOut(BaseModel):
    unresolved: int
    items: list[ParkedEventOut]


@router.get(
    "/parked-events",
    response_model=ParkedEventsOut,
    responses={
        401: {**_P, "description": "Missing or invalid token"},
        403: {**_P, "description": "Only support"},
        422: {**_P, "description": "`validation_error`: `include_resolved` is not a boolean"},
    },
    summary="Events a view or the outbox could not write, set aside (support)",
)
def parked_events(
    actor: SupportActor,
    container: ContainerDep,
    include_resolved: Annotated[
        bool, Query(description="Also list parked events a retry has resolved")
    ] = False,
) -> Any:
    """An event a processor on the log runner (`views`: per view; `outbox`) cannot write
    is parked with its error, in the transaction that moves the processor past it, so
    nothing else waits for it. `/readyz` is not ready while any is unresolved. After a
    fix, `debtcases parked retry` (or a restart) re-applies them through the same fold and
    stamps `resolved_at`; rows are never deleted."""
    items = [p.as_dict() for p in container.runner.parked(include_resolved)]
    unresolved = sum(1 for p in items if p["resolved_at"] is None)
    return ParkedEventsOut(unresolved=unresolved, items=[ParkedEventOut(**p) for p in items])
