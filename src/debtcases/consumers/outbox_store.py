"""The outbox's store: the tables (``outbox``, ``outbox_holds``, ``outbox_portal_access``
and the outbox's parked events), written with the processor's tracking record in one
transaction (``record``), and read by the publishers (``unsent``, ``mark_sent``).

Holds: a blocked case's messages to Diagonal (topic ``handover``) are held; publishers
never deliver a row whose case is blocked at the time they select it (``unsent``). The
hold is recorded from ``Blocked`` in the same transaction as the messages, so it is exactly
as current as the outbox itself (and from ``Reopened`` into a block). ``Unblocked`` and
``HoldExpired`` release it (the held rows go out, in order); ``Cancelled``/``Paid`` of a
blocked case marks the held rows dropped (``dropped_at``, ``dropped_reason``; rows are
never deleted) and releases it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from debtcases.adapters.parked import (
    ParkedEvent,
    count_open,
    mark_failed_again,
    mark_resolved,
    park,
    parked_ddl,
    select_parked,
)
from debtcases.adapters.sql import POSTGRES, SQLITE, Dialect
from debtcases.commands.app import DunningCases
from debtcases.consumers.messages import HANDOVER_TOPIC, Outgoing
from debtcases.consumers.outbox_rows import HoldChange, OutboxRow

# The processor name the outbox's parked events are recorded under.
OUTBOX_PROCESSOR = "outbox"


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


_TABLES = [
    """CREATE TABLE IF NOT EXISTS outbox (
        position {serial} PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        topic TEXT NOT NULL,
        msg_key TEXT NOT NULL,
        order_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        notification_id BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (position) WHERE sent_at IS NULL",
    """CREATE TABLE IF NOT EXISTS outbox_holds (
        order_id TEXT PRIMARY KEY,
        held_since TEXT NOT NULL,
        released_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS outbox_portal_access (
        user_id BIGINT PRIMARY KEY,
        order_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        granted_at TEXT NOT NULL
    )""",
]


# Columns added after the first release: (name, type), added to existing tables on setup.
_ADDED_COLUMNS = (("dropped_at", "TEXT"), ("dropped_reason", "TEXT"))
# Needs the added columns, so it is created after them.
_PENDING_INDEX = (
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (position) "
    "WHERE sent_at IS NULL AND dropped_at IS NULL"
)
# Rows a publisher may deliver now: not sent, not dropped, and not held by a block.
_DELIVERABLE = (
    f"sent_at IS NULL AND dropped_at IS NULL AND NOT (topic = '{HANDOVER_TOPIC}' AND EXISTS ("
    "SELECT 1 FROM outbox_holds h WHERE h.order_id = outbox.order_id "
    "AND h.released_at IS NULL))"
)


