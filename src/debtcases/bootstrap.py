"""The one place that knows every layer: builds the application, views and workers from
settings. The clock lives here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from debtcases.adapters.database import Database, append_only_sql, database_from_url
from debtcases.commands.app import DunningCases, utc_now
from debtcases.config import Settings


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


def build_cases_app(settings: Settings, clock: Callable[[], datetime] = utc_now) -> DunningCases:
    db = database(settings)
    app = DunningCases(
        env=db.env,
        clock=clock,
        served_countries=settings.served_countries,
        max_attempts=settings.max_command_attempts,
    )
    guard_append_only(app, db)
    return app


def build_views(
    settings: Settings, db: Database, app: DunningCases, clock: Callable[[], datetime]
) -> object:
    """The read models (projections/): recorder on the configured database + runner."""
    from debtcases.projections.views import Views, build_view_recorder

    recorder = build_view_recorder(db.kind, db.env, pool_size=settings.db_pool_size)
    return Views(
        app,
        recorder,
        stuck_after_hours=settings.stuck_after_hours,
        clock=clock,
        project_inline=settings.run_workers,
    )


class Container:
    """Everything a running process needs, built once from settings."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        from debtcases.adapters.keys import KeyStore, key_store_for

        self.settings = settings
        self.clock = clock
        self.db = database(settings)
        self.cases = build_cases_app(settings, clock)
        self.keys: KeyStore = key_store_for(self.db, clock=clock)
        # Objects with start()/stop() that `serve` runs beside the API.
        self.workers: list[object] = []
        self.views: Any = build_views(settings, self.db, self.cases, clock)
        if settings.run_workers:
            self.workers.append(self.views)
        # The Diagonal edge (consumers.wiring.DiagonalEdge), set by build_container.
        self.diagonal: Any = None

    def wait_for_views(self, position: int | None, timeout: float | None = None) -> None:
        """Read-your-writes: block (bounded) until the views have processed ``position``."""
        wait = getattr(self.views, "wait_for", None)
        if position is None or wait is None:
            return
        wait(position, timeout or self.settings.read_your_writes_timeout_seconds)

    def start_workers(self) -> None:
        """Start the background workers (projections, outbox, consumer) that are configured."""
        for worker in self.workers:
            start = getattr(worker, "start", None)
            if start is not None:
                start()

    def close(self) -> None:
        for worker in reversed(self.workers):
            stop = getattr(worker, "stop", None)
            if stop is not None:
                stop()
        close_views = getattr(self.views, "close", None)
        if close_views is not None:
            close_views()
        self.keys.close()
        self.cases.close()


def build_container(
    settings: Settings | None = None, clock: Callable[[], datetime] = utc_now
) -> Container:
    container = Container(settings or Settings(), clock)
    attach_diagonal(container)
    return container


def attach_diagonal(container: Container) -> None:
    """The Diagonal edge: outbox (always), Kafka publisher + acks consumer (when Kafka is
    configured) or the built-in simulator (embedded mode, when enabled)."""
    from debtcases.consumers.wiring import build_diagonal

    edge = build_diagonal(container.settings, container.cases, container.db.kind)
    container.diagonal = edge
    if container.settings.run_workers:
        container.workers.extend(edge.workers)
