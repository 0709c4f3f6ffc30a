"""The Schulden tab's eligibility explainer ('Warum ist die Bestell-ID nicht im
Mahnfeature ersichtlich?') and the admission by hand from its dialog: both ask the API as
the signed-in user and show its answer in plain German."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from debtcases.api.fields import ORDER_ID_PATTERN
from debtcases.api.query_guard import takes_query
from debtcases.api.schemas_orders import EligibilityOut
from debtcases.api.web import fmt
from debtcases.api.web.core import Form, Support, field, render
from debtcases.api.web.inprocess import api_get, api_post
from debtcases.domain.admission import TEXT_LIMITS
from debtcases.domain.eligibility_verdict import Verdict

router = APIRouter(prefix="/schulden", include_in_schema=False)
ELIGIBILITY_PATH = "/api/v1/orders/{order_id}/eligibility"
ADMIT_PATH = "/api/v1/orders/{order_id}/admit"
REASON_LIMIT = TEXT_LIMITS["reason"]


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