class OutboxStoreMixin:
    """The outbox tables, written with the processor's tracking record (TrackingRecorder
    pattern: rows + ``_insert_tracking`` in one transaction)."""

    dialect: Dialect
    datastore: Any

    if TYPE_CHECKING:

        def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None: ...

        def max_tracking_id(self, application_name: str) -> int | None: ...

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.dialect.q(sql), tuple(params))
            return list(cursor.fetchall())

    def migrate(self) -> None:
        """Bring an outbox created by an earlier release up to date (idempotent)."""
        with self.datastore.transaction(commit=True) as cursor:
            if self.dialect.kind == "postgres":
                for name, kind in _ADDED_COLUMNS:
                    cursor.execute(f"ALTER TABLE outbox ADD COLUMN IF NOT EXISTS {name} {kind}")
            else:
                cursor.execute("PRAGMA table_info(outbox)")
                present = {r["name"] for r in cursor.fetchall()}
                for name, kind in _ADDED_COLUMNS:
                    if name not in present:
                        cursor.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")
            cursor.execute(_PENDING_INDEX)

    def _change_hold(self, cursor: Any, change: HoldChange, now: datetime) -> None:
        at = _iso(now)
        if change.action == "hold":
            cursor.execute(
                self.dialect.q(
                    "INSERT INTO outbox_holds (order_id, held_since, released_at) "
                    "VALUES (%s, %s, NULL) ON CONFLICT (order_id) DO UPDATE "
                    "SET held_since = excluded.held_since, released_at = NULL"
                ),
                (change.order_id, at),
            )
            return
        if change.action == "drop":
            cursor.execute(
                self.dialect.q(
                    "UPDATE outbox SET dropped_at = %s, dropped_reason = %s "
                    "WHERE order_id = %s AND topic = %s AND sent_at IS NULL "
                    "AND dropped_at IS NULL"
                ),
                (at, change.reason, change.order_id, HANDOVER_TOPIC),
            )
        cursor.execute(
            self.dialect.q(
                "UPDATE outbox_holds SET released_at = %s "
                "WHERE order_id = %s AND released_at IS NULL"
            ),
            (at, change.order_id),
        )

    def record(
        self,
        messages: Sequence[tuple[Outgoing | HoldChange, int]],
        tracking: Tracking | None,
        now: datetime,
        *,
        parked: tuple[int, Any, BaseException] | None = None,
        resolved: Sequence[int] = (),
        announce: tuple[str, str] | None = None,
    ) -> list[str]:
        """Insert ``messages`` (each with its notification id) and apply the hold changes
        among them, in their order, with the tracking record, atomically. Portal access is
        kept once per vendor. ``parked``: (notification id, event, error) of an event
        skipped by this tracking record; ``resolved``: parked rows whose messages these are
        (a retry, no tracking). ``announce`` (PostgreSQL): (channel, payload) NOTIFYed in
        the same transaction, so delivered with the commit. On PostgreSQL the statements go
        in psycopg's pipeline mode: one round trip for the batch's hold changes, messages,
        tracking and announcement (before, one per statement: under the command load a
        batch of blocks and unblocks is a statement per event). Returns the message ids
        inserted."""
        inserted: list[str] = []
        pipelined = self.dialect.kind == "postgres"
        with (
            self.datastore.transaction(commit=True) as cursor,
            cursor.connection.pipeline() if pipelined else contextlib.nullcontext(),
        ):
            if parked is not None:
                position, event, error = parked
                park(
                    cursor,
                    self.dialect,
                    processor=OUTBOX_PROCESSOR,
                    view="",
                    generation=0,
                    notification_id=position,
                    event=event,
                    error=error,
                    now=now,
                )
            mark_resolved(cursor, self.dialect, resolved, now, "retried")
            for message, notification_id in messages:
                if isinstance(message, HoldChange):
                    self._change_hold(cursor, message, now)
                    continue
                if message.type == "portal_access":
                    user_id = int(message.payload["user_id"])
                    cursor.execute(
                        self.dialect.q(
                            "SELECT user_id FROM outbox_portal_access WHERE user_id = %s"
                        ),
                        (user_id,),
                    )
                    if cursor.fetchone() is not None:
                        continue
                    cursor.execute(
                        self.dialect.q(
                            "INSERT INTO outbox_portal_access (user_id, order_id, message_id, "
                            "granted_at) VALUES (%s, %s, %s, %s)"
                        ),
                        (user_id, message.order_id, message.message_id, message.payload["at"]),
                    )
                cursor.execute(
                    self.dialect.q(
                        "INSERT INTO outbox (message_id, type, topic, msg_key, order_id, payload, "
                        "notification_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    ),
                    (
                        message.message_id,
                        message.type,
                        message.topic,
                        message.key,
                        message.order_id,
                        json.dumps(message.payload, ensure_ascii=False, sort_keys=True),
                        notification_id,
                        _iso(now),
                    ),
                )
                inserted.append(message.message_id)
            if announce is not None:  # sent with the commit, so never for a rollback
                cursor.execute("SELECT pg_notify(%s, %s)", announce)
            if tracking is not None:  # last: its check reads the answer (the one sync)
                self._insert_tracking(cursor, tracking)
        return inserted

    def parked(self, include_resolved: bool = False) -> list[ParkedEvent]:
        with self.datastore.transaction(commit=False) as cursor:
            return select_parked(
                cursor, self.dialect, OUTBOX_PROCESSOR, include_resolved=include_resolved
            )

    def parked_count(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            return count_open(cursor, self.dialect, OUTBOX_PROCESSOR)

    def failed_again(self, ids: Sequence[int], error: BaseException, now: datetime) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            mark_failed_again(cursor, self.dialect, ids, error, now)

    @staticmethod
    def _row(r: Any) -> OutboxRow:
        return OutboxRow(
            position=int(r["position"]),
            message_id=r["message_id"],
            type=r["type"],
            topic=r["topic"],
            key=r["msg_key"],
            order_id=r["order_id"],
            payload=json.loads(r["payload"]),
            created_at=_ts(r["created_at"]),
            sent_at=_ts(r["sent_at"]) if r["sent_at"] else None,
            dropped_at=_ts(r["dropped_at"]) if r["dropped_at"] else None,
            dropped_reason=r["dropped_reason"],
        )

    def unsent(self, limit: int = 500, topics: Sequence[str] = ()) -> list[OutboxRow]:
        """Messages to deliver now, oldest first (outbox order = event order per order):
        not sent, not dropped, not held by a block of their case."""
        where = _DELIVERABLE
        params: list[Any] = []
        if topics:
            clause, ps = self.dialect.in_list("topic", topics)
            where += f" AND {clause}"
            params.extend(ps)
        rows = self._rows(
            f"SELECT * FROM outbox WHERE {where} ORDER BY position LIMIT %s", [*params, limit]
        )
        return [self._row(r) for r in rows]

    def messages(self, order_id: str | None = None, limit: int = 1000) -> list[OutboxRow]:
        if order_id is None:
            rows = self._rows("SELECT * FROM outbox ORDER BY position LIMIT %s", [limit])
        else:
            rows = self._rows(
                "SELECT * FROM outbox WHERE order_id = %s ORDER BY position LIMIT %s",
                [order_id, limit],
            )
        return [self._row(r) for r in rows]

    def mark_sent(self, positions: Sequence[int], at: datetime) -> None:
        if not positions:
            return
        with self.datastore.transaction(commit=True) as cursor:
            clause, params = self.dialect.in_list("position", positions)
            sql = f"UPDATE outbox SET sent_at = %s WHERE sent_at IS NULL AND {clause}"
            cursor.execute(self.dialect.q(sql), (_iso(at), *params))

    def backlog(self) -> int:
        rows = self._rows(
            "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND dropped_at IS NULL"
        )
        return int(rows[0]["n"])

    def portal_access(self, user_id: int) -> dict[str, Any] | None:
        """When the vendor's portal access was granted (their first case at Diagonal)."""
        rows = self._rows(
            "SELECT p.user_id, p.order_id, p.message_id, p.granted_at, o.sent_at"
            " FROM outbox_portal_access p LEFT JOIN outbox o ON o.message_id = p.message_id"
            " WHERE p.user_id = %s",
            [user_id],
        )
        if not rows:
            return None
        r = rows[0]
        return {
            "user_id": int(r["user_id"]),
            "order_id": r["order_id"],
            "message_id": r["message_id"],
            "granted_at": _ts(r["granted_at"]).isoformat(),
            "sent_at": _ts(r["sent_at"]).isoformat() if r["sent_at"] else None,
        }


class PostgresOutboxStore(OutboxStoreMixin, PostgresTrackingRecorder):
    dialect = POSTGRES

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name="outbox_tracking")
        for statement in _TABLES:
            ddl = SQL(statement.format(serial=self.dialect.serial_type))
            self.sql_create_statements.append(ddl)  # type: ignore[arg-type]
        for statement in parked_ddl(self.dialect):
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]


class SQLiteOutboxStore(OutboxStoreMixin, SQLiteTrackingRecorder):
    dialect = SQLITE

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        tables = [s.format(serial=self.dialect.serial_type) for s in _TABLES]
        return statements + tables + parked_ddl(self.dialect)


OutboxStore = OutboxStoreMixin


def outbox_store_for(app: DunningCases, kind: str) -> OutboxStoreMixin:
    """An outbox in the application's own database (sharing its connection pool), or, for
    in-memory persistence, in a private in-memory SQLite database."""
    store: OutboxStoreMixin
    if kind == "postgres":
        store = PostgresOutboxStore(app.recorder.datastore)  # type: ignore[attr-defined]
    elif kind == "sqlite":
        store = SQLiteOutboxStore(app.recorder.datastore)  # type: ignore[attr-defined]
    else:
        name = f"file:debtcases_outbox_{uuid.uuid4().hex}?mode=memory&cache=shared"
        store = SQLiteOutboxStore(SQLiteDatastore(name, pool_size=2))
    store.create_table()
    store.migrate()
    return store
