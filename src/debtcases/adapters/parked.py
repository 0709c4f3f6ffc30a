"""Parked events: an event a processor on the log runner cannot write is set aside here, so
one poison event never stalls a view or the outbox for everyone.

A parked row is written in the SAME transaction as the tracking record that skips its
event, so an event is either applied or parked, exactly once. Rows are never deleted: a
retry that succeeds stamps ``resolved_at`` (and how); one that fails counts an attempt and
keeps the newest error. The views and the outbox share the table (``processor`` tells them
apart); each writes it on its own connection, inside its own transactions.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from debtcases.adapters.sql import Dialect

log = logging.getLogger(__name__)

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


def write_or_park(
    items: Sequence[tuple[int, Any]],
    write: Callable[[Sequence[tuple[int, Any]]], int],
    park: Callable[[tuple[int, Any], BaseException], int],
    who: str,
) -> int:
    """Write a batch of (notification id, event) with ``write``; when that fails for
    anything but the database being away, bisect the batch down to the one event that
    cannot be written and hand it to ``park`` (which records it with the tracking that
    skips it), so the rest goes on. Returns the position reached; a ``write`` that returns
    less than its last item's id (e.g. a rebuild switched generations) stops the bisection
    there, and the runner selects again from it. The one home of this rule for every
    processor on the log runner (the views and the outbox)."""
    try:
        return write(items)
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) == 1:
            log.warning("%s: parking notification %s: %s", who, items[0][0], error_text(exc))
            return park(items[0], exc)
    middle = len(items) // 2
    reached = write_or_park(items[:middle], write, park, who)
    if reached < items[middle - 1][0]:
        return reached
    return write_or_park(items[middle:], write, park, who)
