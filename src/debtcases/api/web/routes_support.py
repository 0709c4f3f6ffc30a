"""The Schulden tab (support): search, filters, counts, the list with its actions, CSV
export and import, the vendor panel, the eligibility explainer and the worklist."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from debtcases.api.query_guard import takes_query
from debtcases.api.schemas import ORDER_ID_PATTERN
from debtcases.api.web import cases_common, lists
from debtcases.api.web.actions import allowed_actions, label_for
from debtcases.api.web.core import (
    WebUser,
    codec_of,
    container_of,
    field,
    flash,
    read_form,
    redirect,
    render,
    require,
)
from debtcases.api.web.inprocess import api_get, has_route
from debtcases.commands.imports import import_cases
from debtcases.csvformat.export import export_csv, export_filename
from debtcases.csvformat.parse import DEFAULT_IMPORT_REASON
from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status

router = APIRouter(prefix="/schulden", include_in_schema=False)
Form = Annotated[FormData, Depends(read_form)]
ELIGIBILITY_PATH = "/api/v1/orders/{order_id}/eligibility"
FELL_BACK_SCAN_LIMIT = 5000
WORKLIST_LIMIT = 100


def support(request: Request) -> WebUser:
    return require(request, Role.SUPPORT)


Support = Annotated[WebUser, Depends(support)]


@router.get("")
@takes_query("q", "status", "periode", "seite", "groesse")
def schulden(request: Request, user: Support) -> Response:
    container = container_of(request)
    lq = lists.parse_list_query(request.query_params, Role.SUPPORT, container.cases.has_case)
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
            "periods": lists.period_choices(container.clock()),
            "page_sizes": lists.PAGE_SIZES,
            "self_url": f"/schulden?{lq.params()}",
            "no_case_for_order": lq.order_id is not None
            and result.total == 0
            and not lq.statuses
            and lq.period is None,
        },
        user=user,
    )


@router.get("/export.csv")
@takes_query("q", "status", "periode", "seite", "groesse", "sicht")
def export(request: Request, user: Support) -> Response:
    container = container_of(request)
    lq = lists.parse_list_query(request.query_params, Role.SUPPORT, container.cases.has_case)
    if lq.errors:
        return render(
            request,
            "message.html",
            {
                "title": "Export nicht möglich",
                "message": " ".join(lq.errors.values()),
                "back": f"/schulden?{lq.params()}",
            },
            status_code=422,
            user=user,
        )
    as_vendor = request.query_params.get("sicht") == "haendler"
    rows: Iterator[dict[str, Any]] = container.views.iter_cases(lq.filter(), Role.SUPPORT, None)
    if as_vendor:
        rows = (lists.as_vendor_sees(r) for r in rows)
    name = export_filename(
        Role.VENDOR if as_vendor else Role.SUPPORT,
        user_id=lq.user_id,
        order_id=lq.order_id,
        statuses=lq.statuses,
        period=lq.period,
    )
    return StreamingResponse(
        export_csv(rows, ";"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


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


# ------------------------------------------------------------------ eligibility explainer


@router.get("/pruefung")
@takes_query("bestell_id")
async def eligibility(request: Request, user: Support) -> Response:
    """'Warum ist die Bestell-ID nicht im Mahnfeature ersichtlich?': asks the API's
    eligibility endpoint as the signed-in user; says plainly when it does not exist yet."""
    order_id = (request.query_params.get("bestell_id") or "").strip()
    ctx: dict[str, Any] = {"order_id": order_id, "errors": {}, "answer": None, "state": ""}
    if order_id:
        if not re.fullmatch(ORDER_ID_PATTERN, order_id):
            ctx["errors"]["bestell_id"] = "Bitte eine gültige Bestell-ID eingeben."
        else:
            path = ELIGIBILITY_PATH.format(order_id=order_id)
            if not has_route(request.app, path):
                ctx["state"] = "unavailable"
            else:
                answer = await api_get(request.app, path, user.actor)
                if answer.status == 200 and isinstance(answer.body, dict):
                    ctx["state"] = "ok"
                    ctx["answer"] = eligibility_view(answer.body)
                elif answer.status == 404:
                    ctx["state"] = "unknown"
                else:
                    ctx["state"] = "failed"
    return render(request, "eligibility.html", ctx, user=user)


def eligibility_view(body: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's answer in the shape the dialog shows (groups of red/green conditions,
    observed values, due date, verdict), reading the documented field names and tolerating
    close variants, so the dialog does not break on a renamed field."""

    def pick(d: dict[str, Any], *names: str, default: Any = None) -> Any:
        for n in names:
            if n in d and d[n] is not None:
                return d[n]
        return default

    groups = []
    for g in pick(body, "groups", default=[]) or []:
        if not isinstance(g, dict):
            continue
        conditions = []
        for c in pick(g, "conditions", default=[]) or []:
            if not isinstance(c, dict):
                continue
            conditions.append(
                {
                    "name": str(pick(c, "label", "name", "title", default="?")),
                    "passed": bool(pick(c, "passed", "ok", "met", default=False)),
                    "observed": pick(c, "observed", "observed_value", "value", default=""),
                    "expected": pick(c, "expected", "requirement", default=""),
                }
            )
        passed = pick(g, "passed", "qualifies", "ok")
        groups.append(
            {
                "name": str(pick(g, "label", "name", "title", default="Gruppe")),
                "conditions": conditions,
                "passed": bool(passed)
                if passed is not None
                else all(c["passed"] for c in conditions),
            }
        )
    verdict = pick(body, "verdict", "result", default="")
    if isinstance(verdict, dict):
        verdict = pick(verdict, "message", "text", "label", "code", default="")
    return {
        "groups": groups,
        "due_date": pick(body, "due_date", "faelligkeitsdatum"),
        "verdict": str(verdict),
        "message": str(pick(body, "message", "explanation", "detail", default="")),
        "has_case": pick(body, "has_case", "in_dunning"),
    }


