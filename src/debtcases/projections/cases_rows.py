"""The cases view's rows: their columns, a case's state as a row and back (``fold_row``,
what the writer applies an event with), and the row <-> database conversion every part of
the view (live table, versions, queries) reads and writes with."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase
from debtcases.domain.debtor import Debtor
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.state import CaseState, evolve
from debtcases.domain.statuses import Status
from debtcases.projections.tables import TableStore

BERLIN = ZoneInfo("Europe/Berlin")

# Columns of the cases view, in table order (position = notification id of the last event).
CASE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "order_id",
    "user_id",
    "status",
    "status_before_block",
    "vendor_status",
    "amount",
    "currency",
    "debtor_name",
    "debtor_street",
    "debtor_postal_code",
    "debtor_city",
    "debtor_country",
    "errors",
    "created_at",
    "updated_at",
    "entered_month",
    "last_event",
    "last_actor_role",
    "last_actor_id",
    "last_reason",
    "at_diagonal",
    "handed_over_at",
    "running_since",
    "awaiting_diagonal_close",
    "closed_at_diagonal_at",
    "fell_back",
    "payment_reference",
    "version",
    "position",
    "in_repair",
    "vendor_version",
    "vendor_updated_at",
    "hold_reason",
    "hold_until",
    "hold_promised_amount",
    "hold_promised_date",
    "hold_ends_at",
)
# Columns added after the first release: (name, type key, value for existing rows: SQL over
# the row). A live generation from an earlier release gets them on setup (ALTER TABLE, then
# UPDATE); the values are approximations for rows written before (no repair in progress,
# the vendor's version and time = the case's), exact after ``debtcases rebuild``.
ADDED_CASE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("in_repair", "bool", "{false}"),
    ("vendor_version", "int", "version"),
    ("vendor_updated_at", "ts", "updated_at"),
    # Holds (issue 11): a block stored before reason codes is `other`, without an end.
    ("hold_reason", "text", "CASE WHEN status = 'BLOCKED' THEN 'other' END"),
    ("hold_until", "text", "NULL"),
    ("hold_promised_amount", "text", "NULL"),
    ("hold_promised_date", "text", "NULL"),
    ("hold_ends_at", "ts", "NULL"),
)
CASE_TIMESTAMPS = frozenset(
    {
        "created_at",
        "updated_at",
        "handed_over_at",
        "running_since",
        "closed_at_diagonal_at",
        "vendor_updated_at",
        "hold_ends_at",
    }
)
CASE_BOOLEANS = frozenset({"at_diagonal", "awaiting_diagonal_close", "fell_back", "in_repair"})
# The text columns that hold text as an event carried it (the others are made here: enum
# values, formatted amounts and dates, ids, class names, and never hold a NUL).
CASE_FREE_TEXT = frozenset(
    {
        "order_id",
        "currency",
        "debtor_name",
        "debtor_street",
        "debtor_postal_code",
        "debtor_city",
        "debtor_country",
        "last_actor_id",
        "last_reason",
        "payment_reference",
    }
)
_FREE_TEXT_AT = tuple(i for i, c in enumerate(CASE_COLUMNS) if c in CASE_FREE_TEXT)
_TIMESTAMPS_AT = tuple(i for i, c in enumerate(CASE_COLUMNS) if c in CASE_TIMESTAMPS)
_BOOLEANS_AT = tuple(i for i, c in enumerate(CASE_COLUMNS) if c in CASE_BOOLEANS)
_ERRORS_AT = CASE_COLUMNS.index("errors")

# The columns the list totals are counted by (every filter but the order id).
COUNT_KEY = ("user_id", "status", "vendor_status", "entered_month")
CountKey = tuple[int, str, str, str]


def count_key(row: dict[str, Any]) -> CountKey:
    return (int(row["user_id"]), row["status"], row["vendor_status"], row["entered_month"])


def entered_month(created_at: datetime) -> str:
    """The period filter: calendar month (Europe/Berlin) in which the case entered dunning."""
    utc = created_at if created_at.tzinfo is UTC else created_at.astimezone(UTC)
    if 1 < utc.day < 28:  # Berlin is 1 or 2 hours ahead: the same month (made per event)
        return f"{utc.year:04d}-{utc.month:02d}"
    return created_at.astimezone(BERLIN).strftime("%Y-%m")


def case_values(
    s: CaseState, position: int, case_id: str | None = None, month: str | None = None
) -> list[Any]:
    """A case's state as the values of a row of the cases view, in ``CASE_COLUMNS``
    order (Python values, not yet the database's: ``CaseRowStore._case_values_to_db``).
    The one place a row's columns are made: ``row_from_state`` is these by name.
    ``case_id`` (``str(s.case_id)``) and ``month`` (``entered_month(s.created_at)``): what
    a caller folding a case event by event has already (the rebuild), not made again."""
    actor = s.last_actor or s.created_by
    d = s.debtor
    sbb = s.status_before_block
    hold = s.hold
    if hold is None:
        held: tuple[Any, ...] = (None, None, None, None, None)
    else:
        h = hold.as_dict()
        held = (h["code"], h["until"], h["promised_amount"], h["promised_date"], hold.ends_at)
    return [
        case_id or str(s.case_id),
        s.order_id,
        s.user_id,
        s.status.value,
        sbb.value if sbb else None,
        s.status_for(Role.VENDOR).value,
        f"{s.amount:.2f}",
        s.currency,
        d.name,
        d.street,
        d.postal_code,
        d.city,
        d.country,
        list(s.errors),
        s.created_at,
        s.updated_at or s.created_at,
        month or entered_month(s.created_at),
        s.last_event,
        actor.role.value,
        actor.id,
        s.last_reason,
        s.at_diagonal,
        s.handed_over_at,
        s.running_since,
        s.awaiting_diagonal_close,
        s.closed_at_diagonal_at,
        s.fell_back,
        s.payment_reference,
        s.version,
        position,
        s.in_repair,
        s.vendor_version,
        s.vendor_updated_at or s.created_at,
        *held,
    ]


def row_from_state(s: CaseState, position: int) -> dict[str, Any]:
    """A case's state as a row of the cases view (``case_values`` by column name)."""
    return dict(zip(CASE_COLUMNS, case_values(s, position), strict=True))


def hold_from_row(row: dict[str, Any]) -> Hold | None:
    if row.get("hold_reason") is None:
        return None
    amount, until, promised = (
        row.get("hold_promised_amount"),
        row.get("hold_until"),
        row.get("hold_promised_date"),
    )
    return Hold(
        code=HoldReason(row["hold_reason"]),
        until=date.fromisoformat(until) if until else None,
        promised_amount=Decimal(amount) if amount is not None else None,
        promised_date=date.fromisoformat(promised) if promised else None,
    )


def state_from_row(row: dict[str, Any]) -> CaseState:
    """The state a row was written from (what ``evolve`` needs to go on from it)."""
    debtor = Debtor(
        row["debtor_name"],
        row["debtor_street"],
        row["debtor_postal_code"],
        row["debtor_city"],
        row["debtor_country"],
    )
    actor = Actor(Role(row["last_actor_role"]), row["last_actor_id"])
    sbb = row["status_before_block"]
    return CaseState(
        case_id=UUID(row["case_id"]),
        order_id=row["order_id"],
        user_id=int(row["user_id"]),
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        debtor=debtor,
        admitted_debtor=debtor,
        created_at=row["created_at"],
        created_by=actor,
        status=Status(row["status"]),
        status_before_block=Status(sbb) if sbb else None,
        hold=hold_from_row(row),
        errors=tuple(row["errors"]),
        fell_back=bool(row["fell_back"]),
        in_repair=bool(row["in_repair"]),
        handover_sent=bool(row["at_diagonal"]),
        handed_over_at=row["handed_over_at"],
        running_since=row["running_since"],
        payment_reference=row["payment_reference"],
        awaiting_diagonal_close=bool(row["awaiting_diagonal_close"]),
        closed_at_diagonal_at=row["closed_at_diagonal_at"],
        updated_at=row["updated_at"],
        last_event=row["last_event"],
        last_actor=actor,
        last_reason=row["last_reason"],
        version=int(row["version"]),
        vendor_version=int(row["vendor_version"]),
        vendor_updated_at=row["vendor_updated_at"],
    )


def fold_row(row: dict[str, Any] | None, event: Any, position: int) -> dict[str, Any] | None:
    """The row after ``event`` (None: no row yet). None when the event cannot apply: an
    event of a case whose ``Locked`` this view never saw, or one applied already."""
    new = fold_state(state_from_row(row) if row is not None else None, event)
    return row_from_state(new, position) if new is not None else None


def fold_state(state: CaseState | None, event: Any) -> CaseState | None:
    """The state after ``event`` (None: the event cannot apply, as ``fold_row``). The
    rebuild's bulk path holds the states in memory and folds with this, making its rows
    with ``case_values``; the runner goes through its stored rows (``fold_row``): the same
    rows, because a row keeps everything of a state that ``evolve`` reads to make the
    next row."""
    if state is None:
        if not isinstance(event, DunningCase.Locked):
            return None
        return evolve(None, event)
    if int(event.originator_version) <= state.version:
        return None  # defensive: never apply an event twice
    return evolve(state, event)


def case_columns_ddl(ts: str, b: str) -> str:
    """The columns of a case row (CASE_COLUMNS) with their types, for the cases table and
    its versions."""
    return f"""
                case_id TEXT NOT NULL, order_id TEXT NOT NULL,
                user_id BIGINT NOT NULL, status TEXT NOT NULL, status_before_block TEXT,
                vendor_status TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,
                debtor_name TEXT NOT NULL, debtor_street TEXT NOT NULL,
                debtor_postal_code TEXT NOT NULL, debtor_city TEXT NOT NULL,
                debtor_country TEXT NOT NULL, errors TEXT NOT NULL,
                created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
                entered_month TEXT NOT NULL, last_event TEXT NOT NULL,
                last_actor_role TEXT NOT NULL, last_actor_id TEXT NOT NULL,
                last_reason TEXT NOT NULL, at_diagonal {b} NOT NULL,
                handed_over_at {ts}, running_since {ts},
                awaiting_diagonal_close {b} NOT NULL, closed_at_diagonal_at {ts},
                fell_back {b} NOT NULL, payment_reference TEXT,
                version INTEGER NOT NULL, position BIGINT NOT NULL,
                in_repair {b} NOT NULL, vendor_version INTEGER NOT NULL,
                vendor_updated_at {ts} NOT NULL,
                hold_reason TEXT, hold_until TEXT, hold_promised_amount TEXT,
                hold_promised_date TEXT, hold_ends_at {ts}"""


class CaseRowStore(TableStore):
    """Case rows to and from the database's values (base of the cases view's mixins)."""

    def _case_to_db(self, row: dict[str, Any]) -> list[Any]:
        return self._case_values_to_db([row[c] for c in CASE_COLUMNS])

    def _case_values_to_db(self, values: list[Any], *, in_place: bool = False) -> list[Any]:
        """A row's values in ``CASE_COLUMNS`` order (``case_values``) as the database
        takes them (a new list; ``in_place``: ``values`` itself, converted): timestamps and
        booleans as the dialect stores them, the errors as JSON, the free text
        (``CASE_FREE_TEXT``) through ``text_in``."""
        d = self.dialect
        out = values if in_place else list(values)
        if d.kind == "postgres":  # timestamps and booleans as they are; NULs are rare
            for i in _FREE_TEXT_AT:
                v = out[i]
                if v and "\x00" in v:
                    out[i] = d.text_in(v)
            for i in _BOOLEANS_AT:
                out[i] = bool(out[i])  # what bool_in gives on PostgreSQL
        else:
            for i in _TIMESTAMPS_AT:
                out[i] = d.ts_in(out[i])
            for i in _FREE_TEXT_AT:
                if out[i]:
                    out[i] = d.text_in(out[i])
            for i in _BOOLEANS_AT:
                out[i] = d.bool_in(bool(out[i]))
        errors = out[_ERRORS_AT]
        out[_ERRORS_AT] = json.dumps(errors, ensure_ascii=False) if errors else "[]"
        return out

    def _case_from_db(self, r: dict[str, Any]) -> dict[str, Any]:
        row = dict(r)
        for c in CASE_TIMESTAMPS:
            row[c] = self.dialect.ts_out(row[c])
        for c in CASE_BOOLEANS:
            row[c] = bool(row[c])
        row["errors"] = json.loads(row["errors"])
        return row

    @staticmethod
    def _changed_column(vendor_id: int | None) -> str:
        """The column a list is ordered by: what the reader sees changed last."""
        return "updated_at" if vendor_id is None else "vendor_updated_at"
