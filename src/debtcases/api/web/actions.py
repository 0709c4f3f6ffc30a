"""The case actions as the UI offers them: which ones the rules allow now (domain/rules.py),
their German labels, and carrying one out through the application's commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from debtcases.commands.app import Outcome
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
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
        "Status und kann nichts tun.",
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


def validate(action: Action, form: dict[str, str]) -> FormErrors:
    errors = FormErrors()
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
        Command.BLOCK: lambda: cases.block(order_id, actor, reason),
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
