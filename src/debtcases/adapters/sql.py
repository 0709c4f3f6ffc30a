"""The one SQL dialect: what differs between PostgreSQL and SQLite in the statements this
service writes by hand (placeholders, timestamps, booleans, IN-lists, locks, DDL types).

Every module that writes SQL asks ``dialect_for(kind)`` instead of branching on the backend
itself, so a difference between the two databases is handled in exactly one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Dialect:
    """The SQL differences of one backend. Statements are written with ``%s``
    placeholders (psycopg style); ``q`` turns them into the backend's own."""

    kind: str
    placeholder: str
    timestamp_type: str  # column type of a timestamp
    boolean_type: str
    serial_type: str  # an increasing integer primary key
    lock_for_update: str  # suffix of a SELECT that locks its rows until commit

    def q(self, sql: str) -> str:
        return sql if self.placeholder == "%s" else sql.replace("%s", self.placeholder)

    def marks(self, n: int) -> str:
        """``n`` placeholders, comma-separated, already in the backend's style."""
        return ", ".join([self.placeholder] * n)

    # --------------------------------------------------------------- values

    def ts_in(self, value: datetime | None) -> Any:
        """A timestamp as this backend stores it in a ``timestamp_type`` column."""
        if value is None or self.kind == "postgres":
            return value
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def ts_out(self, value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    def utc_prefix(self, column: str, length: int) -> str:
        """SQL: the first ``length`` (at most 13) characters of a timestamp column as UTC
        ISO text, ``YYYY-MM-DDTHH``: what Python's ``isoformat`` of the moment in UTC starts
        with (and what SQLite stores, see ``ts_in``)."""
        if self.kind == "postgres":
            text = f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"
            return f"substr({text}, 1, {length})"
        return f"substr({column}, 1, {length})"

    def text_in(self, value: str) -> str:
        """Free text as this backend can store it: PostgreSQL's text refuses NUL, so a NUL
        (which the event store keeps, JSON-escaped) is written to a view as U+FFFD."""
        if self.kind == "postgres" and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value

    def bool_in(self, value: bool) -> Any:
        return value if self.kind == "postgres" else int(value)

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column IN (...)`` with its parameters (``%s`` placeholders, like every
        statement before ``q``)."""
        if self.kind == "postgres":
            return f"{column} = ANY(%s)", [list(values)]
        return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)

    def true(self) -> str:
        """An always-true WHERE clause."""
        return "TRUE" if self.kind == "postgres" else "1"

    # ---------------------------------------------------------- statements

    def begin_write(self, cursor: Any, any_table: str) -> None:
        """Take the write lock at the start of a transaction. SQLite: a read that later
        upgrades to a write can fail at once with 'database is locked' instead of
        waiting; any UPDATE takes the lock (waiting for the busy timeout) first.
        PostgreSQL locks rows as it goes: nothing to do."""
        if self.kind == "sqlite":
            cursor.execute(f"UPDATE {any_table} SET rowid = rowid WHERE 0")

    def table_exists(self, cursor: Any, table: str) -> bool:
        if self.kind == "postgres":
            cursor.execute("SELECT to_regclass(%s) AS t", (table,))
            return cursor.fetchone()["t"] is not None
        cursor.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (table,))
        return cursor.fetchone() is not None


POSTGRES = Dialect(
    kind="postgres",
    placeholder="%s",
    timestamp_type="TIMESTAMPTZ",
    boolean_type="BOOLEAN",
    serial_type="BIGSERIAL",
    lock_for_update=" FOR UPDATE",
)
# SQLite: timestamps as ISO text (UTC, microseconds: sorts as it compares); a write
# transaction already excludes every other writer, so no row locks.
SQLITE = Dialect(
    kind="sqlite",
    placeholder="?",
    timestamp_type="TEXT",
    boolean_type="INTEGER",
    serial_type="INTEGER",  # INTEGER PRIMARY KEY is the rowid: increasing
    lock_for_update="",
)


def dialect_for(kind: str) -> Dialect:
    """The dialect of a database kind (``memory`` runs on SQLite)."""
    return POSTGRES if kind == "postgres" else SQLITE
