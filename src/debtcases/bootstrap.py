"""The one place that knows every layer: builds the application, the views, the log runner
with its processors and the Diagonal edge from settings. The clock lives here."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from debtcases.adapters.bulk import bound_event_writes
from debtcases.adapters.database import (
    Database,
    append_only_sql,
    check_all_on_first_broken,
    close_pool_now,
    database_from_url,
    events_store_access,
    lock_through_owner_function,
    setup_events_store,
)
from debtcases.adapters.group_commit import group_event_writes
from debtcases.adapters.keys import KeyStore, key_store_for
from debtcases.adapters.threads import stop_together
from debtcases.commands.app import DunningCases
from debtcases.commands.holds import ExpireHoldsLoop, HoldExpiry
from debtcases.commands.orders import AdmitDueLoop, OrderFactsApp, Orders, load_timeline
from debtcases.config import Settings
from debtcases.consumers.wiring import DiagonalEdge, build_diagonal
from debtcases.projections.order_due import OrderDueIndex, order_due_store_for
from debtcases.projections.runner import Runner
from debtcases.projections.views import Views, build_view_recorder

Clock = Callable[[], datetime]

log = logging.getLogger(__name__)

# The library names the events table after the application.


def utc_now() -> datetime:
    """The clock: every decision's ``now`` comes from here (tests pass their own)."""
    return datetime.now(tz=UTC)


class Worker(Protocol):
    """Something `serve` runs beside the API (the runner, publisher, consumer ...)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def request_stop(self) -> None: ...

    def join(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


# Shutdown (Container.close): how long the background workers' work in hand may take to
# finish (together, one deadline) while the database answers ...
SHUTDOWN_GRACE_SECONDS = 10.0
# ... and how long those still waiting then get once the pools are closed under them.
SHUTDOWN_INTERRUPTED_SECONDS = 5.0


def database(settings: Settings, *, pre_ping: bool = True) -> Database:
    """The configured database. ``pre_ping=False`` (PostgreSQL): pooled connections are
    handed out without a round trip to check them first, for a process whose every user
    retries a failed operation anyway (the log runner, the schedulers, the Kafka edge):
    that check was 39 % of the runner's time under the command load."""
    db = database_from_url(
        settings.database_url,
        settings.db_pool_size,
        settings.db_max_overflow,
        settings.db_connect_timeout,
        settings.database_owner_url,
        lock_timeout=settings.db_lock_timeout_seconds,
        idle_in_transaction_timeout=settings.db_idle_in_transaction_timeout_seconds,
    )
    if db.is_postgres and not pre_ping:
        return replace(db, env={**db.env, "POSTGRES_PRE_PING": "n"})
    return db


def guard_append_only(app: DunningCases | OrderFactsApp, db: Database) -> None:
    """Make the database itself refuse DELETE/UPDATE/TRUNCATE on the stored events."""
    if db.kind == "memory":
        return
    statements = append_only_sql(db.kind, app.recorder.events_table_name)  # type: ignore[attr-defined]
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as cursor:
        for statement in statements:
            cursor.execute(statement)


# The event stores (each an eventsourcing Application with its own events table): the
# cases, and the order facts the eligibility check reads. Both are append-only.
EVENT_STORES: tuple[str, ...] = (DunningCases.name, OrderFactsApp.name)


def events_table(app_name: str) -> str:
    return f"{app_name.lower()}_events"


def setup_database(settings: Settings) -> list[str]:
    """The owner's part (``debtcases db setup``): create every events table as the owner
    role, guard it and grant the service role SELECT and INSERT. Returns the tables."""
    db = database(settings)
    if db.owner is None:
        raise ValueError("set DEBTCASES_DATABASE_OWNER_URL (PostgreSQL) to set up as the owner")
    return [setup_events_store(db.owner, name, db.role) for name in EVENT_STORES]


