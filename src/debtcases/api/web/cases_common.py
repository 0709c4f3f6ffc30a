"""Pages both tabs share: a case's action form (show, submit, refuse with the current
state) and its history popup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from debtcases.api.responses import case_out
from debtcases.api.web import actions as act
from debtcases.api.web import fmt
from debtcases.api.web.core import (
    WebUser,
    container_of,
    field,
    flash,
    redirect,
    render,
    safe_return,
)
from debtcases.domain.actors import Role
from debtcases.domain.errors import (
    CaseNotFound,
    ConcurrentModification,
    DomainError,
    InvalidHold,
    InvalidTransition,
    ReopenWindowClosed,
)
from debtcases.domain.rules import Command, already_there
from debtcases.domain.statuses import Status

FORM_FIELDS = (
    "reason",
    "reference",
    "name",
    "street",
    "postal_code",
    "city",
    "country",
    *act.HOLD_FIELDS,
)


def case_view(container: Any, order_id: str, user: WebUser) -> dict[str, Any]:
    """The case as this user may see it (support: with its hold), with its last change (for
    "who changed it") and, for support, the correction a PAID / CANCELLED case allows."""
    case = container.cases.get_case(order_id, user.actor)
    now = container.clock()
    shown = case_out(case, user.role, now, container.settings.stuck_after_hours)
    out = shown.model_dump(mode="python")
    history = container.cases.history(order_id, user.actor)
    out["last_change"] = history[-1] if history else None
    out["reopen"] = None
    closure = case.state.closure
    if user.role is Role.SUPPORT and closure is not None:
        # The correction window is the application's setting; the aggregate decides on
        # submit, this only says beforehand what it will decide.
        until = closure.at + container.cases.reopen_window
        out["reopen"] = {
            "event": closure.event,
            "at": closure.at,
            "status": closure.status,
            "until": until,
            "open": now <= until,
            "window_days": container.cases.reopen_window.total_seconds() / 86400,
        }
    return out


def not_found(request: Request, user: WebUser, order_id: str) -> Response:
    return render(
        request,
        "message.html",
        {
            "title": "Bestellung nicht gefunden",
            "message": f"Zur Bestell-ID {order_id} gibt es keinen Fall.",
            "back": user.home,
        },
        status_code=404,
        user=user,
    )


async def show_action(
    request: Request, user: WebUser, order_id: str, slug: str, back_default: str
) -> Response:
    action = act.BY_SLUG.get(slug)
    if action is None:
        return not_found(request, user, order_id)
    container = container_of(request)
    try:
        case = await run_in_threadpool(case_view, container, order_id, user)
    except CaseNotFound:
        return not_found(request, user, order_id)
    values = {
        "reason": "",
        "reference": "",
        **{k: case["debtor"][k] for k in ("name", "street", "postal_code", "city", "country")},
        **dict.fromkeys(act.HOLD_FIELDS, ""),
    }
    back = safe_return(request.query_params.get("zurueck"), back_default)
    return _render_action(request, user, action, case, values, {}, back, case["version"])


def _render_action(
    request: Request,
    user: WebUser,
    action: act.Action,
    case: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, str],
    back: str,
    version: int,
    refusal: str = "",
    status_code: int = 200,
) -> Response:
    allowed = action in act.allowed_actions(user.role, case["status"])
    calm = ""
    if (
        allowed
        and action.command is Command.REOPEN
        and case["reopen"]
        and not case["reopen"]["open"]
    ):
        allowed = False
        refusal = refusal or reopen_closed_message(case["reopen"])
    if not allowed and not refusal and already_there(action.command, Status(case["status"])):
        calm = unchanged_message(action, case["order_id"], Status(case["status"]))
    elif not allowed and not refusal:
        refusal = (
            f"„{act.label_for(action, case['status'])}“ ist im Status "
            f"„{case['status_label']}“ nicht möglich."
        )
    target = _target(action, case["status"])
    if action.command is Command.REOPEN and case["reopen"]:
        target = Status(case["reopen"]["status"]).label
    return render(
        request,
        "action.html",
        {
            "action": action,
            "action_label": act.label_for(action, case["status"]),
            "case": case,
            "values": values,
            "errors": errors,
            "back": back,
            "version": version,
            "refusal": refusal,
            "calm": calm,
            "allowed": allowed,
            "target": target,
            "hold_codes": [(c.value, fmt.hold_label(c.value)) for c in act.HOLD_CODES],
            "base": "/schulden" if user.role.value == "support" else "/inkasso-beta",
        },
        status_code=status_code,
        user=user,
    )


def _target(action: act.Action, status: str) -> str:
    targets = {
        Command.START: Status.RUNNING.label,
        Command.HAND_OVER: Status.HANDED_OVER.label,
        Command.CANCEL: Status.CANCELLED.label,
        Command.BLOCK: Status.BLOCKED.label,
        Command.MARK_PAID: Status.PAID.label,
    }
    return targets.get(action.command, "")


async def submit_action(
    request: Request,
    user: WebUser,
    order_id: str,
    slug: str,
    form: FormData,
    back_default: str,
    action: act.Action | None = None,
) -> Response:
    if action is None:
        action = act.BY_SLUG.get(slug)
        if action is None or (user.role is Role.VENDOR and action not in act.VENDOR_ACTIONS):
            return not_found(request, user, order_id)
    container = container_of(request)
    values = {name: field(form, name, 1000) for name in FORM_FIELDS}
    back = safe_return(field(form, "zurueck", 1000), back_default)
    try:
        seen_version = int(field(form, "version") or "0")
    except ValueError:
        seen_version = 0
    try:
        case = await run_in_threadpool(case_view, container, order_id, user)
    except CaseNotFound:
        return not_found(request, user, order_id)

    def again(errors: dict[str, str], refusal: str = "", status: int = 422) -> Response:
        return _render_action(
            request, user, action, case, values, errors, back, case["version"], refusal, status
        )

    # The case may already be what the user asks for (e.g. step 2 of the repair when
    # Diagonal's "received" was faster): the command then answers `changed: false`, which is
    # no error and no conflict.
    already = already_there(action.command, Status(case["status"]))
    if case["version"] != seen_version and not already:
        # Someone else changed the case since the form was shown: say so, show the case as
        # it is now, keep what the user typed, and let them decide again.
        return again({}, _changed_meanwhile(case), 409)
    errors = act.validate(action, values, container.clock().astimezone(fmt.BERLIN).date())
    if errors:
        return again(errors)
    if action not in act.allowed_actions(user.role, case["status"]) and not already:
        return again({}, "", 409)
    try:
        outcome = await run_in_threadpool(
            act.perform, container.cases, action, order_id, user.actor, values
        )
    except ConcurrentModification:
        case = await run_in_threadpool(case_view, container, order_id, user)
        return again({}, _changed_meanwhile(case), 409)
    except InvalidHold:
        # The clock moved past the day between the form's check and the command's.
        return again({"until": "Das Enddatum muss in der Zukunft liegen."}, "", 422)
    except ReopenWindowClosed as exc:
        case = await run_in_threadpool(case_view, container, order_id, user)
        return again({}, _window_closed(exc), 409)
    except DomainError as exc:
        case = await run_in_threadpool(case_view, container, order_id, user)
        return again({}, _refusal(exc, user), 409)
    await run_in_threadpool(container.wait_for_views, outcome.position)
    after = outcome.case.status_for(user.role)
    response = redirect(back)
    if not outcome.changed:
        message = unchanged_message(action, order_id, after)
        if case["version"] != seen_version:
            # Someone (Diagonal, a colleague) got there first: say who, and that the reason
            # typed here was not recorded.
            message += _last_change(case) + (
                " Ihr Grund wurde nicht gespeichert." if values.get("reason") else ""
            )
        flash(request, response, message, "info")
        return response
    message, kind = _success_message(
        action,
        order_id,
        case["status"],
        after,
        outcome.case.errors,
        outcome.case.state.hold if user.role is Role.SUPPORT else None,
        case["currency"],
    )
    flash(request, response, message, kind)
    return response


def unchanged_message(action: act.Action, order_id: str, status: Status) -> str:
    """The calm answer to a command that found the case already as asked (``changed``
    false): nothing was recorded, nothing went wrong."""
    if action.command is Command.UNBLOCK:
        return f"{order_id}: Der Fall ist nicht (mehr) blockiert – nichts geändert."  # noqa: RUF001
    if action.command is Command.REOPEN:
        return (
            f"{order_id}: Der Fall ist offen („{status.label}“), nicht bezahlt oder gekündigt "
            "– nichts zu korrigieren."  # noqa: RUF001
        )
    return f"{order_id}: Der Fall ist bereits „{status.label}“ – nichts geändert."  # noqa: RUF001


def _refusal(exc: DomainError, user: WebUser) -> str:
    if isinstance(exc, InvalidTransition) and user.role is Role.VENDOR:
        # Never hint at a block the vendor must not see.
        return (
            "Dieser Fall kann im Moment nicht geändert werden; bitte wenden Sie sich an den "
            "Support."
        )
    if isinstance(exc, InvalidTransition):
        return f"Die Aktion ist im Status „{Status(exc.from_status).label}“ nicht möglich."
    return "Die Aktion wurde abgelehnt."


def reopen_closed_message(reopen: dict[str, Any]) -> str:
    what = fmt.event_label(reopen["event"])
    return (
        f"Die Korrekturfrist ist abgelaufen: „{what}“ wurde am {fmt.datetime_de(reopen['at'])} "
        f"gesetzt, Korrekturen sind {reopen['window_days']:g} Tage lang möglich (bis "
        f"{fmt.datetime_de(reopen['until'])}). Bitte an den Spezialisten weiterleiten."
    )


def _window_closed(exc: ReopenWindowClosed) -> str:
    return (
        f"Die Korrekturfrist ist abgelaufen: Der Fall wurde am "
        f"{fmt.datetime_de(datetime.fromisoformat(exc.closed_at))} abgeschlossen, Korrekturen "
        f"sind {exc.window_days:g} Tage lang möglich. Nichts wurde geändert; bitte an den "
        "Spezialisten weiterleiten."
    )


def _last_change(case: dict[str, Any]) -> str:
    last = case.get("last_change")
    if last is None:
        return ""
    return (
        f" Letzte Änderung: {fmt.entry_label(last)} durch {fmt.actor_label(last.actor)} "
        f"am {fmt.datetime_de(last.at)}."
    )


def _changed_meanwhile(case: dict[str, Any]) -> str:
    who = _last_change(case)
    return (
        "Der Fall wurde inzwischen von jemand anderem geändert; Ihre Aktion wurde nicht "
        f"ausgeführt. Aktueller Status: „{case['status_label']}“.{who} Ihre Eingaben sind "
        "erhalten – bitte prüfen und erneut absenden."  # noqa: RUF001
    )


def _success_message(
    action: act.Action,
    order_id: str,
    before: str,
    after: Status,
    errors: list[str],
    hold: Any = None,
    currency: str = "EUR",
) -> tuple[str, str]:
    if after is Status.FAILED and action.command in (Command.START, Command.HAND_OVER):
        return (
            f"{order_id}: Die Übergabeprüfung ist fehlgeschlagen, Status „Failed“: "
            + " ".join(errors),
            "error",
        )
    if action.command is Command.START and Status(before) is Status.FAILED:
        return (
            f"{order_id}: Schritt 1 von 2 erledigt – Status „Laufend“, keine Fehlermeldung. "  # noqa: RUF001
            "Jetzt „Ans Inkasso übergeben“ setzen.",
            "ok",
        )
    if action.command is Command.HAND_OVER:
        return (
            f"{order_id}: Schritt 2 erledigt – Status „Ans Inkasso übergeben“. Der Fall "  # noqa: RUF001
            "erscheint bei Diagonal; fällt der Status von selbst zurück, bitte an den "
            "Spezialisten weiterleiten.",
            "ok",
        )
    if action.command is Command.CORRECT_ADDRESS:
        if after is Status.FAILED:
            remaining = " ".join(errors)
            if remaining:
                return (
                    f"{order_id}: Adresse gespeichert, aber noch fehlerhaft: {remaining}",
                    "error",
                )
            return (
                f"{order_id}: Adresse gespeichert, keine Fehlermeldung mehr. Jetzt erst "
                "„Laufend“, dann „Ans Inkasso übergeben“ setzen.",
                "ok",
            )
        return f"{order_id}: Adresse gespeichert.", "ok"
    if action.command is Command.BLOCK and hold is not None:
        terms = " ".join(fmt.hold_parts(hold.as_dict(), currency))
        return f"{order_id}: Status jetzt „{after.label}“ ({terms}).", "ok"
    if action.command is Command.REOPEN:
        return (
            f"{order_id}: Korrektur gespeichert – wieder „{after.label}“. Der Verlauf zeigt "  # noqa: RUF001
            "den Fehler und die Korrektur.",
            "ok",
        )
    return f"{order_id}: Status jetzt „{after.label}“.", "ok"


async def submit_play(request: Request, user: WebUser, order_id: str, form: FormData) -> Response:
    """The vendor's Play button: start dunning, no reason asked."""
    return await submit_action(request, user, order_id, "play", form, "/inkasso-beta", act.PLAY)


async def show_history(request: Request, user: WebUser, order_id: str) -> Response:
    container = container_of(request)
    try:
        entries = await run_in_threadpool(container.cases.history, order_id, user.actor)
    except CaseNotFound:
        return not_found(request, user, order_id)
    return render(
        request,
        "history.html",
        {
            "order_id": order_id,
            "entries": entries,
            "by_version": {e.version: e for e in entries},
            "currency": (entries[0].details.get("currency") if entries else None) or "EUR",
            "back": user.home,
        },
        user=user,
    )
