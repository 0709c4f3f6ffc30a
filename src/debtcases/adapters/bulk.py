"""The event store in bulk, and bounded: many streams read in one query; large saves in
bounded statements inside one transaction; no write that waits or holds the events table's
lock without bound; and no pre-ping of the pooled connection before these reads and writes.

Reading: the library reads one stream per query (``select_events``). A batch of commands
(an intake batch, a Kafka poll of acks, a CSV import) reads all its streams with one
``originator_id = ANY(...)`` (``IN (...)`` on SQLite) instead: ``select_events_of_many``.

Writing, PostgreSQL: the library inserts a save's events as one ``INSERT ... SELECT FROM
unnest(%s)`` in psycopg pipeline mode. With ~13,000 events or more that never returns: the
client sits in the pipeline sync while the backend holds the events table's exclusive lock,
and every other writer queues behind it. For a large save this inserts the events in chunks
of ``CHUNK_EVENTS`` within one ordinary transaction (same lock, same NOTIFY, same
notification ids; all or nothing). Every insert transaction sets a ``statement_timeout``
(so no statement holds the lock without bound), the lock wait is the library's
``lock_timeout``; and a write that timed out is not retried: the library's own retry loop
(10 attempts) would turn a 5 s lock wait into ~50 s. It still retries a broken connection.

Pre-ping: the pool checks every connection with a round trip before handing it out
(``POSTGRES_PRE_PING``), for callers that would fail on a connection the server has closed.
The reads and writes here retry a broken connection themselves (``_retry_unless_busy``: the
pool replaces it), so they take their connections without that round trip (under load 12 %
of an intake batch, 3 % of an ack batch); every other caller keeps it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from inspect import unwrap
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from debtcases.adapters.sql import dialect_for

CHUNK_EVENTS = 1000
# Streams read per query: a batch of 1,000 is one query; a 50,000-row import five.
STREAMS_PER_QUERY = 10_000

T = TypeVar("T")


def database_busy(exc: BaseException) -> bool:
    """Whether a persistence error means "busy", not "down": a lock wait or a statement
    that ran out of time, or no pooled connection free in time. Retrying at once only
    queues again; the caller is told to come back (HTTP 503 ``busy``)."""
    cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    return isinstance(
        cause,
        psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled | psycopg_pool.PoolTimeout,
    )


def _retry_unless_busy(call: Callable[[], T], attempts: int = 10, wait: float = 0.2) -> T:
    """The library's retry (a dropped connection, a restarted server), minus "busy"."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (InterfaceError, OperationalError) as exc:
            if database_busy(exc) or attempt == attempts:
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------ pre-ping

_without_pre_ping = threading.local()


@contextmanager
def _no_pre_ping() -> Iterator[None]:
    """Connections this thread takes meanwhile skip the pool's pre-ping (if the pool was
    set up by ``bound_event_writes``): for callers that retry a broken connection."""
    before = getattr(_without_pre_ping, "on", False)
    _without_pre_ping.on = True
    try:
        yield
    finally:
        _without_pre_ping.on = before


class _PrePingUnlessRetried:
    """The pool's connection check, skipped inside ``_no_pre_ping``."""

    def __init__(self, check: Callable[[Any], None]) -> None:
        self.check = check

    def __call__(self, conn: Any) -> None:
        if not getattr(_without_pre_ping, "on", False):
            self.check(conn)


def _pre_ping_only_where_not_retried(datastore: Any) -> None:
    # psycopg_pool keeps the check as ``_check`` (not public): if that ever changes, the
    # pre-ping simply stays everywhere.
    pool = getattr(datastore, "pool", None)
    check = getattr(pool, "_check", None)
    if check is None or isinstance(check, _PrePingUnlessRetried):
        return
    pool._check = _PrePingUnlessRetried(check)  # type: ignore[union-attr]


# ------------------------------------------------------------------------ reading


def select_events_of_many(
    recorder: Any, originator_ids: Iterable[UUID], max_version: int | None = None
) -> dict[UUID | str, list[StoredEvent]]:
    """Every stored event of each of ``originator_ids`` (``max_version``: only those up to
    that version), oldest first, in one query per ``STREAMS_PER_QUERY`` ids. Ids without
    events are absent from the answer."""
    ids = list(dict.fromkeys(originator_ids))
    found: dict[UUID | str, list[StoredEvent]] = {}
    for i in range(0, len(ids), STREAMS_PER_QUERY):
        part = ids[i : i + STREAMS_PER_QUERY]
        rows: list[StoredEvent]
        if isinstance(recorder, PostgresAggregateRecorder):
            with _no_pre_ping():
                rows = _retry_unless_busy(partial(_select_postgres, recorder, part, max_version))
        elif isinstance(recorder, SQLiteAggregateRecorder):
            rows = _select_sqlite(recorder, part, max_version)
        else:  # in memory: no query to save
            rows = [e for oid in part for e in recorder.select_events(oid, lte=max_version)]
        for event in rows:
            found.setdefault(event.originator_id, []).append(event)
    for events in found.values():
        events.sort(key=lambda e: e.originator_version)
    return found


