"""German formatting for the web UI: amounts as ``1.234,56 €``, times in Europe/Berlin,
event and actor labels for the history popup."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from debtcases.domain.statuses import Status

BERLIN = ZoneInfo("Europe/Berlin")

CURRENCY_SIGNS = {"EUR": "€"}

MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)

# The history popup's labels of the events (domain/case.py).
EVENT_LABELS: dict[str, str] = {
    "Locked": "Ins Mahnwesen aufgenommen",
    "DunningStarted": "Mahnprozess gestartet",
    "HandoverFailed": "Übergabe fehlgeschlagen",
    "HandedToCollection": "Ans Inkasso übergeben",
    "Cancelled": "Gekündigt",
    "Blocked": "Blockiert",
    "Unblocked": "Blockierung aufgehoben",
    "Paid": "Als bezahlt markiert",
    "AddressCorrected": "Adresse korrigiert",
    "ClosedAtDiagonal": "Bei Diagonal abgeschlossen",
    "AckRecorded": "Antwort von Diagonal vermerkt (ohne Wirkung)",
}


def amount(value: Any, currency: str = "EUR") -> str:
    """``Decimal('1234.5')`` -> ``1.234,50 €``."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{number:,.2f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
    return f"{text}\u00a0{CURRENCY_SIGNS.get(currency.upper(), currency.upper())}"


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(BERLIN)
    return moment


def datetime_de(value: datetime | str | None) -> str:
    """``31.05.2024, 14:03 Uhr`` (Europe/Berlin)."""
    moment = _moment(value)
    return moment.strftime("%d.%m.%Y, %H:%M\u00a0Uhr") if moment else ""


def date_de(value: datetime | str | None) -> str:
    moment = _moment(value)
    return moment.strftime("%d.%m.%Y") if moment else ""


def iso(value: datetime | str | None) -> str:
    moment = _moment(value)
    return moment.isoformat() if moment else ""


def month_de(period: str) -> str:
    """``2024-05`` -> ``Mai 2024``."""
    year, month = period.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"


def status_label(value: str | Status | None) -> str:
    if value is None or value == "":
        return "–"  # noqa: RUF001
    return Status(str(value)).label


def event_label(name: str) -> str:
    return EVENT_LABELS.get(name, name)


def actor_label(actor: dict[str, str]) -> str:
    role, ident = actor.get("role", ""), actor.get("id", "")
    if role == "support":
        return f"Support ({ident})"
    if role == "vendor":
        return f"Händler {ident}"
    if role == "diagonal":
        return "Diagonal"
    if role == "system":
        return f"System ({ident})"
    return ident or role


def filters() -> dict[str, Any]:
    """The Jinja2 filters."""
    return {
        "amount_de": amount,
        "datetime_de": datetime_de,
        "date_de": date_de,
        "iso": iso,
        "month_de": month_de,
        "status_label": status_label,
        "event_label": event_label,
        "actor_label": actor_label,
    }