def _store_env(db: Database, app_name: str) -> tuple[dict[str, str], bool]:
    """The library environment for one event store, and whether another role owns its
    table (then this role must neither create it nor lock it with LOCK TABLE)."""
    if not db.is_postgres:
        return db.env, False
    table = events_table(app_name)
    access = events_store_access(db, db.env.get("POSTGRES_SCHEMA") or "public", table)
    owned_elsewhere = access.exists and not access.can_bypass_guard
    if owned_elsewhere and not (access.guarded and access.lock_function):
        raise RuntimeError(
            f"{table} belongs to another role but is not set up for this service"
            " (guard or lock function missing): run `debtcases db setup`"
        )
    return ({**db.env, "CREATE_TABLE": "false"} if owned_elsewhere else db.env), owned_elsewhere


def _guard_store(app: DunningCases | OrderFactsApp, db: Database, owned_elsewhere: bool) -> None:
    if owned_elsewhere:
        lock_through_owner_function(app.recorder)
        return
    guard_append_only(app, db)
    if db.is_postgres:
        log.warning(
            "the database role %r owns %s (or is a superuser): it can disable the"
            " append-only guard and delete events; set DEBTCASES_DATABASE_OWNER_URL to"
            " run the service as a role that may only read and append events",
            db.role,
            events_table(app.name),
        )


def build_cases_app(
    settings: Settings, clock: Clock = utc_now, *, pre_ping: bool = True
) -> DunningCases:
    db = database(settings, pre_ping=pre_ping)
    if db.owner is not None:
        setup_database(settings)
    env, owned_elsewhere = _store_env(db, DunningCases.name)
    app = DunningCases(
        env=env,
        clock=clock,
        served_countries=settings.served_countries,
        max_attempts=settings.max_command_attempts,
        reopen_window=timedelta(days=settings.reopen_window_days),
    )
    _guard_store(app, db, owned_elsewhere)
    # A large save (a CSV import) in bounded statements, still one transaction; no write
    # waits for or holds the events table's lock without bound.
    bound_event_writes(app.recorder, settings.db_statement_timeout_seconds)
    # Concurrent commands' saves in one transaction each time (one lock, one commit).
    group_event_writes(app.recorder)
    return app


def build_order_facts_app(settings: Settings, db: Database) -> OrderFactsApp:
    """The order facts' event store (set up by the owner with the cases' one)."""
    env, owned_elsewhere = _store_env(db, OrderFactsApp.name)
    app = OrderFactsApp(env=env, max_attempts=settings.max_command_attempts)
    _guard_store(app, db, owned_elsewhere)
    bound_event_writes(app.recorder, settings.db_statement_timeout_seconds)
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


# The session-level advisory lock under which a process sets up its tables (any int64).
SETUP_LOCK = zlib.crc32(b"debtcases: setting up the database")


@contextmanager
def setup_lock(db: Database) -> Iterator[None]:
    """PostgreSQL: one process at a time creates and guards the tables. Processes started
    together (the workers of `serve --processes N`, `serve` and `project`) would otherwise
    race on CREATE OR REPLACE FUNCTION and the guard's triggers ("tuple concurrently
    updated"). Elsewhere: nothing to share."""
    if not db.is_postgres:
        yield
        return
    with db.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        yield  # released with the connection


