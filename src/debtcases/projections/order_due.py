"""The due index: one row per order with facts, its due date under the configured rule-set
timeline, whether it has been dealt with (``done_at``) and whether support admitted it by
hand. Written by ``OrderDueProcessor`` on a log runner over the OrderFacts log (the same
``Runner``, the same processor pattern as the views and the outbox: rows and tracking in
one transaction), so a crash or a second runner never applies a fact twice.

The scheduler reads only ``due_at <= now AND done_at IS NULL`` (a partial index), never
every order. The tracking name carries the timeline's fingerprint: when the rule files
change, the index is replayed from the facts' log under the new timeline (``done_at`` is
kept: an order that has a case keeps it).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from debtcases.adapters.sql import POSTGRES, SQLITE, Dialect
from debtcases.commands.orders import OrderFactsApp
from debtcases.domain.eligibility import due_of
from debtcases.domain.eligibility_checks import Context
from debtcases.domain.eligibility_ruleset import Timeline
from debtcases.domain.order_facts import OrderFacts, OrderFactsAggregate
from debtcases.projections.runner import Items, Runner


def _tables(d: Dialect) -> list[str]:
    ts = d.timestamp_type
    return [
        f"""CREATE TABLE IF NOT EXISTS order_due (
            order_id TEXT PRIMARY KEY,
            due_at {ts},
            ruleset_version TEXT,
            group_id TEXT,
            facts_version INTEGER NOT NULL,
            done_at {ts},
            manual_by TEXT,
            manual_at {ts}
        )""",
        "CREATE INDEX IF NOT EXISTS order_due_pending ON order_due (due_at, order_id) "
        "WHERE done_at IS NULL AND due_at IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS order_due_manual ON order_due (manual_at) "
        "WHERE manual_at IS NOT NULL",
    ]


class OrderDueStoreMixin:
    dialect: Dialect
    datastore: Any

    if TYPE_CHECKING:

        def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None: ...

        def max_tracking_id(self, application_name: str) -> int | None: ...

    def write(self, rows: Sequence[tuple[str, Any]], tracking: Tracking) -> None:
        """Apply ``rows`` (("due", values) or ("manual", values)) and the tracking record,
        in one transaction."""
        d = self.dialect
        with self.datastore.transaction(commit=True) as cur:
            for kind, values in rows:
                if kind == "due":
                    cur.execute(
                        d.q(
                            "INSERT INTO order_due (order_id, due_at, ruleset_version, group_id, "
                            "facts_version) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (order_id) "
                            "DO UPDATE SET due_at = excluded.due_at, ruleset_version = "
                            "excluded.ruleset_version, group_id = excluded.group_id, "
                            "facts_version = excluded.facts_version"
                        ),
                        values,
                    )
                else:
                    cur.execute(
                        d.q(
                            "UPDATE order_due SET manual_by = %s, manual_at = %s "
                            "WHERE order_id = %s"
                        ),
                        values,
                    )
            self._insert_tracking(cur, tracking)

    def due_orders(self, now: datetime, limit: int) -> list[str]:
        d = self.dialect
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(
                d.q(
                    "SELECT order_id FROM order_due WHERE done_at IS NULL AND due_at IS NOT NULL "
                    "AND due_at <= %s ORDER BY due_at, order_id LIMIT %s"
                ),
                (d.ts_in(now), limit),
            )
            return [r["order_id"] for r in cur.fetchall()]

    def mark_done(self, order_ids: Sequence[str], at: datetime) -> None:
        d = self.dialect
        for i in range(0, len(order_ids), 500):
            chunk = list(order_ids[i : i + 500])
            with self.datastore.transaction(commit=True) as cur:
                clause, params = d.in_list("order_id", chunk)
                cur.execute(
                    d.q(f"UPDATE order_due SET done_at = %s WHERE done_at IS NULL AND {clause}"),
                    (d.ts_in(at), *params),
                )

    def manual_orders(self) -> list[str]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(
                "SELECT order_id FROM order_due WHERE manual_at IS NOT NULL ORDER BY order_id"
            )
            return [r["order_id"] for r in cur.fetchall()]

    def row(self, order_id: str) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(self.dialect.q("SELECT * FROM order_due WHERE order_id = %s"), (order_id,))
            r = cur.fetchone()
            return dict(r) if r is not None else None


class PostgresOrderDueStore(OrderDueStoreMixin, PostgresTrackingRecorder):
    dialect = POSTGRES

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name="order_due_tracking")
        for statement in _tables(self.dialect):
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]


class SQLiteOrderDueStore(OrderDueStoreMixin, SQLiteTrackingRecorder):
    dialect = SQLITE  # (the library's SQLite tracking table is always named "tracking")

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + _tables(self.dialect)


def order_due_store_for(app: OrderFactsApp, kind: str) -> OrderDueStoreMixin:
    """The due index in the facts application's own database (sharing its pool), or, for
    in-memory persistence, in a private in-memory SQLite database."""
    store: OrderDueStoreMixin
    if kind == "postgres":
        store = PostgresOrderDueStore(app.recorder.datastore)  # type: ignore[attr-defined]
    elif kind == "sqlite":
        store = SQLiteOrderDueStore(app.recorder.datastore)  # type: ignore[attr-defined]
    else:
        name = f"file:debtcases_due_{uuid.uuid4().hex}?mode=memory&cache=shared"
        store = SQLiteOrderDueStore(SQLiteDatastore(name, pool_size=2))
    store.create_table()
    return store


class OrderDueProcessor:
    """The processor ``order_due`` on the facts' log runner."""

    name = "order_due"

    def __init__(self, store: OrderDueStoreMixin, timeline: Timeline, ctx: Context) -> None:
        self.store = store
        self.timeline = timeline
        self.ctx = ctx
        digest = hashlib.sha256(timeline.fingerprint.encode()).hexdigest()[:16]
        self.tracking_name = f"OrderDue:{digest}"

    def position(self) -> int:
        return self.store.max_tracking_id(self.tracking_name) or 0

    def process(self, items: Items) -> int:
        rows: list[tuple[str, Any]] = []
        d = self.store.dialect
        for _nid, event in items:
            if isinstance(event, OrderFactsAggregate.FactsReported):
                facts = OrderFacts.from_dict(event.facts)
                due = due_of(self.timeline, facts, self.ctx)
                rows.append(
                    (
                        "due",
                        (
                            facts.order_id,
                            d.ts_in(due.at) if due else None,
                            due.ruleset_version if due else None,
                            due.group if due else None,
                            event.originator_version,
                        ),
                    )
                )
            elif isinstance(event, OrderFactsAggregate.AdmittedByHand):
                by = f"{event.actor.role.value}:{event.actor.id}"
                rows.append(("manual", (by, d.ts_in(event.timestamp), event.order_id)))
        try:
            self.store.write(rows, Tracking(self.tracking_name, items[-1][0]))
        except IntegrityError:
            return self.position()  # another runner was first: nothing lost, nothing doubled
        return items[-1][0]


class OrderDueIndex:
    """The scheduler's due index (commands/orders.py ``DueIndex``): the store, kept
    current by a runner over the facts' log."""

    def __init__(
        self, app: OrderFactsApp, store: OrderDueStoreMixin, timeline: Timeline, ctx: Context
    ) -> None:
        self.store = store
        self.processor = OrderDueProcessor(store, timeline, ctx)
        self.runner = Runner(app, [self.processor], inline=True)
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            self.runner.catch_up()

    def due_orders(self, now: datetime, limit: int) -> list[str]:
        return self.store.due_orders(now, limit)

    def mark_done(self, order_ids: Sequence[str], at: datetime) -> None:
        self.store.mark_done(order_ids, at)

    def manual_orders(self) -> list[str]:
        return self.store.manual_orders()