# --------------------------------------------------------------------------- worklist


@router.get("/arbeitsliste")
def worklist(request: Request, user: Support) -> Response:
    container = container_of(request)
    fell_back: list[dict[str, Any]] = []
    scanned = 0
    failed = lists.ListQuery(statuses=(Status.FAILED,)).filter()
    for item in container.views.iter_cases(failed, Role.SUPPORT, None):
        scanned += 1
        if item["fell_back"]:
            fell_back.append(item)
        if len(fell_back) >= WORKLIST_LIMIT or scanned >= FELL_BACK_SCAN_LIMIT:
            break
    stuck: list[dict[str, Any]] | None = None
    hours = container.settings.stuck_after_hours
    stuck = container.views.stuck_cases()
    return render(
        request,
        "worklist.html",
        {
            "fell_back": fell_back,
            "scan_capped": scanned >= FELL_BACK_SCAN_LIMIT,
            "stuck": stuck[:WORKLIST_LIMIT] if stuck is not None else None,
            "stuck_total": len(stuck) if stuck is not None else 0,
            "hours": hours,
        },
        user=user,
    )


# ------------------------------------------------------------------------- CSV import

PENDING_DIR = Path(tempfile.gettempdir()) / "debtcases-pending-imports"


def _report_view(report: Any) -> dict[str, Any]:
    return report.as_dict()  # type: ignore[no-any-return]


@router.get("/import")
def import_page(request: Request, user: Support) -> Response:
    return render(request, "import.html", {"report": None, "errors": {}}, user=user)


@router.post("/import")
async def import_dry_run(request: Request, user: Support, form: Form) -> Response:
    """Step 1: validate the whole file and show the per-row report; nothing is stored."""
    upload = form.get("datei")
    container = container_of(request)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(
            request,
            "import.html",
            {"report": None, "errors": {"datei": "Bitte eine CSV-Datei auswählen."}},
            status_code=422,
            user=user,
        )
    data = await upload.read()
    reason = f"{DEFAULT_IMPORT_REASON} ({upload.filename})"[:1000]
    report = await run_in_threadpool(
        import_cases, container.cases, data, user.actor, dry_run=True, default_reason=reason
    )
    pending = ""
    if report.ok and report.rows:
        digest = hashlib.sha256(data).hexdigest()
        PENDING_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        (PENDING_DIR / f"{digest}.csv").write_bytes(data)
        pending = digest
    return render(
        request,
        "import.html",
        {
            "report": _report_view(report),
            "filename": upload.filename,
            "pending": pending,
            "pending_mac": codec_of(request).sign("import", f"{pending}:{upload.filename}")
            if pending
            else "",
            "errors": {},
        },
        status_code=200 if report.ok else 422,
        user=user,
    )


@router.post("/import/anwenden")
async def import_apply(request: Request, user: Support, form: Form) -> Response:
    """Step 2: apply the file validated in step 1 (all rows or none)."""
    digest, filename, mac = field(form, "pending"), field(form, "filename"), field(form, "mac")
    container = container_of(request)
    path = PENDING_DIR / f"{digest}.csv"
    if (
        not re.fullmatch(r"[0-9a-f]{64}", digest)
        or not codec_of(request).verify("import", f"{digest}:{filename}", mac)
        or not path.exists()
    ):
        return render(
            request,
            "import.html",
            {
                "report": None,
                "errors": {
                    "datei": "Die geprüfte Datei liegt nicht mehr vor; bitte erneut prüfen."
                },
            },
            status_code=422,
            user=user,
        )
    data = path.read_bytes()
    reason = f"{DEFAULT_IMPORT_REASON} ({filename})"[:1000]
    report = await run_in_threadpool(
        import_cases, container.cases, data, user.actor, dry_run=False, default_reason=reason
    )
    if not report.ok:
        return render(
            request,
            "import.html",
            {"report": _report_view(report), "filename": filename, "pending": "", "errors": {}},
            status_code=422,
            user=user,
        )
    path.unlink(missing_ok=True)
    if report.position is not None:
        await run_in_threadpool(container.wait_for_views, report.position)
    response = redirect("/schulden")
    flash(
        request,
        response,
        f"CSV importiert: {report.created} neue Fälle, {report.unchanged} unverändert.",
    )
    return response