def _up_to(max_version: int | None) -> tuple[str, list[Any]]:
    return ("", []) if max_version is None else (" AND originator_version <= %s", [max_version])


def _select_postgres(
    recorder: PostgresAggregateRecorder, ids: list[UUID], max_version: int | None = None
) -> list[StoredEvent]:
    binary = recorder.datastore.originator_id_type == "uuid"
    if binary:
        # The ids and the rows in binary: as text, psycopg formats every id and parses
        # every id and state (hex) back, PostgreSQL parses and prints them: ~2-4 us of
        # wall time a row more (1,000 rows, measured alternately on a loaded machine).
        where, params = "originator_id = ANY(%b::uuid[])", [ids]
    else:
        where, params = dialect_for("postgres").in_list("originator_id", ids)
    up_to, more = _up_to(max_version)
    where, params = where + up_to, [*params, *more]
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {0}.{1} WHERE "
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    # Tuples, not the pool's dict rows (a dict per row: 6 % of an ack batch).
    with (
        recorder.datastore.get_connection() as conn,
        conn.cursor(row_factory=tuple_row, binary=binary) as curs,
    ):
        curs.execute(statement + SQL(where), params)
        return [
            StoredEvent(
                originator_id=originator_id,
                originator_version=originator_version,
                topic=topic,
                state=bytes(state),
            )
            for originator_id, originator_version, topic, state in curs.fetchall()
        ]


def _select_sqlite(
    recorder: SQLiteAggregateRecorder, ids: list[UUID], max_version: int | None = None
) -> list[StoredEvent]:
    dialect = dialect_for("sqlite")
    where, params = dialect.in_list("originator_id", [i.hex for i in ids])
    up_to, more = _up_to(max_version)
    where, params = where + up_to, [*params, *more]
    statement = dialect.q(
        "SELECT originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE {where}"
    )
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(statement, params)
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in curs.fetchall()
        ]


# ------------------------------------------------------------------------ writing


def bound_event_writes(recorder: Any, statement_timeout: float, chunk: int = CHUNK_EVENTS) -> None:
    """Make ``recorder`` (the application's, PostgreSQL only; others are left alone)
    insert a large save in chunks, bound every statement of an insert transaction by
    ``statement_timeout`` seconds, and not retry a write that timed out."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return
    if recorder.datastore.enable_db_functions:
        return
    _pre_ping_only_where_not_retried(recorder.datastore)
    # First, so that it bounds the lock wait too (lock_timeout is the tighter bound).
    recorder.lock_table_statements = [
        SQL("SET LOCAL statement_timeout = '{0}ms'").format(int(statement_timeout * 1000)),
        *recorder.lock_table_statements,
    ]
    insert = _insert_statement(recorder)

    def insert_rows(curs: Any, stored_events: Sequence[StoredEvent]) -> None:
        # One array per column instead of the library's array of a composite type: psycopg
        # dumps those natively, the composite row by row in Python (~20 % of the intake);
        # in binary (``%b``): the text form quotes and escapes every element of the arrays
        # in Python (the states' bytes as hex), 14 % of admit_many, 2-3x the binary form.
        curs.execute(
            insert,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    def lock_and_insert(curs: Any, stored_events: Sequence[StoredEvent], **_: Any) -> None:
        recorder._lock_table(curs)
        recorder._notify_channel(curs)
        insert_rows(curs, stored_events)

    # The library's pipelined insert (one round trip for a small save) calls this.
    recorder._insert_stored_events = lock_and_insert  # type: ignore[method-assign]
    # ... and is used without its retry decorator (we retry below, minus "busy").
    pipelined = unwrap(type(recorder).insert_events)

    def insert_chunked(stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        ids: list[int] = []
        with recorder.datastore.transaction(commit=True) as curs:
            recorder._lock_table(curs)
            recorder._notify_channel(curs)
            for i in range(0, len(stored_events), chunk):
                part = stored_events[i : i + chunk]
                insert_rows(curs, part)
                ids.extend(recorder._fetch_ids_after_insert_events(curs, part) or [])
        return ids

    def insert_events(stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with _no_pre_ping():
            if len(stored_events) <= chunk:
                small: Sequence[int] | None = _retry_unless_busy(
                    lambda: pipelined(recorder, stored_events, **kwargs)
                )
                return small
            return _retry_unless_busy(lambda: insert_chunked(stored_events))

    recorder.insert_events = insert_events


def _insert_statement(recorder: PostgresApplicationRecorder) -> SQL | Any:
    """The library's insert (same columns, ``RETURNING notification_id`` in input order)
    over one array per column, sent in binary."""
    id_type = "uuid" if recorder.datastore.originator_id_type == "uuid" else "text"
    return SQL(
        "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) "
        "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) "
        "RETURNING notification_id"
    ).format(
        Identifier(recorder.datastore.schema),
        Identifier(recorder.events_table_name),
        SQL(id_type),
    )
