"""The one place that knows every layer: builds the application, the views, the log runner
with its processors and the Diagonal edge from settings. The clock lives here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from debtcases.adapters.bulk import chunk_large_inserts
from debtcases.adapters.database import Database, append_only_sql, database_from_url
from debtcases.adapters.keys import KeyStore, key_store_for
from debtcases.commands.app import DunningCases
from debtcases.config import Settings
from debtcases.consumers.wiring import DiagonalEdge, build_diagonal
from debtcases.projections.runner import Runner
from debtcases.projections.views import Views, build_view_recorder

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The clock: every decision's ``now`` comes from here (tests pass their own)."""
    return datetime.now(tz=UTC)


class Worker(Protocol):
    """Something `serve` runs beside the API (the runner, publisher, consumer ...)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def database(settings: Settings) -> Database:
    return database_from_url(
        settings.database_url,
        settings.db_pool_size,
        settings.db_max_overflow,
        settings.db_connect_timeout,
    )


def guard_append_only(app: DunningCases, db: Database) -> None:
    """Make the database itself refuse DELETE/UPDATE/TRUNCATE on the stored events."""
    if db.kind == "memory":
        return
    statements = append_only_sql(db.kind, app.recorder.events_table_name)  # type: ignore[attr-defined]
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as cursor:
        for statement in statements:
            cursor.execute(statement)


def build_cases_app(settings: Settings, clock: Clock = utc_now) -> DunningCases:
    db = database(settings)
    app = DunningCases(
        env=db.env,
        clock=clock,
        served_countries=settings.served_countries,
        max_attempts=settings.max_command_attempts,
    )
    guard_append_only(app, db)
    # A large save (a CSV import) in bounded statements, still one transaction.
    chunk_large_inserts(app.recorder)
    return app


def build_views(settings: Settings, db: Database, app: DunningCases, clock: Clock) -> Views:
    """The read models (projections/): their recorder on the configured database."""
    recorder = build_view_recorder(db.kind, db.env, pool_size=settings.db_pool_size)
    return Views(
        recorder,
        head=lambda: app.recorder.max_notification_id() or 0,
        clock=clock,
        stuck_after_hours=settings.stuck_after_hours,
        source=app,
    )


class Container:
    """Everything a running process needs, built once from settings."""

    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.db = database(settings)
        self.cases = build_cases_app(settings, clock)
        self.keys: KeyStore = key_store_for(self.db, clock=clock)
        self.views = build_views(settings, self.db, self.cases, clock)
        # The Diagonal edge: the outbox (always), Kafka publisher + acks consumer (when
        # Kafka is configured) or the built-in simulator (embedded mode, when enabled).
        self.diagonal: DiagonalEdge = build_diagonal(
            settings, self.cases, self.db.kind, clock=clock
        )
        # The one follower of the log, feeding the views and the outbox.
        self.runner = Runner(
            self.cases, [self.views, self.diagonal.processor], inline=settings.run_workers
        )
        # What `serve` runs beside the API.
        self.workers: list[Worker] = []
        if settings.run_workers:
            self.workers = [self.runner, *self.diagonal.workers]

    def wait_for_views(self, position: int | None, timeout: float | None = None) -> bool:
        """Read-your-writes: block (bounded) until the views have processed ``position``;
        False when they did not get there in time."""
        return self.runner.wait_for(
            position,
            timeout or self.settings.read_your_writes_timeout_seconds,
            only=(self.views.name,),
        )

    def start_workers(self) -> None:
        """Start the background workers (runner, publisher, consumer) that are configured."""
        for worker in self.workers:
            worker.start()

    def close(self) -> None:
        for worker in reversed(self.workers):
            worker.stop()
        self.runner.stop()
        self.views.close()
        self.keys.close()
        self.cases.close()


def build_container(settings: Settings | None = None, clock: Clock = utc_now) -> Container:
    return Container(settings or Settings(), clock)
