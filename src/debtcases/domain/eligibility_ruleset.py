"""Eligibility's rule sets, as data: a **rule set** (one versioned TOML file, see
``parse_ruleset``) holds groups of conditions, each condition a check from ``CHECKS`` with
its parameters. A file is validated on loading: ``RuleSetError`` names the file, the line
and what is wrong, so a rule set that parses is safe to run.

Rule sets form a **timeline**: each version applies from its ``active_from`` until the next
version's.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from debtcases.domain.eligibility_checks import CHECKS, Context, Outcome
from debtcases.domain.order_facts import OrderFacts

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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
