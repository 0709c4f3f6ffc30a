"""The outbox: outgoing Diagonal messages recorded from the stored events, exactly once.

``OutboxProcessor`` reads the DunningCases notification log in order and, in ONE transaction
with its tracking record, inserts the messages each event calls for into the ``outbox``
table (plus a vendor's first portal-access message and the "running at Diagonal" watch).
Re-processing a notification is refused by the tracking record, so a crash or a second
processor never records a message twice. Publishers (Kafka or the simulator) then deliver
unsent rows in outbox order and mark them sent only after delivery.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from debtcases.adapters.threads import LoopWorker
from debtcases.commands.app import DunningCases
from debtcases.consumers import metrics
from debtcases.consumers.messages import (
    Outgoing,
    calls_for_message,
    messages_for,
    running_change,
)
from debtcases.domain.case import DunningCase

PROCESSOR_NAME = "DiagonalOutbox"


@dataclass(frozen=True)
class OutboxRow:
    position: int
    message_id: str
    type: str
    topic: str
    key: str
    order_id: str
    payload: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None

    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


@dataclass
class RunningChange:
    case_id: str
    order_id: str
    user_id: int
    running_since: datetime | None  # None: no longer running


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
    """CREATE TABLE IF NOT EXISTS outbox_portal_access (
        user_id BIGINT PRIMARY KEY,
        order_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        granted_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS outbox_running (
        case_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        running_since TEXT NOT NULL
    )""",
]


class OutboxStoreMixin:
    """The outbox tables, written with the processor's tracking record (TrackingRecorder
    pattern: rows + ``_insert_tracking`` in one transaction). ``P`` is the placeholder."""

    P = "%s"
    datastore: Any

    if TYPE_CHECKING:

        def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None: ...

        def max_tracking_id(self, application_name: str) -> int | None: ...

    def _q(self, sql: str) -> str:
        return sql.replace("%s", self.P)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._q(sql), tuple(params))
            return list(cursor.fetchall())

    def record(
        self,
        messages: Sequence[tuple[Outgoing, int]],
        running: Sequence[RunningChange],
        tracking: Tracking,
        now: datetime,
    ) -> list[str]:
        """Insert ``messages`` (each with its notification id), apply the running watch
        changes and the tracking record, atomically. Portal access is kept once per vendor.
        Returns the message ids inserted."""
        inserted: list[str] = []
        with self.datastore.transaction(commit=True) as cursor:
            for message, notification_id in messages:
                if message.type == "portal_access":
                    user_id = int(message.payload["user_id"])
                    cursor.execute(
                        self._q("SELECT user_id FROM outbox_portal_access WHERE user_id = %s"),
                        (user_id,),
                    )
                    if cursor.fetchone() is not None:
                        continue
                    cursor.execute(
                        self._q(
                            "INSERT INTO outbox_portal_access (user_id, order_id, message_id, "
                            "granted_at) VALUES (%s, %s, %s, %s)"
                        ),
                        (user_id, message.order_id, message.message_id, message.payload["at"]),
                    )
                cursor.execute(
                    self._q(
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
            for change in running:
                cursor.execute(
                    self._q("DELETE FROM outbox_running WHERE case_id = %s"), (change.case_id,)
                )
                if change.running_since is not None:
                    cursor.execute(
                        self._q(
                            "INSERT INTO outbox_running (case_id, order_id, user_id, "
                            "running_since) VALUES (%s, %s, %s, %s)"
                        ),
                        (
                            change.case_id,
                            change.order_id,
                            change.user_id,
                            _iso(change.running_since),
                        ),
                    )
            self._insert_tracking(cursor, tracking)
        return inserted

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
        )

    def unsent(self, limit: int = 500, topics: Sequence[str] = ()) -> list[OutboxRow]:
        """Undelivered messages, oldest first (outbox order = event order per order)."""
        where = "sent_at IS NULL"
        params: list[Any] = []
        if topics:
            where += " AND topic IN (" + ", ".join(["%s"] * len(topics)) + ")"
            params.extend(topics)
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
            marks = ", ".join(["%s"] * len(positions))
            sql = f"UPDATE outbox SET sent_at = %s WHERE sent_at IS NULL AND position IN ({marks})"
            cursor.execute(
                self._q(sql),
                (_iso(at), *positions),
            )

    def backlog(self) -> int:
        rows = self._rows("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
        return int(rows[0]["n"])

    def stuck_cases(self, running_before: datetime) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT order_id, user_id, running_since FROM outbox_running "
            "WHERE running_since < %s ORDER BY running_since",
            [_iso(running_before)],
        )
        return [
            {
                "order_id": r["order_id"],
                "user_id": int(r["user_id"]),
                "running_since": _ts(r["running_since"]).isoformat(),
            }
            for r in rows
        ]

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
    P = "%s"

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name="outbox_tracking")
        for statement in _TABLES:
            self.sql_create_statements.append(SQL(statement.format(serial="BIGSERIAL")))  # type: ignore[arg-type]


class SQLiteOutboxStore(OutboxStoreMixin, SQLiteTrackingRecorder):
    P = "?"

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        serial = "INTEGER"  # INTEGER PRIMARY KEY is the rowid: increasing
        return statements + [s.format(serial=serial) for s in _TABLES]


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
    return store


GAUGE_INTERVAL_SECONDS = 2.0


class OutboxProcessor(LoopWorker):
    """Follows the DunningCases notification log (polling: works on SQLite, PostgreSQL and
    in memory) and records the outgoing messages each event calls for."""

    name = "diagonal-outbox"

    def __init__(
        self,
        app: DunningCases,
        store: OutboxStoreMixin,
        *,
        batch_size: int = 200,
        stuck_after_hours: float = 48.0,
        interval: float = 0.2,
    ) -> None:
        super().__init__(interval=interval)
        self.app = app
        self.store = store
        self.batch_size = batch_size
        self.stuck_after = timedelta(hours=stuck_after_hours)
        self._lock = threading.Lock()
        self.position = 0
        self._gauges_at = 0.0

    def run_once(self) -> int:
        with self._lock:
            done = self._process_batch()
        # The gauges cost two queries; every few seconds is fresh enough for a scrape.
        if time.monotonic() - self._gauges_at >= GAUGE_INTERVAL_SECONDS:
            self.update_gauges()
        return done

    def update_gauges(self) -> None:
        self._gauges_at = time.monotonic()
        metrics.OUTBOX_BACKLOG.set(self.store.backlog())
        metrics.CASES_STUCK.set(len(self.store.stuck_cases(self.app.clock() - self.stuck_after)))

    def catch_up(self) -> int:
        """Process everything stored so far (tests, CLI)."""
        total = 0
        while True:
            with self._lock:
                done = self._process_batch()
            total += done
            if not done:
                return total

    def _process_batch(self) -> int:
        last = self.store.max_tracking_id(PROCESSOR_NAME) or 0
        notifications = self.app.recorder.select_notifications(
            start=last + 1, limit=self.batch_size
        )
        if not notifications:
            self.position = last
            return 0
        messages: list[tuple[Outgoing, int]] = []
        running: list[RunningChange] = []
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            if not isinstance(event, DunningCase.Event):
                continue
            change = running_change(event)
            needs_case = calls_for_message(event) or change in ("start", "resume")
            case: DunningCase | None = None
            if needs_case:
                case = self.app.repository.get(
                    event.originator_id, version=event.originator_version
                )
                for message in messages_for(event, case):
                    messages.append((message, notification.id))
            if change == "keep":
                continue
            if case is None and change == "stop":
                running.append(RunningChange(str(event.originator_id), "", 0, None))
                continue
            assert case is not None
            since = case.running_since if change in ("start", "resume") else None
            running.append(RunningChange(str(case.id), case.order_id, case.user_id, since))
        tracking = Tracking(PROCESSOR_NAME, notifications[-1].id)
        try:
            self.store.record(messages, running, tracking, self.app.clock())
        except IntegrityError:
            # Another processor recorded this range first: nothing lost, nothing doubled.
            return 0
        self.position = notifications[-1].id
        return len(notifications)
