"""The case actions as the UI offers them: which ones the rules allow now (domain/rules.py),
their German labels, and carrying one out through the application's commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from debtcases.commands.app import Outcome
from debtcases.domain.actors import Actor, Role
from debtcases.domain.admission import AMOUNT_DECIMALS, AMOUNT_WHOLE_DIGITS
from debtcases.domain.debtor import Debtor
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.rules import Command, allowed_from
from debtcases.domain.statuses import Status


@dataclass(frozen=True)
class Action:
    slug: str  # URL part
    command: Command
    label: str
    hint: str
    reason_required: bool = True


ACTIONS: tuple[Action, ...] = (
    Action(
        "starten",
        Command.START,
        "Laufend setzen",
        "Startet den Mahnprozess (Status „Laufend“). Die Übergabedaten werden geprüft; "
        "schlägt die Prüfung fehl, bleibt bzw. wird der Fall „Failed“ mit Fehlermeldung.",
    ),
    Action(
        "uebergeben",
        Command.HAND_OVER,
        "Ans Inkasso übergeben",
        "Setzt den Status von Hand auf „Ans Inkasso übergeben“ (zweiter Schritt der "
        "Reparatur). Die Übergabedaten werden erneut geprüft.",
    ),
    Action(
        "adresse",
        Command.CORRECT_ADDRESS,
        "Adresse korrigieren",
        "Trägt die richtige Adresse des Kunden ein, die der Händler beschafft hat. "
        "Der Status bleibt; danach: erst „Laufend“, dann „Ans Inkasso übergeben“.",
    ),
    Action(
        "blockieren",
        Command.BLOCK,
        "Blockieren",
        "Pausiert den Fall (Status „Blockiert“). Der Händler sieht weiter den bisherigen "
        "Status und kann nichts tun; die Sperre und ihr Grund bleiben intern. Mit einem "
        "Enddatum läuft die Mahnung an diesem Tag von selbst weiter.",
    ),
    Action(
        "freigeben",
        Command.UNBLOCK,
        "Blockierung aufheben",
        "Setzt den Fall auf den Status vor der Blockierung zurück.",
    ),
    Action(
        "bezahlt",
        Command.MARK_PAID,
        "Als bezahlt markieren",
        "Der Kunde hat bei uns bezahlt und alle Zahlungen sind hinterlegt (Status "
        "„Bezahlt“, endgültig). Der Händler sieht es sofort.",
    ),
    Action(
        "kuendigen",
        Command.CANCEL,
        "Kündigen",
        "Die Bestellung wurde gekündigt oder storniert (Status „Gekündigt“, endgültig). "
        "Hat Diagonal den Fall, wird Diagonal gebeten, ihn zu schließen.",
    ),
    Action(
        "wieder-oeffnen",
        Command.REOPEN,
        "Korrektur: wieder öffnen",
        "Korrigiert ein versehentliches „Bezahlt“ oder „Gekündigt“: Der Fall erhält wieder "
        "den Status davor. Nichts wird gelöscht; der Verlauf zeigt Fehler und Korrektur. "
        "Nur innerhalb der Korrekturfrist möglich.",
    ),
)
BY_SLUG = {a.slug: a for a in ACTIONS}

PLAY = Action(
    "play",
    Command.START,
    "Mahnprozess starten (Play)",
    "Startet den Mahnprozess für diese Bestellung (Status „Laufend“).",
    reason_required=False,
)

# What the vendor may do from the Inkasso-Beta tab besides Play.
VENDOR_ACTIONS = (BY_SLUG["kuendigen"],)


def allowed_actions(role: Role, status: Status | str) -> list[Action]:
    """Exactly the actions the transition table allows this role from this status."""
    current = Status(str(status))
    offered = ACTIONS if role is Role.SUPPORT else (PLAY, *VENDOR_ACTIONS)
    return [a for a in offered if current in allowed_from(role, a.command)]


def start_label(status: Status | str) -> str:
    return (
        "Mahnprozess starten (Laufend)"
        if Status(str(status)) is Status.LOCKED
        else ("Laufend setzen")
    )


def label_for(action: Action, status: Status | str) -> str:
    return start_label(status) if action.slug == "starten" else action.label


class FormErrors(dict[str, str]):
    """Field name -> German message."""


# The block form's fields (besides the reason) and the reason codes in the form's order.
HOLD_FIELDS = ("code", "until", "promised_amount", "promised_date")
HOLD_CODES = tuple(HoldReason)


def parse_day(text: str) -> date | None:
    """``2024-07-01`` (what a date field sends) or ``01.07.2024`` (typed by hand where the
    browser has no date field); None when it is neither."""
    text = text.strip()
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return date.fromisoformat(text)
        m = re.fullmatch(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})", text)
        if m:
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


_AMOUNT = re.compile(rf"[0-9]{{1,{AMOUNT_WHOLE_DIGITS}}}(\.[0-9]{{1,{AMOUNT_DECIMALS}}})?")


def parse_amount(text: str) -> Decimal | None:
    """``49,90``, ``49.90``, ``1.234,56`` or ``1234`` -> a Decimal > 0 with at most two
    decimals; None for anything else."""
    text = text.strip().replace("\u00a0", "").replace(" ", "").removesuffix("€")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    if not _AMOUNT.fullmatch(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value > 0 else None


def _validate_hold(form: dict[str, str], today: date, errors: FormErrors) -> None:
    """The block form: a reason code, and the terms that code takes. ``today`` is the
    Europe/Berlin day of the request (a hold must end after it starts)."""
    code = form.get("code", "")
    if code not in {c.value for c in HOLD_CODES}:
        errors["code"] = "Bitte die Art der Sperre wählen."
        return
    if code == HoldReason.PROMISE_TO_PAY:
        if form.get("until"):
            errors["until"] = (
                "Eine Zahlungszusage endet von selbst am Tag nach dem zugesagten Datum; "
                "bitte kein „bis“-Datum angeben."
            )
        if not form.get("promised_amount"):
            errors["promised_amount"] = "Bitte den zugesagten Betrag angeben."
        elif parse_amount(form["promised_amount"]) is None:
            errors["promised_amount"] = (
                "Betrag größer als 0 mit höchstens zwei Nachkommastellen, z. B. 49,90."
            )
        promised = parse_day(form.get("promised_date", ""))
        if not form.get("promised_date"):
            errors["promised_date"] = "Bitte das Datum angeben, bis zu dem gezahlt wird."
        elif promised is None:
            errors["promised_date"] = "Datum als TT.MM.JJJJ, z. B. 01.07.2024."
        elif promised < today:
            errors["promised_date"] = "Das zugesagte Datum darf nicht in der Vergangenheit liegen."
        return
    for name in ("promised_amount", "promised_date"):
        if form.get(name):
            errors[name] = "Nur bei einer Zahlungszusage; bitte leer lassen."
    if form.get("until"):
        until = parse_day(form["until"])
        if until is None:
            errors["until"] = "Datum als TT.MM.JJJJ, z. B. 01.07.2024."
        elif until <= today:
            earliest = today + timedelta(days=1)
            errors["until"] = (
                f"Das Enddatum muss nach heute liegen (frühestens {earliest:%d.%m.%Y})."
            )


def hold_from_form(form: dict[str, str]) -> Hold:
    """The hold a validated block form asks for."""
    code = HoldReason(form.get("code") or HoldReason.OTHER)
    if code is HoldReason.PROMISE_TO_PAY:
        return Hold(
            code,
            promised_amount=parse_amount(form.get("promised_amount", "")),
            promised_date=parse_day(form.get("promised_date", "")),
        )
    return Hold(code, until=parse_day(form.get("until", "")) if form.get("until") else None)


def validate(action: Action, form: dict[str, str], today: date | None = None) -> FormErrors:
    errors = FormErrors()
    if action.command is Command.BLOCK:
        _validate_hold(form, today or date.today(), errors)
    if action.reason_required and not form.get("reason"):
        errors["reason"] = "Bitte einen Grund angeben (er erscheint im Änderungsverlauf)."
    if action.command is Command.MARK_PAID and not form.get("reference"):
        errors["reference"] = "Bitte die Zahlungsreferenz angeben."
    if action.command is Command.CORRECT_ADDRESS:
        for name, label, limit in (
            ("name", "Name", 200),
            ("street", "Straße und Hausnummer", 200),
            ("postal_code", "PLZ", 16),
            ("city", "Ort", 200),
        ):
            if not form.get(name):
                errors[name] = f"{label} fehlt."
            elif len(form[name]) > limit:
                errors[name] = f"{label}: höchstens {limit} Zeichen."
        country = form.get("country", "")
        if len(country) != 2 or not country.isalpha() or not country.isascii():
            errors["country"] = "Land als zweistelliger Code, z. B. DE, AT oder CH."
    return errors


def perform(
    cases: Any, action: Action, order_id: str, actor: Actor, form: dict[str, str]
) -> Outcome:
    """Carry the action out with the application's command (the rules are checked there)."""
    reason = form.get("reason", "")
    run: dict[Command, Callable[[], Outcome]] = {
        Command.START: lambda: cases.start_dunning(order_id, actor, reason),
        Command.HAND_OVER: lambda: cases.hand_over(order_id, actor, reason),
        Command.CANCEL: lambda: cases.cancel(order_id, actor, reason),
        Command.BLOCK: lambda: cases.block(order_id, actor, reason, hold=hold_from_form(form)),
        Command.REOPEN: lambda: cases.reopen(order_id, actor, reason),
        Command.UNBLOCK: lambda: cases.unblock(order_id, actor, reason),
        Command.MARK_PAID: lambda: cases.mark_paid(order_id, actor, reason, form["reference"]),
        Command.CORRECT_ADDRESS: lambda: cases.correct_address(
            order_id,
            actor,
            Debtor(
                name=form["name"],
                street=form["street"],
                postal_code=form["postal_code"],
                city=form["city"],
                country=form["country"].upper(),
            ),
            reason,
        ),
    }
    return run[action.command]()
