"""Eligibility's vocabulary: the **checks** a rule-set condition may name (``CHECKS``), each
with its parameters' validators and what it answers for one order (``Outcome``), and the
Berlin calendar a time condition counts in. The rule set (``eligibility_ruleset``) names
them; the engine (``eligibility``) runs them.

A *time condition* (check ``days_after``) turns green at 00:00 Europe/Berlin of a date fact
plus its offset and stays green; every other check depends on the facts only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from debtcases.domain.debtor import DEFAULT_SERVED_COUNTRIES, POSTAL_CODE_PATTERNS
from debtcases.domain.order_facts import (
    Failure,
    OrderFacts,
    PaymentMethod,
    ReminderKind,
)

BERLIN = ZoneInfo("Europe/Berlin")
_HAS_DIGIT = re.compile(r"[0-9]")  # 0-9 only: other scripts' digits are no house number


def day_start(day: date) -> datetime:
    """00:00 Europe/Berlin of ``day``, in UTC: when a date-based condition turns green."""
    return datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)


def berlin_date(moment: datetime) -> date:
    return moment.astimezone(BERLIN).date()


# ============================================================ the vocabulary (checks)


@dataclass(frozen=True)
class Context:
    """What a check may know besides the facts."""

    served_countries: frozenset[str] = DEFAULT_SERVED_COUNTRIES


@dataclass(frozen=True)
class Outcome:
    """A check's answer for one order: green or red, the observed value (as support reads
    it), what was required, and, for red, the message (German)."""

    passed: bool
    observed: str
    required: str
    message: str = ""
    # Time conditions: the moment it turns (or turned) green; None when the date is missing.
    green_from: datetime | None = None


# The date facts a time condition may count from.
DATE_FACTS: dict[str, Callable[[OrderFacts], date | None]] = {
    "failed_on": lambda f: f.failed_on,
    "invoice_date": lambda f: f.invoice_date,
    "due_date": lambda f: f.due_date,
    "last_reminder_on": lambda f: f.last_reminder_on(),
    "last_payment_reminder_on": lambda f: f.last_reminder_on(ReminderKind.PAYMENT_REMINDER),
    "last_mahnung_on": lambda f: f.last_reminder_on(ReminderKind.MAHNUNG),
}
# The yes/no facts a ``flag`` condition may require.
FLAG_FACTS: dict[str, Callable[[OrderFacts], bool]] = {
    "dunning_enabled": lambda f: f.dunning_enabled,
}
# The optional date facts an ``absent`` condition may require to be empty.
ABSENT_FACTS: dict[str, Callable[[OrderFacts], date | None]] = {
    "refunded_on": lambda f: f.refunded_on,
    "cancelled_on": lambda f: f.cancelled_on,
}


@dataclass(frozen=True)
class CheckSpec:
    """A check's name, its parameters (name -> validator returning an error or None) and
    whether it is a time condition."""

    name: str
    params: dict[str, Callable[[Any], str | None]]
    run: Callable[[OrderFacts, Mapping[str, Any], Context, datetime], Outcome]
    is_time: bool = False
    required_params: frozenset[str] = frozenset()


def _fmt_date(d: date | None) -> str:
    return d.isoformat() if d is not None else "—"


def _yes(v: bool) -> str:
    return "ja" if v else "nein"


def _run_failure_in(f: OrderFacts, p: Mapping[str, Any], _: Context, __: datetime) -> Outcome:
    allowed = [Failure(v) for v in p["values"]]
    ok = f.failure in allowed
    required = "eins von: " + ", ".join(a.value for a in allowed)
    msg = "" if ok else f"Zahlungsausfall ist {f.failure.value}, verlangt {required}."
    return Outcome(ok, f.failure.value, required, msg)


def _run_payment_method_in(
    f: OrderFacts, p: Mapping[str, Any], _: Context, __: datetime
) -> Outcome:
    allowed = [PaymentMethod(v) for v in p["values"]]
    ok = f.payment_method in allowed
    required = "eins von: " + ", ".join(a.value for a in allowed)
    msg = "" if ok else f"Zahlungsart ist {f.payment_method.value}, verlangt {required}."
    return Outcome(ok, f.payment_method.value, required, msg)


def _run_amount_above(f: OrderFacts, p: Mapping[str, Any], _: Context, __: datetime) -> Outcome:
    minimum = Decimal(str(p.get("min", "0")))
    ok = f.amount > minimum
    observed = f"{f.amount:.2f} {f.currency}"
    msg = "" if ok else f"Offener Betrag muss größer als {minimum} sein (ist {f.amount})."
    return Outcome(ok, observed, f"> {minimum}", msg)


def _run_flag(f: OrderFacts, p: Mapping[str, Any], _: Context, __: datetime) -> Outcome:
    value = FLAG_FACTS[p["fact"]](f)
    want = bool(p.get("value", True))
    ok = value is want
    return Outcome(ok, _yes(value), _yes(want), "" if ok else f"{p['fact']} ist {_yes(value)}.")


def _run_absent(f: OrderFacts, p: Mapping[str, Any], _: Context, __: datetime) -> Outcome:
    value = ABSENT_FACTS[p["fact"]](f)
    ok = value is None
    return Outcome(ok, _fmt_date(value), "keins", "" if ok else f"{p['fact']}: {value}.")


def _run_reminders_at_least(
    f: OrderFacts, p: Mapping[str, Any], _: Context, __: datetime
) -> Outcome:
    kind_text = str(p.get("kind", "any"))
    kind = None if kind_text == "any" else ReminderKind(kind_text)
    count = f.reminder_count(kind)
    need = int(p.get("count", 1))
    ok = count >= need
    what = "Erinnerungen" if kind is None else kind.value
    msg = "" if ok else f"{count} {what} versendet, verlangt mindestens {need}."
    return Outcome(ok, str(count), f">= {need}", msg)


def _run_days_after(f: OrderFacts, p: Mapping[str, Any], _: Context, now: datetime) -> Outcome:
    fact = p["fact"]
    days = int(p["offset_days"])
    start = DATE_FACTS[fact](f)
    if start is None:
        return Outcome(False, "—", f"{fact} + {days} Tage", f"{fact} fehlt.", None)
    green_from = day_start(start + timedelta(days=days))
    ok = now >= green_from
    observed = start.isoformat()
    required = f"{fact} + {days} Tage (ab {berlin_date(green_from).isoformat()})"
    msg = "" if ok else f"Frist läuft bis {berlin_date(green_from).isoformat()}."
    return Outcome(ok, observed, required, msg, green_from)


def _run_debtor_name(f: OrderFacts, _: Mapping[str, Any], __: Context, ___: datetime) -> Outcome:
    name = f.debtor.name.strip()
    return Outcome(bool(name), name or "—", "nicht leer", "" if name else "Name des Kunden fehlt.")


def _run_debtor_street(f: OrderFacts, _: Mapping[str, Any], __: Context, ___: datetime) -> Outcome:
    street = f.debtor.street.strip()
    if not street:
        return Outcome(False, "—", "Straße mit Hausnummer", "Straße fehlt.")
    if not _HAS_DIGIT.search(street):
        return Outcome(
            False,
            street,
            "Straße mit Hausnummer",
            f"Adresse ungültig: Hausnummer fehlt in der Straße {street!r}.",
        )
    return Outcome(True, street, "Straße mit Hausnummer")


def _served(p: Mapping[str, Any], ctx: Context) -> frozenset[str]:
    given = p.get("countries")
    return frozenset(c.upper() for c in given) if given else ctx.served_countries


def _run_debtor_country(f: OrderFacts, p: Mapping[str, Any], ctx: Context, _: datetime) -> Outcome:
    served = _served(p, ctx)
    country = f.debtor.country.strip().upper()
    required = "eins von: " + ", ".join(sorted(served))
    if not country:
        return Outcome(False, "—", required, "Land fehlt.")
    if country not in served:
        return Outcome(
            False,
            country,
            required,
            f"Land {country!r} wird von Diagonal nicht bedient "
            f"(bedient: {', '.join(sorted(served))}).",
        )
    return Outcome(True, country, required)


def _run_debtor_postal_code(
    f: OrderFacts, _: Mapping[str, Any], __: Context, ___: datetime
) -> Outcome:
    country = f.debtor.country.strip().upper()
    postal_code = f.debtor.postal_code.strip()
    required = f"gültig für {country}" if country in POSTAL_CODE_PATTERNS else "nicht leer"
    if not postal_code:
        return Outcome(False, "—", required, "Postleitzahl fehlt.")
    pattern = POSTAL_CODE_PATTERNS.get(country)
    if pattern is not None and not pattern.fullmatch(postal_code):
        return Outcome(
            False,
            postal_code,
            required,
            f"Adresse ungültig: Postleitzahl {postal_code!r} passt nicht zu {country}.",
        )
    return Outcome(True, postal_code, required)


def _run_debtor_city(f: OrderFacts, _: Mapping[str, Any], __: Context, ___: datetime) -> Outcome:
    city = f.debtor.city.strip()
    return Outcome(bool(city), city or "—", "nicht leer", "" if city else "Ort fehlt.")


def _values_of(enum: type[StrEnum]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        known = {e.value for e in enum}
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            return "must be a non-empty list of strings"
        bad = [x for x in v if x not in known]
        if bad:
            return f"unknown value {bad[0]!r}; known: {', '.join(sorted(known))}"
        return None

    return check


def _one_of(known: Iterable[str]) -> Callable[[Any], str | None]:
    names = sorted(known)

    def check(v: Any) -> str | None:
        if v not in names:
            return f"unknown fact {v!r}; known: {', '.join(names)}"
        return None

    return check


def _non_negative_int(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 3650:
        return "must be an integer from 0 to 3650"
    return None


def _decimal_text(v: Any) -> str | None:
    try:
        Decimal(str(v))
    except InvalidOperation:
        return 'must be a number (e.g. "0")'
    return None if isinstance(v, str | int) and not isinstance(v, bool) else "must be a number"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _countries(v: Any) -> str | None:
    if (
        not isinstance(v, list)
        or not v
        or not all(isinstance(x, str) and re.fullmatch(r"[A-Za-z]{2}", x) for x in v)
    ):
        return "must be a non-empty list of 2-letter country codes"
    return None


def _reminder_kind(v: Any) -> str | None:
    known = ["any", *(k.value for k in ReminderKind)]
    return None if v in known else f"unknown kind {v!r}; known: {', '.join(known)}"


CHECKS: dict[str, CheckSpec] = {
    s.name: s
    for s in [
        CheckSpec(
            "failure_in",
            {"values": _values_of(Failure)},
            _run_failure_in,
            False,
            frozenset({"values"}),
        ),
        CheckSpec(
            "payment_method_in",
            {"values": _values_of(PaymentMethod)},
            _run_payment_method_in,
            False,
            frozenset({"values"}),
        ),
        CheckSpec("amount_above", {"min": _decimal_text}, _run_amount_above),
        CheckSpec(
            "flag",
            {"fact": _one_of(FLAG_FACTS), "value": _bool},
            _run_flag,
            False,
            frozenset({"fact"}),
        ),
        CheckSpec(
            "absent", {"fact": _one_of(ABSENT_FACTS)}, _run_absent, False, frozenset({"fact"})
        ),
        CheckSpec(
            "reminders_at_least",
            {"kind": _reminder_kind, "count": _non_negative_int},
            _run_reminders_at_least,
        ),
        CheckSpec(
            "days_after",
            {"fact": _one_of(DATE_FACTS), "offset_days": _non_negative_int},
            _run_days_after,
            True,
            frozenset({"fact", "offset_days"}),
        ),
        CheckSpec("debtor_name", {}, _run_debtor_name),
        CheckSpec("debtor_street", {}, _run_debtor_street),
        CheckSpec("debtor_country_served", {"countries": _countries}, _run_debtor_country),
        CheckSpec("debtor_postal_code", {}, _run_debtor_postal_code),
        CheckSpec("debtor_city", {}, _run_debtor_city),
    ]
}
