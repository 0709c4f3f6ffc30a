"""German formatting for the web UI: amounts as ``1.234,56 €``, times in Europe/Berlin,
event and actor labels for the history popup."""

from __future__ import annotations

from datetime import date, datetime
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
    "HoldExpired": "Sperre abgelaufen",
    "Paid": "Als bezahlt markiert",
    "Reopened": "Korrigiert: wieder geöffnet",
    "AddressCorrected": "Adresse korrigiert",
    "ClosedAtDiagonal": "Bei Diagonal abgeschlossen",
    "AckRecorded": "Antwort von Diagonal vermerkt (ohne Wirkung)",
}


# The hold reason codes (domain/holds.py) as support reads them, in the form's order.
HOLD_LABELS: dict[str, str] = {
    "dispute": "Streitfall",
    "promise_to_pay": "Zahlungszusage",
    "vendor_unsure": "Händler unsicher",
    "legal_check": "Rechtliche Prüfung",
    "other": "Sonstiges",
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


def entry_label(entry: Any) -> str:
    """A history entry's label: a hold that ended because the debtor did not pay as
    promised says so."""
    details = getattr(entry, "details", None) or {}
    if entry.event == "HoldExpired" and details.get("promise_broken"):
        return "Zahlungszusage gebrochen"
    return event_label(entry.event)


def hold_label(code: str | None) -> str:
    return HOLD_LABELS.get(code or "", code or "")


def _day(value: Any) -> str:
    if value is None or value == "":
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day:%d.%m.%Y}"


def hold_parts(hold: dict[str, Any] | None, currency: str = "EUR") -> list[str]:
    """A hold's terms in words: ``["Zahlungszusage", "49,90 € bis 01.07.2024"]``,
    ``["Händler unsicher", "bis 01.07.2024"]`` (``until``: the day dunning resumes), or just
    the label when it has no end."""
    if not hold:
        return []
    parts = [hold_label(hold.get("code"))]
    if hold.get("code") == "promise_to_pay":
        promised = hold.get("promised_amount")
        by = _day(hold.get("promised_date"))
        parts.append(
            " ".join(
                p
                for p in (amount(promised, currency) if promised else "", f"bis {by}" if by else "")
                if p
            )
        )
    elif hold.get("until"):
        parts.append(f"bis {_day(hold.get('until'))}")
    return [p for p in parts if p]


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
        "entry_label": entry_label,
        "hold_label": hold_label,
        "hold_parts": hold_parts,
        "day_de": _day,
        "actor_label": actor_label,
    }
