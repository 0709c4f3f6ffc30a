"""Eligibility: the rules that admit orders into dunning, as data, and the ONE engine that
evaluates them, for the scheduler that admits and for the explainer that says why (so the
two can never disagree). The handover checks behind FAILED run on the same engine.

A **rule set** (a versioned file, see ``parse_ruleset``) holds groups of conditions. An order
qualifies when every condition of at least one group holds. A condition is a **check** from
``CHECKS`` (its vocabulary) with parameters; a *time condition* (check ``days_after``) turns
green at 00:00 Europe/Berlin of a date fact plus its offset and stays green. Every other
condition depends on the facts only. So, within one rule-set version, a group that is met
stays met, and the first moment it is met (its **due date**) is the latest of its time
conditions' moments, provided every other condition is green.

Rule sets form a **timeline**: each version applies from its ``active_from`` until the next
version's. An order's due date is the first moment ``t`` at which the version active at
``t`` has a fully met group; the version and group that made it due are recorded with the
case. Changing the rule set never changes an admitted case.

Pure: no I/O, no clock. File reading is the caller's (``commands/orders.py``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from debtcases.domain.actors import Actor
from debtcases.domain.debtor import DEFAULT_SERVED_COUNTRIES, POSTAL_CODE_PATTERNS, Debtor
from debtcases.domain.order_facts import (
    Failure,
    OrderFacts,
    PaymentMethod,
    ReminderKind,
)
from debtcases.domain.statuses import Status

BERLIN = ZoneInfo("Europe/Berlin")
_HAS_DIGIT = re.compile(r"\d")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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


# ================================================================= the rule set


@dataclass(frozen=True)
class Condition:
    id: str
    label: str  # German, as support reads it
    check: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_time(self) -> bool:
        return CHECKS[self.check].is_time

    @property
    def offset_days(self) -> int | None:
        return int(self.params["offset_days"]) if self.is_time else None

    def evaluate(self, facts: OrderFacts, now: datetime, ctx: Context) -> Outcome:
        return CHECKS[self.check].run(facts, self.params, ctx, now)


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class RuleSet:
    version: str
    active_from: datetime
    groups: tuple[Group, ...]
    description: str = ""
    source: str = ""  # the file it came from


class RuleSetError(ValueError):
    """A rule file that cannot be used: names the file, the line and what is wrong."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {problem}")


