"""The Schulden tab (support): search, filters, counts, the list with its actions, the
vendor panel and the CSV export of the list. The tab's other pages: a case's actions and
history (routes_support_cases.py), the eligibility explainer (routes_support_eligibility.py),
the worklist (routes_support_worklist.py) and the CSV import (routes_support_import.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from debtcases.api.query_guard import takes_query
from debtcases.api.web import fmt, lists
from debtcases.api.web.actions import allowed_actions, label_for
from debtcases.api.web.core import Support, container_of, render
from debtcases.api.web.exports import csv_download, export_refused
from debtcases.domain.actors import Role
from debtcases.domain.holds import HoldReason

router = APIRouter(prefix="/schulden", include_in_schema=False)


@router.get("")
@takes_query("q", "status", "periode", "seite", "groesse", *lists.HOLD_PARAMS)
def schulden(request: Request, user: Support) -> Response:
    container = container_of(request)
    now = container.clock()
    lq = lists.parse_list_query(request.query_params, Role.SUPPORT, container.cases.has_case, now)
    result = lists.run_list(container.views, lq, Role.SUPPORT, None)
    access = None
    if lq.user_id is not None and not lq.errors:
        access = container.views.collection_access(lq.user_id)
        diagonal = container.diagonal
        access["message"] = (
            diagonal.outbox.portal_access(lq.user_id) if diagonal is not None else None
        )
    rows = [
        {
            **item,
            "actions": [
                (a.slug, label_for(a, item["status"]))
                for a in allowed_actions(Role.SUPPORT, item["status"])
            ],
        }
        for item in result.items
    ]
    return render(
        request,
        "schulden.html",
        {
            "lq": lq,
            "result": result,
            "rows": rows,
            "access": access,
            "statuses": lists.shown_statuses(Role.SUPPORT),
            "periods": lists.period_choices(now),
            "page_sizes": lists.PAGE_SIZES,
            "hold_codes": [(c.value, fmt.hold_label(c.value)) for c in HoldReason],
            "max_hold_days": lists.MAX_HOLD_DAYS,
            "now": now,
            "self_url": f"/schulden?{lq.params()}",
            "no_case_for_order": lq.order_id is not None
            and result.total == 0
            and not lq.statuses
            and lq.period is None
            and lq.hold_reason is None
            and not lq.hold_days,
        },
        user=user,
    )


@router.get("/export.csv")
@takes_query("q", "status", "periode", "seite", "groesse", "sicht", *lists.HOLD_PARAMS)
def export(request: Request, user: Support) -> Response:
    container = container_of(request)
    lq = lists.parse_list_query(
        request.query_params, Role.SUPPORT, container.cases.has_case, container.clock()
    )
    if lq.errors:
        return export_refused(request, user, lq.errors, f"/schulden?{lq.params()}")
    as_vendor = request.query_params.get("sicht") == "haendler"
    # As the vendor sees it: the statuses and last changes a vendor sees (a block is
    # invisible, so is when it was set), for the cases of the support list.
    rows = container.views.export_rows(
        lq.filter(), Role.SUPPORT, None, statuses_as_vendor=as_vendor
    )
    return csv_download(rows, Role.VENDOR if as_vendor else Role.SUPPORT, lq, lq.user_id)
