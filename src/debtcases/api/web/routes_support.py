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
from debtcases.api.schemas_orders import EligibilityOut
from debtcases.api.web import cases_common, fmt, lists
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
from debtcases.api.web.inprocess import api_get, api_post
from debtcases.commands.imports import import_cases
from debtcases.csvformat.export import export_csv, export_filename
from debtcases.csvformat.parse import DEFAULT_IMPORT_REASON
from debtcases.domain.actors import Role
from debtcases.domain.admission import TEXT_LIMITS
from debtcases.domain.eligibility_verdict import Verdict
from debtcases.domain.holds import HoldReason
from debtcases.projections.queries import CaseFilter

router = APIRouter(prefix="/schulden", include_in_schema=False)
Form = Annotated[FormData, Depends(read_form)]
ELIGIBILITY_PATH = "/api/v1/orders/{order_id}/eligibility"
ADMIT_PATH = "/api/v1/orders/{order_id}/admit"
REASON_LIMIT = TEXT_LIMITS["reason"]
WORKLIST_LIMIT = 100


def support(request: Request) -> WebUser:
    return require(request, Role.SUPPORT)


Support = Annotated[WebUser, Depends(support)]


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
    eligibility endpoint as the signed-in user and shows its answer in plain German."""
    order_id = (request.query_params.get("bestell_id") or "").strip()
    ctx = _eligibility_context(order_id)
    if order_id:
        if not re.fullmatch(ORDER_ID_PATTERN, order_id):
            ctx["errors"]["bestell_id"] = "Bitte eine gültige Bestell-ID eingeben."
        else:
            answer = await api_get(
                request.app, ELIGIBILITY_PATH.format(order_id=order_id), user.actor
            )
            _read_answer(ctx, answer.status, answer.body)
    status = 422 if ctx["errors"] else 200
    return render(request, "eligibility.html", ctx, status_code=status, user=user)


@router.post("/pruefung/aufnehmen")
async def admit_by_hand(request: Request, user: Support, form: Form) -> Response:
    """Manual admission from the dialog: the order goes into dunning (Gesperrt) even with red
    conditions; the reason is mandatory and kept in the case's history. Posts to the API's
    command (``POST /api/v1/orders/{order_id}/admit``) as the signed-in user."""
    order_id = field(form, "bestell_id", 100)
    reason = field(form, "grund", 2000)
    ctx = _eligibility_context(order_id)
    ctx["reason"] = reason
    if not re.fullmatch(ORDER_ID_PATTERN, order_id):
        ctx["errors"]["bestell_id"] = "Bitte eine gültige Bestell-ID eingeben."
        return render(request, "eligibility.html", ctx, status_code=422, user=user)
    if not reason:
        ctx["errors"]["grund"] = (
            "Bitte einen Grund angeben (er erscheint im Änderungsverlauf des Falls)."
        )
    elif len(reason) > REASON_LIMIT:
        ctx["errors"]["grund"] = f"Der Grund ist zu lang (höchstens {REASON_LIMIT} Zeichen)."
    if not ctx["errors"]:
        answer = await api_post(
            request.app, ADMIT_PATH.format(order_id=order_id), user.actor, {"reason": reason}
        )
        if answer.status in (200, 201) and isinstance(answer.body, dict):
            _read_answer(ctx, 200, answer.body)
            ctx["reason"] = ""
            ctx["admitted"] = "new" if answer.status == 201 else "already"
            return render(request, "eligibility.html", ctx, user=user)
        if answer.status == 422:
            ctx["errors"]["grund"] = (
                "Der Grund wurde abgelehnt (bitte ohne Steuerzeichen, höchstens "
                f"{REASON_LIMIT} Zeichen)."
            )
        elif answer.status == 404:
            ctx["errors"]["grund"] = "Zu dieser Bestellung liegen keine Bestelldaten vor."
        else:
            ctx["errors"]["grund"] = (
                "Die Aufnahme ist gerade nicht möglich. Bitte später erneut versuchen."
            )
    # Show the explanation again next to the refused form, with what the user typed.
    answer = await api_get(request.app, ELIGIBILITY_PATH.format(order_id=order_id), user.actor)
    _read_answer(ctx, answer.status, answer.body)
    return render(request, "eligibility.html", ctx, status_code=422, user=user)


def _eligibility_context(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "errors": {},
        "answer": None,
        "state": "",
        "reason": "",
        "admitted": "",
        "reason_limit": REASON_LIMIT,
    }


def _read_answer(ctx: dict[str, Any], status: int, body: Any) -> None:
    if status == 200 and isinstance(body, dict):
        try:
            explained = EligibilityOut.model_validate(body)
        except ValueError:
            ctx["state"] = "failed"
            return
        ctx["state"] = "ok"
        ctx["answer"] = eligibility_view(explained)
    else:
        ctx["state"] = "failed"


# Words of the engine's observed/required texts, as support reads them.
_WORDS = {
    "returned_direct_debit": "Rücklastschrift",
    "chargeback": "Chargeback",
    "unpaid_invoice": "unbezahlte Rechnung",
    "overdue_instalment": "überfällige Rate",
    "none": "keiner",
    "direct_debit": "Lastschrift",
    "credit_card": "Kreditkarte",
    "paypal": "PayPal",
    "invoice": "Rechnung",
    "instalments": "Ratenzahlung",
    "other": "sonstige",
    "last_payment_reminder_on": "letzte Zahlungserinnerung",
    "last_reminder_on": "letzte Erinnerung",
    "last_mahnung_on": "letzte Mahnung",
    "failed_on": "Rücklastschrift",
    "invoice_date": "Rechnungsdatum",
    "due_date": "Fälligkeit der Rechnung",
}
_WORD = re.compile(r"\b(" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def _plain(text: str) -> str:
    """``failed_on + 14 Tage (ab 2026-12-06)`` -> ``Rücklastschrift + 14 Tage (ab 06.12.2026)``."""
    text = _ISO_DATE.sub(lambda m: f"{m[3]}.{m[2]}.{m[1]}", text)
    return _WORD.sub(lambda m: _WORDS[m[1]], text)


def eligibility_view(e: EligibilityOut) -> dict[str, Any]:
    """The endpoint's answer as the dialog shows it: the verdict in one German sentence,
    each group with each condition (green/red, observed, required), due date, next step."""
    labels = {g.id: g.label for g in e.groups}
    condition_labels = {(g.id, c.id): c.label for g in e.groups for c in g.conditions}
    detail = ""
    blocking: list[dict[str, Any]] = []
    admission: dict[str, Any] | None = None
    if e.verdict is Verdict.IN_DUNNING and e.case is not None:
        headline = f"Im Mahnwesen (Status „{e.case.status_label}“)"
        a = e.case.admission
        admission = {
            "by": a.admitted_by,
            "at": a.admitted_at,
            "actor": fmt.actor_label(a.actor.model_dump()),
            "reason": a.reason,
            "ruleset_version": a.ruleset_version,
            "group": labels.get(a.group or "", a.group),
        }
    elif e.verdict is Verdict.ELIGIBLE_ON and e.eligible_on is not None:
        headline = f"Kommt am {e.eligible_on:%d.%m.%Y} ins Mahnwesen"
        detail = "Alle übrigen Bedingungen einer Gruppe sind erfüllt; es fehlt nur noch Zeit."
    elif e.verdict is Verdict.NOT_ELIGIBLE:
        headline = "Nicht im Mahnwesen: in jeder Gruppe ist eine Bedingung rot"
        blocking = [
            {
                "group": labels.get(b.group, b.group),
                "conditions": [condition_labels.get((b.group, c), c) for c in b.conditions],
            }
            for b in e.blocking
        ]
    elif e.verdict is Verdict.MISSING and e.due is not None:
        headline = (
            "Fehlt – bitte Ticket eröffnen: alle Bedingungen erfüllt und fällig seit "  # noqa: RUF001
            f"{e.due.date:%d.%m.%Y}, aber kein Fall"
        )
        detail = (
            f"Gruppe „{labels.get(e.due.group, e.due.group)}“ ist erfüllt. Der Planer sollte "
            "die Bestellung bei seinem nächsten Lauf aufnehmen; bitte trotzdem ein "
            "Jira-Ticket erstellen."
        )
    elif e.verdict is Verdict.UNKNOWN_ORDER:
        headline = "Unbekannte Bestellung"
        detail = f"Zu {e.order_id} liegen keine Bestelldaten und kein Fall vor."
    else:
        headline = e.summary
    groups = [
        {
            "id": g.id,
            "label": g.label,
            "passed": g.passed,
            "met_from": g.met_from,
            "red": sum(1 for c in g.conditions if not c.passed),
            "conditions": [
                {
                    "label": c.label,
                    "passed": c.passed,
                    "observed": _plain(c.observed),
                    "required": _plain(c.required),
                    "message": _plain(c.message),
                    "green_from": c.green_from if c.time and not c.passed else None,
                }
                for c in g.conditions
            ],
        }
        for g in e.groups
    ]
    return {
        "verdict": e.verdict.value,
        "headline": headline,
        "detail": detail,
        "blocking": blocking,
        "summary": e.summary,
        "due": e.due,
        "due_group": labels.get(e.due.group, e.due.group) if e.due else "",
        "next_step": e.next_step,
        "ruleset": e.ruleset,
        "facts": e.facts,
        "groups": groups,
        "admission": admission,
        "may_admit": e.verdict in (Verdict.ELIGIBLE_ON, Verdict.NOT_ELIGIBLE, Verdict.MISSING),
    }


# --------------------------------------------------------------------------- worklist


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
