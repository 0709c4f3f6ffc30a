"""The Inkasso-Beta tab (vendor): own cases only, Play on LOCKED cases, filters, CSV export,
the history popup. A blocked case shows the status before the block; BLOCKED never
appears."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from debtcases.api.query_guard import takes_query
from debtcases.api.web import cases_common, lists
from debtcases.api.web.actions import PLAY, allowed_actions
from debtcases.api.web.core import WebUser, container_of, read_form, render, require
from debtcases.api.web.exports import csv_download, export_refused
from debtcases.domain.actors import Role
from debtcases.domain.rules import Command, allowed_from
from debtcases.domain.statuses import Status

router = APIRouter(prefix="/inkasso-beta", include_in_schema=False)
Form = Annotated[FormData, Depends(read_form)]


def vendor(request: Request) -> WebUser:
    return require(request, Role.VENDOR)


Vendor = Annotated[WebUser, Depends(vendor)]


@router.get("")
@takes_query("q", "status", "periode", "seite", "groesse")
def inkasso_beta(request: Request, user: Vendor) -> Response:
    container = container_of(request)
    lq = lists.parse_list_query(request.query_params, Role.VENDOR, container.cases.has_case)
    result = lists.run_list(container.views, lq, Role.VENDOR, user.actor.vendor_id)
    play_from = allowed_from(Role.VENDOR, Command.START)
    rows = [
        {
            **item,
            "can_play": Status(item["status"]) in play_from,
            "actions": [
                (a.slug, a.label)
                for a in allowed_actions(Role.VENDOR, item["status"])
                if a is not PLAY
            ],
        }
        for item in result.items
    ]
    return render(
        request,
        "inkasso.html",
        {
            "lq": lq,
            "result": result,
            "rows": rows,
            "statuses": lists.shown_statuses(Role.VENDOR),
            "periods": lists.period_choices(container.clock()),
            "page_sizes": lists.PAGE_SIZES,
            "self_url": f"/inkasso-beta?{lq.params()}",
        },
        user=user,
    )


@router.get("/export.csv")
@takes_query("q", "status", "periode", "seite", "groesse")
def export(request: Request, user: Vendor) -> Response:
    container = container_of(request)
    lq = lists.parse_list_query(request.query_params, Role.VENDOR, container.cases.has_case)
    if lq.errors:
        return export_refused(request, user, lq.errors, f"/inkasso-beta?{lq.params()}")
    rows = container.views.export_rows(lq.filter(), Role.VENDOR, user.actor.vendor_id)
    return csv_download(rows, Role.VENDOR, lq, user.actor.vendor_id)


@router.get("/faelle/{order_id}/verlauf")
async def history(request: Request, user: Vendor, order_id: str) -> Response:
    return await cases_common.show_history(request, user, order_id)


@router.post("/faelle/{order_id}/play")
async def play(request: Request, user: Vendor, form: Form, order_id: str) -> Response:
    """The Play button: starts dunning of an own LOCKED case (no reason needed)."""
    return await cases_common.submit_play(request, user, order_id, form)


@router.get("/faelle/{order_id}/{slug}")
@takes_query("zurueck")
async def action_form(request: Request, user: Vendor, order_id: str, slug: str) -> Response:
    return await cases_common.show_action(request, user, order_id, slug, "/inkasso-beta")


@router.post("/faelle/{order_id}/{slug}")
async def action_submit(
    request: Request, user: Vendor, form: Form, order_id: str, slug: str
) -> Response:
    return await cases_common.submit_action(request, user, order_id, slug, form, "/inkasso-beta")