_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z_.]+)\s*\]\]\s*(#.*)?$")


class _Lines:
    """Where things are in the rule file's text, to name the line of a problem."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: list[tuple[str, int]] = []  # (table-array name, 1-based line)
        for n, line in enumerate(self.lines, start=1):
            m = _HEADER.match(line)
            if m:
                self.headers.append((m.group(1), n))

    def header(self, name: str, index: int) -> int | None:
        found = [n for h, n in self.headers if h == name]
        return found[index] if index < len(found) else None

    def key(self, name: str, start: int | None, key: str) -> int | None:
        """The line of ``key = ...`` inside the block starting at ``start`` (or at the top
        level before the first block when ``start`` is None); else the block's line."""
        begin = start or 0
        ends = [n for _, n in self.headers if n > begin]
        end = min(ends) - 1 if ends else len(self.lines)
        if start is None:
            begin, end = 0, (self.headers[0][1] - 1 if self.headers else len(self.lines))
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n in range(begin + 1, end + 1):
            if pattern.match(self.lines[n - 1]):
                return n
        return start


_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def parse_ruleset(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and validate a rule file (TOML). Raises ``RuleSetError`` naming the file, the
    line and what is wrong; a rule set that parses is safe to run.

    Format::

        version = "2024.1"                       # unique per rule set
        active_from = 2024-01-01T00:00:00+01:00  # applies from here until the next version
        description = "..."

        [[common]]                 # conditions every group also has (shown in each group)
        id = "dunning_enabled"
        label = "Mahnwesen beim Vendor aktiviert"
        check = "flag"
        fact = "dunning_enabled"

        [[group]]
        id = "ruecklastschrift"
        label = "Rücklastschrift / Chargeback"

          [[group.condition]]
          id = "grace_over"
          label = "14 Tage seit der Rücklastschrift vergangen"
          check = "days_after"
          fact = "failed_on"
          offset_days = 14
    """
    where = _Lines(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POS.search(str(exc))
        line = int(m.group(1)) if m else None
        problem = _TOML_POS.sub("", str(exc)).strip()
        raise RuleSetError(source, line, f"not valid TOML: {problem}") from None

    def fail(problem: str, line: int | None) -> RuleSetError:
        return RuleSetError(source, line, problem)

    known_top = {"version", "active_from", "description", "common", "group"}
    for key in data:
        if key not in known_top:
            raise fail(
                f"unknown key {key!r}; known: {', '.join(sorted(known_top))}",
                where.key("", None, key) or where.header(key, 0),
            )
    version = data.get("version")
    if not isinstance(version, str) or not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", version
    ):
        raise fail(
            "'version' must be a string of letters, digits, '.', '_' or '-' (at most 32)",
            where.key("", None, "version") or 1,
        )
    active_from = data.get("active_from")
    if not isinstance(active_from, datetime) or active_from.tzinfo is None:
        raise fail(
            "'active_from' must be a date-time with offset, e.g. 2024-01-01T00:00:00+01:00",
            where.key("", None, "active_from") or 1,
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("'description' must be a string", where.key("", None, "description"))

    def condition(raw: Any, table: str, index: int) -> Condition:
        line = where.header(table, index)
        if not isinstance(raw, dict):
            raise fail(f"[[{table}]] must be a table", line)
        allowed = {"id", "label", "check"}
        for key in ("id", "label", "check"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise fail(
                    f"condition needs '{key}' (a non-empty string)", where.key(table, line, key)
                )
        cid, check = raw["id"], raw["check"]
        if not _ID.fullmatch(cid):
            raise fail(
                f"condition id {cid!r} must be lower-case letters, digits or '_'",
                where.key(table, line, "id"),
            )
        spec = CHECKS.get(check)
        if spec is None:
            raise fail(
                f"unknown check {check!r}; known: {', '.join(sorted(CHECKS))}",
                where.key(table, line, "check"),
            )
        params = {k: v for k, v in raw.items() if k not in allowed}
        for key, value in params.items():
            validate = spec.params.get(key)
            if validate is None:
                known = ", ".join(sorted(spec.params)) or "none"
                raise fail(
                    f"check {check!r} has no parameter {key!r} (parameters: {known})",
                    where.key(table, line, key),
                )
            problem = validate(value)
            if problem:
                raise fail(f"{key}: {problem}", where.key(table, line, key))
        for key in sorted(spec.required_params - params.keys()):
            raise fail(f"check {check!r} needs the parameter {key!r}", line)
        return Condition(cid, raw["label"].strip(), check, params)

    commons_raw = data.get("common", [])
    if not isinstance(commons_raw, list):
        raise fail(
            "'common' must be an array of tables ([[common]])", where.key("", None, "common")
        )
    commons = [condition(c, "common", i) for i, c in enumerate(commons_raw)]

    groups_raw = data.get("group", [])
    if not isinstance(groups_raw, list) or not groups_raw:
        raise fail("a rule set needs at least one [[group]]", where.header("group", 0) or 1)
    groups: list[Group] = []
    seen_groups: set[str] = set()
    condition_index = 0
    for gi, raw in enumerate(groups_raw):
        line = where.header("group", gi)
        if not isinstance(raw, dict):
            raise fail("[[group]] must be a table", line)
        for key in raw:
            if key not in ("id", "label", "condition"):
                raise fail(
                    f"unknown key {key!r} in a group; known: condition, id, label",
                    where.key("group", line, key),
                )
        for key in ("id", "label"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise fail(
                    f"group needs '{key}' (a non-empty string)", where.key("group", line, key)
                )
        gid = raw["id"]
        if not _ID.fullmatch(gid):
            raise fail(
                f"group id {gid!r} must be lower-case letters, digits or '_'",
                where.key("group", line, "id"),
            )
        if gid in seen_groups:
            raise fail(f"group id {gid!r} appears twice", where.key("group", line, "id"))
        seen_groups.add(gid)
        own_raw = raw.get("condition", [])
        if not isinstance(own_raw, list) or not own_raw:
            raise fail(f"group {gid!r} needs at least one [[group.condition]]", line)
        own = []
        for c in own_raw:
            own.append(condition(c, "group.condition", condition_index))
            condition_index += 1
        conditions = (*commons, *own)
        ids = [c.id for c in conditions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise fail(f"condition id {dupes[0]!r} appears twice in group {gid!r}", line)
        groups.append(Group(gid, raw["label"].strip(), conditions))
    return RuleSet(version, active_from.astimezone(UTC), tuple(groups), description, source)


@dataclass(frozen=True)
class Timeline:
    """Rule-set versions in order of ``active_from``; each applies until the next one."""

    rulesets: tuple[RuleSet, ...]

    @classmethod
    def of(cls, rulesets: Iterable[RuleSet]) -> Timeline:
        ordered = tuple(sorted(rulesets, key=lambda r: r.active_from))
        if not ordered:
            raise RuleSetError("<timeline>", None, "no rule set configured")
        versions = [r.version for r in ordered]
        for r in ordered:
            if versions.count(r.version) > 1:
                raise RuleSetError(r.source, None, f"version {r.version!r} appears twice")
        starts = [r.active_from for r in ordered]
        if len(set(starts)) != len(starts):
            raise RuleSetError(ordered[0].source, None, "two rule sets share 'active_from'")
        return cls(ordered)

    def active_at(self, at: datetime) -> RuleSet | None:
        """The version in force at ``at`` (None before the first one)."""
        current = None
        for r in self.rulesets:
            if r.active_from <= at:
                current = r
        return current

    def windows(self) -> list[tuple[RuleSet, datetime, datetime | None]]:
        out = []
        for i, r in enumerate(self.rulesets):
            end = self.rulesets[i + 1].active_from if i + 1 < len(self.rulesets) else None
            out.append((r, r.active_from, end))
        return out

    @property
    def fingerprint(self) -> str:
        """Identifies this timeline (versions and starts): due dates stored under another
        timeline are recomputed."""
        return ";".join(f"{r.version}@{r.active_from.isoformat()}" for r in self.rulesets)


# ================================================================= the engine


@dataclass(frozen=True)
class ConditionResult:
    id: str
    label: str
    check: str
    passed: bool
    observed: str
    required: str
    message: str
    is_time: bool
    offset_days: int | None
    green_from: datetime | None


@dataclass(frozen=True)
class GroupResult:
    id: str
    label: str
    passed: bool
    conditions: tuple[ConditionResult, ...]
    # The first moment every condition holds when only time is missing (None: a condition
    # other than time is red, or a time condition's date is missing). Within this version.
    met_from: datetime | None

    @property
    def red(self) -> list[ConditionResult]:
        return [c for c in self.conditions if not c.passed]

    @property
    def blocking(self) -> list[ConditionResult]:
        """The red conditions time alone will not turn green."""
        return [c for c in self.conditions if not c.passed and c.green_from is None]


def evaluate_group(group: Group, facts: OrderFacts, now: datetime, ctx: Context) -> GroupResult:
    results = []
    met_from: datetime | None = datetime.min.replace(tzinfo=UTC)
    for c in group.conditions:
        o = c.evaluate(facts, now, ctx)
        results.append(
            ConditionResult(
                c.id,
                c.label,
                c.check,
                o.passed,
                o.observed,
                o.required,
                o.message,
                c.is_time,
                c.offset_days,
                o.green_from,
            )
        )
        if c.is_time:
            if o.green_from is None or met_from is None:
                met_from = None
            else:
                met_from = max(met_from, o.green_from)
        elif not o.passed:
            met_from = None
    return GroupResult(
        group.id, group.label, all(r.passed for r in results), tuple(results), met_from
    )


@dataclass(frozen=True)
class RuleSetResult:
    ruleset: RuleSet
    groups: tuple[GroupResult, ...]


def evaluate(ruleset: RuleSet, facts: OrderFacts, now: datetime, ctx: Context) -> RuleSetResult:
    return RuleSetResult(ruleset, tuple(evaluate_group(g, facts, now, ctx) for g in ruleset.groups))


@dataclass(frozen=True)
class Due:
    """When the order is (or was) due for dunning, and what made it due."""

    at: datetime
    ruleset_version: str
    group: str


def due_of(timeline: Timeline, facts: OrderFacts, ctx: Context) -> Due | None:
    """The first moment ``t`` at which the rule set active at ``t`` has a fully met group
    (None: never, with these facts). Deterministic: ties go to the earlier group in the
    file. Independent of ``now``: met-from moments do not depend on it."""
    best: Due | None = None
    for ruleset, start, end in timeline.windows():
        # ``now`` only colours the conditions; met_from does not depend on it.
        result = evaluate(ruleset, facts, start, ctx)
        for g in result.groups:
            if g.met_from is None:
                continue
            t = max(start, g.met_from)
            if end is not None and t >= end:
                continue
            if best is None or t < best.at:
                best = Due(t, ruleset.version, g.id)
        if best is not None:
            break  # a later window can only give a later moment
    return best


# ============================================================== the verdict


class Verdict(StrEnum):
    IN_DUNNING = "in_dunning"
    ELIGIBLE_ON = "eligible_on"
    NOT_ELIGIBLE = "not_eligible"
    MISSING = "missing"
    UNKNOWN_ORDER = "unknown_order"


class AdmittedBy(StrEnum):
    SCHEDULER = "scheduler"  # the rule set (``admit-due``)
    MANUAL = "manual"  # support, by hand, with a reason
    INTAKE = "intake"  # POST /api/v1/cases (or a CSV import) directly


@dataclass(frozen=True)
class Admission:
    """How a case entered dunning, as its ``Locked`` event tells."""

    by: AdmittedBy
    at: datetime
    actor: Actor
    ruleset_version: str | None = None
    group: str | None = None
    reason: str = ""  # manual: support's why


_AUTO = re.compile(r"^Automatisch aufgenommen: Regelwerk (\S+), Gruppe (\S+)")
_MANUAL = re.compile(r"^Von Hand aufgenommen \(Regelwerk (\S+); rot: [^)]*\): (.*)$", re.S)


def scheduler_reason(due: Due) -> str:
    """The ``Locked`` reason of an admission by the scheduler (parsed back by
    ``admission_of``)."""
    return (
        f"Automatisch aufgenommen: Regelwerk {due.ruleset_version}, Gruppe {due.group}, "
        f"fällig seit {due.at.isoformat()}"
    )


def manual_reason(ruleset_version: str, red: Sequence[str], why: str) -> str:
    """The ``Locked`` reason of support's admission by hand: the rule-set version, the red
    conditions and support's reason."""
    reds = ", ".join(red) or "keine"
    return f"Von Hand aufgenommen (Regelwerk {ruleset_version}; rot: {reds}): {why}"


def admission_of(reason: str, actor: Actor, at: datetime) -> Admission:
    """Read a ``Locked`` event's reason back into how the case was admitted."""
    m = _AUTO.match(reason)
    if m:
        return Admission(AdmittedBy.SCHEDULER, at, actor, m.group(1), m.group(2).rstrip(","))
    m = _MANUAL.match(reason)
    if m:
        return Admission(AdmittedBy.MANUAL, at, actor, m.group(1), None, m.group(2))
    return Admission(AdmittedBy.INTAKE, at, actor, reason=reason)


@dataclass(frozen=True)
class CaseInfo:
    """What the explainer needs of an existing case (as of the moment explained)."""

    status: Status
    admission: Admission


@dataclass(frozen=True)
class NextStep:
    text: str
    at: datetime | None


@dataclass(frozen=True)
class Explanation:
    order_id: str
    at: datetime
    verdict: Verdict
    summary: str
    ruleset: RuleSet | None
    result: RuleSetResult | None
    due: Due | None
    next_step: NextStep
    case: CaseInfo | None = None
    blocking: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (group, red condition ids)


def verdict_of(due: Due | None, has_case: bool, has_facts: bool, at: datetime) -> Verdict:
    """The one verdict rule (the scheduler admits exactly when this says ``missing``)."""
    if has_case:
        return Verdict.IN_DUNNING
    if not has_facts:
        return Verdict.UNKNOWN_ORDER
    if due is None:
        return Verdict.NOT_ELIGIBLE
    if due.at <= at:
        return Verdict.MISSING
    return Verdict.ELIGIBLE_ON


_NEXT_FOR_STATUS = {
    Status.LOCKED: "Der Vendor startet das Mahnverfahren (Play) im Inkasso-Beta-Tab.",
    Status.RUNNING: "Die Übergabe an Diagonal läuft; Diagonals Bestätigung steht aus.",
    Status.FAILED: "Support: Fehler hinter dem '!' beheben, dann 'Laufend' und "
    "'Ans Inkasso übergeben'.",
    Status.HANDED_OVER: "Der Fall ist bei Diagonal.",
    Status.BLOCKED: "Pausiert: Support hebt die Blockierung auf, wenn der Vendor entschieden hat.",
    Status.CANCELLED: "Keiner: der Fall ist gekündigt.",
    Status.PAID: "Keiner: der Fall ist bezahlt.",
}


def explain(
    *,
    order_id: str,
    timeline: Timeline,
    facts: OrderFacts | None,
    case: CaseInfo | None,
    at: datetime,
    ctx: Context,
) -> Explanation:
    """Why is this order (not) in dunning at ``at``? Pure: the caller loads the facts
    known at ``at`` and the case as of ``at``."""
    ruleset = timeline.active_at(at) or timeline.rulesets[0]
    result = evaluate(ruleset, facts, at, ctx) if facts is not None else None
    due = due_of(timeline, facts, ctx) if facts is not None else None
    verdict = verdict_of(due, case is not None, facts is not None, at)
    blocking: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if result is not None:
        blocking = tuple(
            (g.id, tuple(c.id for c in g.blocking)) for g in result.groups if g.blocking
        )
    if verdict is Verdict.IN_DUNNING:
        assert case is not None
        a = case.admission
        how = {
            AdmittedBy.SCHEDULER: f"automatisch (Regelwerk {a.ruleset_version}, Gruppe {a.group})",
            AdmittedBy.MANUAL: f"von Hand durch {a.actor.id}: {a.reason}",
            AdmittedBy.INTAKE: f"direkt übermittelt durch {a.actor.role.value}:{a.actor.id}",
        }[a.by]
        summary = (
            f"Im Mahnwesen seit {a.at.isoformat()}, Status {case.status.value} "
            f"({case.status.label}); aufgenommen {how}."
        )
        step = NextStep(_NEXT_FOR_STATUS[case.status], None)
    elif verdict is Verdict.UNKNOWN_ORDER:
        summary = (
            "Zu dieser Bestell-ID liegen keine Fakten vor: die Plattform hat sie nicht gemeldet."
        )
        step = NextStep(
            "Prüfen, ob die Bestell-ID stimmt; sonst die Meldung der Plattform prüfen.", None
        )
    elif verdict is Verdict.NOT_ELIGIBLE:
        red = "; ".join(f"{g}: {', '.join(ids)}" for g, ids in blocking)
        summary = f"Nicht im Mahnwesen: in jeder Gruppe ist etwas rot ({red})."
        step = NextStep(
            "Keine automatische Aufnahme. Rote Bedingungen beheben (neue Fakten melden) "
            "oder von Hand aufnehmen (mit Begründung).",
            None,
        )
    elif verdict is Verdict.ELIGIBLE_ON:
        assert due is not None
        summary = (
            f"Noch nicht fällig: erscheint am {berlin_date(due.at).isoformat()} im Mahnwesen "
            f"(Gruppe {due.group}, Regelwerk {due.ruleset_version})."
        )
        step = NextStep("Automatische Aufnahme ins Mahnwesen (Status Gesperrt).", due.at)
    else:
        assert due is not None
        summary = (
            f"FEHLER: Gruppe {due.group} ist erfüllt und fällig seit {due.at.isoformat()}, "
            "aber es gibt keinen Fall. Bitte ein Ticket erstellen (Jira)."
        )
        step = NextStep(
            "Ticket melden; der Planer (admit-due) sollte die Bestellung beim nächsten Lauf "
            "aufnehmen.",
            at,
        )
    return Explanation(
        order_id=order_id,
        at=at,
        verdict=verdict,
        summary=summary,
        ruleset=ruleset,
        result=result,
        due=due,
        next_step=step,
        case=case,
        blocking=blocking if verdict is Verdict.NOT_ELIGIBLE else (),
    )


def red_conditions(ruleset: RuleSet, facts: OrderFacts, now: datetime, ctx: Context) -> list[str]:
    """``group.condition`` ids that are red at ``now`` (for a manual admission's record)."""
    result = evaluate(ruleset, facts, now, ctx)
    if any(g.passed for g in result.groups):
        return []
    return [f"{g.id}.{c.id}" for g in result.groups for c in g.red]


# ======================================================== the handover checks

# The data Diagonal needs before it can take a case: a fixed group on the same engine.
HANDOVER = Group(
    "handover",
    "Übergabe an Diagonal",
    (
        Condition("name", "Name des Kunden", "debtor_name"),
        Condition("street", "Straße mit Hausnummer", "debtor_street"),
        Condition("country", "Land wird von Diagonal bedient", "debtor_country_served"),
        Condition("postal_code", "Postleitzahl passt zum Land", "debtor_postal_code"),
        Condition("city", "Ort", "debtor_city"),
        Condition("amount", "Offener Betrag größer als 0", "amount_above", {"min": "0"}),
    ),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def handover_errors(debtor: Debtor, amount: Decimal, served_countries: Iterable[str]) -> list[str]:
    """What stops Diagonal from taking a case (German messages for the "!" popup), from
    the ``HANDOVER`` group on the engine."""
    facts = OrderFacts(
        order_id="handover",
        user_id=1,
        amount=amount,
        currency="EUR",
        payment_method=PaymentMethod.OTHER,
        failure=Failure.NONE,
        failed_on=None,
        invoice_number="",
        invoice_date=None,
        due_date=None,
        reminders=(),
        refunded_on=None,
        cancelled_on=None,
        debtor=debtor,
        dunning_enabled=True,
    )
    ctx = Context(frozenset(c.upper() for c in served_countries))
    result = evaluate_group(HANDOVER, facts, _EPOCH, ctx)
    return [c.message for c in result.conditions if not c.passed]
