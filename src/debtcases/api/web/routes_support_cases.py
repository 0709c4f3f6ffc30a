"""The Schulden tab's case pages: a case's history and its actions (form and submit), on
the forms and commands the two tabs share (cases_common.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from debtcases.api.query_guard import takes_query
from debtcases.api.web import cases_common
from debtcases.api.web.core import Form, Support

router = APIRouter(prefix="/schulden", include_in_schema=False)


@router.get("/faelle/{order_id}/verlauf")
async def history(request: Request, user: Support, order_id: str) -> Response:
    return await cases_common.show_history(request, user, order_id)


@router.get("/faelle/{order_id}/{slug}")
@takes_query("zurueck")
async def action_form(request: Request, user: Support, order_id: str, slug: str) -> Response:
    return await cases_common.show_action(request, user, order_id, slug, "/schulden")


@router.post("/faelle/{order_id}/{slug}")
async def action_submit(
    request: Request, user: Support, form: Form, order_id: str, slug: str
) -> Response:
    return await cases_common.submit_action(request, user, order_id, slug, form, "/schulden")
