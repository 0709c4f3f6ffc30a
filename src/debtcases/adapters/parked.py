"""Parked events: an event a processor on the log runner cannot write is set aside here, so
one poison event never stalls a view or the outbox for everyone.

A parked row is written in the SAME transaction as the tracking record that skips its
event, so an event is either applied or parked, exactly once. Rows are never deleted: a
retry that succeeds stamps ``resolved_at`` (and how); one that fails counts an attempt and
keeps the newest error. The views and the outbox share the table (``processor`` tells them
apart); each writes it on its own connection, inside its own transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from debtcases.adapters.sql import Dialect

PARKED_TABLE = "parked_events"
MAX_ERROR_CHARS = 2000


def parked_ddl(dialect: Dialect) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {PARKED_TABLE} (
            id {dialect.serial_type} PRIMARY KEY,
            processor TEXT NOT NULL,
            view TEXT NOT NULL,
            generation INTEGER NOT NULL,
            notification_id BIGINT NOT NULL,
            originator_id TEXT NOT NULL,
            originator_version BIGINT NOT NULL,
            topic TEXT NOT NULL,
            error TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            resolved_at TEXT,
            resolution TEXT,
            UNIQUE (processor, view, generation, notification_id))""",
        f"CREATE INDEX IF NOT EXISTS {PARKED_TABLE}_open ON {PARKED_TABLE} (processor) "
        "WHERE resolved_at IS NULL",
    ]


def is_transient(exc: BaseException) -> bool:
    """A failure of the database or the connection (retry the batch later), as opposed to
    one that belongs to the event being written (park it). A lock or statement timeout is
    transient too (psycopg's QueryCanceled/LockNotAvailable are OperationalErrors)."""
    return isinstance(
        exc,
        OperationalError
        | InterfaceError
        | psycopg.OperationalError
        | psycopg.InterfaceError
        | sqlite3.OperationalError
        | MemoryError,
    )


def error_text(exc: BaseException) -> str:
    """The error as stored: type and message, without NUL (PostgreSQL text refuses it)."""
    text = f"{type(exc).__name__}: {exc}".replace("\x00", "\\x00")
    return text[:MAX_ERROR_CHARS]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ParkedEvent:
    id: int
    processor: str
    view: str
    generation: int
    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    error: str
    first_seen: str
    last_seen: str
    attempts: int
    resolved_at: str | None
    resolution: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def topic_of(event: Any) -> str:
    cls = type(event)
    return f"{cls.__module__}:{cls.__qualname__}"


def park(
    cur: Any,
    dialect: Dialect,
    *,
    processor: str,
    view: str,
    generation: int,
    notification_id: int,
    event: Any,
    error: BaseException,
    now: datetime,
) -> None:
    """Record that ``event`` was skipped (call in the transaction that tracks past it)."""
    at = _iso(now)
    cur.execute(
        dialect.q(
            f"INSERT INTO {PARKED_TABLE} (processor, view, generation, notification_id, "
            "originator_id, originator_version, topic, error, first_seen, last_seen, attempts) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1)"
        ),
        (
            processor,
            view,
            generation,
            notification_id,
            str(event.originator_id),
            int(event.originator_version),
            topic_of(event),
            error_text(error),
            at,
            at,
        ),
    )


def select_parked(
    cur: Any, dialect: Dialect, processor: str, *, include_resolved: bool = False
) -> list[ParkedEvent]:
    where = "processor = %s" + ("" if include_resolved else " AND resolved_at IS NULL")
    cur.execute(
        dialect.q(f"SELECT * FROM {PARKED_TABLE} WHERE {where} ORDER BY notification_id, id"),
        (processor,),
    )
    return [
        ParkedEvent(**{k: r[k] for k in ParkedEvent.__dataclass_fields__}) for r in cur.fetchall()
    ]


def count_open(cur: Any, dialect: Dialect, processor: str) -> int:
    cur.execute(
        dialect.q(
            f"SELECT COUNT(*) AS n FROM {PARKED_TABLE} WHERE processor = %s AND resolved_at IS NULL"
        ),
        (processor,),
    )
    return int(cur.fetchone()["n"])


def mark_resolved(
    cur: Any, dialect: Dialect, ids: Sequence[int], now: datetime, resolution: str
) -> None:
    if not ids:
        return
    clause, params = dialect.in_list("id", list(ids))
    cur.execute(
        dialect.q(
            f"UPDATE {PARKED_TABLE} SET resolved_at = %s, resolution = %s, last_seen = %s "
            f"WHERE resolved_at IS NULL AND {clause}"
        ),
        (_iso(now), resolution, _iso(now), *params),
    )


def mark_failed_again(
    cur: Any, dialect: Dialect, ids: Sequence[int], error: BaseException, now: datetime
) -> None:
    if not ids:
        return
    clause, params = dialect.in_list("id", list(ids))
    cur.execute(
        dialect.q(
            f"UPDATE {PARKED_TABLE} SET attempts = attempts + 1, error = %s, last_seen = %s "
            f"WHERE {clause}"
        ),
        (error_text(error), _iso(now), *params),
    )


def resolve_older_generations(
    cur: Any, dialect: Dialect, processor: str, view: str, generation: int, now: datetime
) -> None:
    """A rebuilt generation went live: what was parked in older ones is superseded."""
    cur.execute(
        dialect.q(
            f"UPDATE {PARKED_TABLE} SET resolved_at = %s, resolution = %s "
            "WHERE resolved_at IS NULL AND processor = %s AND view = %s AND generation < %s"
        ),
        (_iso(now), f"rebuilt (generation {generation})", processor, view, generation),
    )


class Savepoint:
    """``with Savepoint(cur):`` rolls back to the start of the block on an exception (and
    re-raises), keeping the surrounding transaction usable (both backends)."""

    def __init__(self, cur: Any, name: str = "one_write") -> None:
        self.cur, self.name = cur, name

    def __enter__(self) -> None:
        self.cur.execute(f"SAVEPOINT {self.name}")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.cur.execute(f"RELEASE SAVEPOINT {self.name}")
        else:
            self.cur.execute(f"ROLLBACK TO SAVEPOINT {self.name}")
            self.cur.execute(f"RELEASE SAVEPOINT {self.name}")