class Container:
    """Everything a running process needs, built once from settings."""

    def __init__(
        self, settings: Settings, clock: Clock = utc_now, *, pre_ping: bool = True
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.db = database(settings, pre_ping=pre_ping)
        with setup_lock(self.db):
            self._build(settings, clock, pre_ping)

    def _build(self, settings: Settings, clock: Clock, pre_ping: bool) -> None:
        self.cases = build_cases_app(settings, clock, pre_ping=pre_ping)
        self.keys: KeyStore = key_store_for(self.db, clock=clock)
        self.views = build_views(settings, self.db, self.cases, clock)
        # The Diagonal edge: the outbox (always), Kafka publisher + acks consumer (when
        # Kafka is configured) or the built-in simulator (embedded mode, when enabled).
        self.diagonal: DiagonalEdge = build_diagonal(
            settings, self.cases, self.db.kind, clock=clock
        )
        # The one follower of the log, feeding the views and the outbox.
        # It announces its progress (PostgreSQL), so processes without a runner of their own
        # (`serve --processes N`, `serve --no-workers` beside `project`) wait for it cheaply.
        self.runner = Runner(
            self.cases,
            [self.views, self.diagonal.processor],
            inline=settings.run_workers,
            share_progress=True,
        )
        # Orders: the facts (their own event store), the due index, explainer, scheduler.
        self.order_facts = build_order_facts_app(settings, self.db)
        timeline = load_timeline(settings.ruleset_files)
        self.orders = Orders(
            self.order_facts,
            self.cases,
            timeline,
            clock=clock,
            served_countries=settings.served_countries,
        )
        self.orders.due_index = OrderDueIndex(
            self.order_facts,
            order_due_store_for(self.order_facts, self.db.kind),
            timeline,
            self.orders.ctx,
        )
        # The hold scheduler: finds the due holds in the cases view, the cases decide.
        self.holds = HoldExpiry(self.cases, self.views.recorder, clock=clock)
        # A server that closed every connection costs one request a reconnect, not a timeout.
        for recorder in (self.cases.recorder, self.order_facts.recorder, self.views.recorder):
            check_all_on_first_broken(getattr(recorder, "datastore", None))
        # What `serve` runs beside the API.
        self.workers: list[Worker] = []
        if settings.run_workers:
            self.workers = [self.runner, *self.diagonal.workers]
            if settings.admit_due_interval_seconds > 0:
                self.workers.append(AdmitDueLoop(self.orders, settings.admit_due_interval_seconds))
            if settings.expire_holds_interval_seconds > 0:
                self.workers.append(
                    ExpireHoldsLoop(self.holds, settings.expire_holds_interval_seconds)
                )

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

    def close(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop the background workers, then release the stores' connections.

        Every worker is asked to stop first, then all are waited for against one deadline
        (``grace``): the batch, ack poll or round in hand finishes and commits (the Kafka
        consumer commits its offsets only after storing them). A worker still running half
        a second in is one that waits for the database: if the database no longer answers
        (dropped, server gone or unreachable), or once the grace is over, the pools are
        closed under them, so whatever waits for a connection fails at once (and is
        retried by the next start: nothing half-done is committed), instead of each waiting
        out its connect timeout, one worker after the other."""
        workers: list[Worker] = list(reversed(self.workers))
        if self.runner not in workers:
            workers.append(self.runner)  # its LISTENer for read-your-writes, if any
        stop_workers(workers, self.db, self._close_pools, grace)
        self._close_pools()
        self.views.close()
        self.keys.close()
        self.order_facts.close()
        self.cases.close()

    def _close_pools(self) -> None:
        """Close every PostgreSQL pool at once (see ``close_pool_now``)."""
        for recorder in (self.cases.recorder, self.order_facts.recorder, self.views.recorder):
            close_pool_now(getattr(recorder, "datastore", None))
        self.keys.close(timeout=0.1)


def stop_workers(
    workers: Sequence[Worker],
    db: Database,
    close_pools: Callable[[], None],
    grace: float = SHUTDOWN_GRACE_SECONDS,
) -> None:
    """Stop ``workers`` together and release their clients (``Container.close``; the CLI's
    `consume`, `publish` and `diagonal-sim`, which run workers without a container):
    ``close_pools`` closes the pools they use (at once, see ``close_pool_now``) when
    ``db`` no longer answers or the grace is over."""

    def database_gone() -> bool:
        gone = not db.answers(timeout=2.0)
        if gone:
            log.warning("shutdown: the database does not answer")
        return gone

    left = stop_together(
        workers,
        grace=grace,
        hopeless=database_gone,
        interrupt=close_pools,
        after=SHUTDOWN_INTERRUPTED_SECONDS,
    )
    if left:
        log.warning(
            "shutdown: %s did not end; left to end with the process",
            ", ".join(w.name for w in left),
        )
    for worker in workers:
        worker.close()


def build_container(
    settings: Settings | None = None, clock: Clock = utc_now, *, pre_ping: bool = True
) -> Container:
    """``pre_ping=False``: for a process that only runs the background workers (`project`,
    the supervisor of `serve --processes N`), see ``database``."""
    return Container(settings or Settings(), clock, pre_ping=pre_ping)
