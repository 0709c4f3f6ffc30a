"""The Schulden tab's worklist: what a specialist looks at first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from debtcases.api.web.core import Support, container_of, render
from debtcases.domain.actors import Role
from debtcases.projections.queries import CaseFilter

router = APIRouter(prefix="/schulden", include_in_schema=False)
WORKLIST_LIMIT = 100


@router.get("/arbeitsliste")
def worklist(request: Request, user: Support) -> Response:
    """The specialist's lists: cases that fell back by themselves, stuck cases and the
    orders support admitted by hand (the article's hand-kept list)."""
    container = container_of(request)
    views = container.views
    fell_back, fell_back_total = views.page_cases(
        CaseFilter(fell_back=True), Role.SUPPORT, None, 1, WORKLIST_LIMIT
    )
    stuck = views.stuck_cases()
    manual_ids = tuple(container.orders.manual_orders())
    manual: list[dict[str, Any]] = []
    manual_total = 0
    if manual_ids:
        manual, manual_total = views.page_cases(
            CaseFilter(order_ids=manual_ids), Role.SUPPORT, None, 1, WORKLIST_LIMIT
        )
    return render(
        request,
        "worklist.html",
        {
            "fell_back": fell_back,
            "fell_back_total": fell_back_total,
            "stuck": stuck[:WORKLIST_LIMIT],
            "stuck_total": len(stuck),
            "hours": container.settings.stuck_after_hours,
            "manual": manual,
            "manual_total": manual_total,
        },
        user=user,
    )
