"""Database setup: a database URL turned into the eventsourcing library's environment, the
guard that makes the stored events append-only in the database itself and, on PostgreSQL,
the owner's setup that keeps the service's own role from lifting that guard."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" | "postgres" | "memory"
    env: dict[str, str]
    url: str
    # PostgreSQL only: the connection of the role that owns the events table (schema setup);
    # None: the service's own role creates and owns it (and so could lift the guard).
    owner: Database | None = None

    @property
    def role(self) -> str:
        """The PostgreSQL role this connection logs in as."""
        return self.env.get("POSTGRES_USER", "")

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    def connect(self, *, autocommit: bool = False, timeout: float | None = None) -> Any:
        """PostgreSQL: one direct connection (no pool) of this role, for setup and checks
        (``timeout``: seconds to connect, default the configured connect timeout; libpq
        waits at least 2)."""
        import psycopg

        e = self.env
        if timeout is None:
            timeout = float(e.get("POSTGRES_CONNECT_TIMEOUT") or 10)
        return psycopg.connect(
            host=e["POSTGRES_HOST"],
            port=int(e["POSTGRES_PORT"]),
            dbname=e["POSTGRES_DBNAME"],
            user=e["POSTGRES_USER"],
            password=e.get("POSTGRES_PASSWORD") or None,
            connect_timeout=max(1, int(timeout)),
            autocommit=autocommit,
        )

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether the database accepts a new connection within ``timeout`` seconds
        (PostgreSQL; elsewhere there is no server to lose: True). Shutdown asks this to
        tell work that is finishing from threads that wait for a database that is gone."""
        if not self.is_postgres:
            return True
        import psycopg

        try:
            with self.connect(autocommit=True, timeout=timeout):
                return True
        except psycopg.Error:
            return False


def close_pool_now(datastore: Any, timeout: float = 0.1) -> None:
    """Close the library datastore's connection pool (PostgreSQL) so that every thread
    waiting for one of its connections fails at once (``PoolClosed``, an OperationalError)
    instead of waiting out its connect timeout, and every later request fails at once too.
    Connections lent out are not touched: a transaction in flight still commits or rolls
    back, and its connection is closed when returned. ``timeout``: how long to wait for the
    pool's own threads (one may be stuck connecting to a server that does not answer; they
    are daemon threads); the library's own ``close`` waits 5 s for each such thread, one
    after the other. Other datastores (SQLite, memory) have no pool to wait for: untouched
    (their owner closes them as usual)."""
    import psycopg_pool

    pool = getattr(datastore, "pool", None)
    if isinstance(pool, psycopg_pool.ConnectionPool):
        pool.close(timeout=timeout)


def database_from_url(
    url: str,
    pool_size: int = 5,
    max_overflow: int = 10,
    connect_timeout: int = 10,
    owner_url: str | None = None,
    lock_timeout: int = 5,
    idle_in_transaction_timeout: int = 5,
) -> Database:
    db = _database_from_url(
        url, pool_size, max_overflow, connect_timeout, lock_timeout, idle_in_transaction_timeout
    )
    if not owner_url:
        return db
    # The owner only runs the setup: one connection is enough.
    owner = _database_from_url(
        owner_url, 1, 0, connect_timeout, lock_timeout, idle_in_transaction_timeout
    )
    if not (db.is_postgres and owner.is_postgres):
        raise ValueError("an owner database URL applies to PostgreSQL only")
    where = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME")
    if any(db.env[k] != owner.env[k] for k in where):
        raise ValueError("the owner database URL must name the same server and database")
    if owner.role == db.role:
        raise ValueError("the owner database URL must log in as another role than the service")
    return Database(db.kind, db.env, db.url, owner)


def _database_from_url(
    url: str,
    pool_size: int,
    max_overflow: int,
    connect_timeout: int,
    lock_timeout: int = 5,
    idle_in_transaction_timeout: int = 5,
) -> Database:
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    if scheme == "memory":
        return Database("memory", {"PERSISTENCE_MODULE": "eventsourcing.popo"}, url)
    if scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory:
        path = url.split("sqlite://", 1)[1]
        path = path[1:] if path.startswith("/") else path
        if path in ("", ":memory:"):
            name = "file::memory:?mode=memory&cache=shared"
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            name = path
        return Database(
            "sqlite",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": name,
                "SQLITE_LOCK_TIMEOUT": "10",
            },
            url,
        )
    if scheme in ("postgres", "postgresql"):
        return Database(
            "postgres",
            {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": (parsed.path or "/").lstrip("/") or "postgres",
                "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parsed.port or 5432),
                "POSTGRES_USER": unquote(parsed.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parsed.password or ""),
                "POSTGRES_POOL_SIZE": str(pool_size),
                "POSTGRES_MAX_OVERFLOW": str(max_overflow),
                # Also how long a caller waits for a pooled connection before OperationalError.
                "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout),
                # Whole seconds a write waits for the events table's lock (then "busy",
                # not retried: adapters.bulk); a transaction idle this long is ended by the
                # server, so a stuck client cannot keep the lock.
                "POSTGRES_LOCK_TIMEOUT": str(lock_timeout),
                "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(idle_in_transaction_timeout),
                "POSTGRES_PRE_PING": "y",
            },
            url,
        )
    raise ValueError(
        f"Unsupported database URL {url!r}: use sqlite:///path, postgresql://... or memory://"
    )


def append_only_sql(kind: str, table: str) -> list[str]:
    """Statements that make ``table`` refuse DELETE, UPDATE, an insert that would replace a
    stored event (SQLite's REPLACE) and, on PostgreSQL, TRUNCATE."""
    if kind == "postgres":
        fn = f"{table}_append_only"
        return [
            f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'debtcases: % on {table} refused: stored events are append-only',
                TG_OP USING ERRCODE = 'insufficient_privilege';
            END $$""",
            f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}",
            f"""CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {fn}()""",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {fn}()""",
        ]
    if kind == "sqlite":
        return [
            f"""CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
                BEGIN SELECT RAISE(ABORT, 'debtcases: DELETE on {table} refused: stored events
                are append-only'); END""",
            f"""CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
                BEGIN SELECT RAISE(ABORT, 'debtcases: UPDATE on {table} refused: stored events
                are append-only'); END""",
            # INSERT OR REPLACE (and REPLACE) resolve a conflict by deleting the stored row
            # without firing DELETE triggers (unless the connection enabled
            # recursive_triggers), so the stored event would be rewritten in place. BEFORE
            # INSERT triggers fire before that conflict resolution: refuse any insert that
            # would collide with a stored event, by its key or by its rowid (the notification
            # id; NEW.rowid is -1 unless the statement sets it, and the library never does).
            # A plain duplicate insert (a concurrent save) is refused here too, still as a
            # constraint error, which the library reports as its IntegrityError.
            f"""CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table}
                WHEN EXISTS (SELECT 1 FROM {table}
                    WHERE (originator_id = NEW.originator_id
                           AND originator_version = NEW.originator_version)
                       OR (NEW.rowid > 0 AND rowid = NEW.rowid))
                BEGIN SELECT RAISE(ABORT, 'debtcases: INSERT over a stored event in {table}
                refused: stored events are append-only'); END""",
        ]
    return []


# ------------------------------------------------- PostgreSQL: owner and service role
#
# The guard above is a trigger; the owner of a table may disable it, drop it, or drop the
# table. So the events table belongs to an owner role, and the service's role may only
# SELECT and INSERT events. Everything else the service writes (views and their tracking,
# the outbox, the API keys) is derived from the events or is not an event: the service role
# owns those tables itself (it has CREATE on the schema), so a rebuild can create and drop
# view generations without the owner.


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lock_function_name(table: str) -> str:
    return f"{table}_lock"


def owner_setup_sql(schema: str, table: str, sequence: str, service_role: str) -> list[str]:
    """Run as the owner of ``schema.table``, after the library created it: the guard, the
    function through which the service takes the insert lock, and the service's grants."""
    qualified = f"{_ident(schema)}.{_ident(table)}"
    lock_fn = f"{_ident(schema)}.{_ident(lock_function_name(table))}()"
    service = _ident(service_role)
    return [
        *append_only_sql("postgres", table),
        # The library serialises inserts with LOCK TABLE ... IN EXCLUSIVE MODE, which
        # PostgreSQL allows only to a role with UPDATE, DELETE or TRUNCATE. Rather than
        # grant one of those, the service takes the same lock through this function (the
        # lock belongs to the transaction, so it holds until the insert commits).
        f"""CREATE OR REPLACE FUNCTION {lock_fn} RETURNS void LANGUAGE plpgsql
            SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            BEGIN LOCK TABLE {qualified} IN EXCLUSIVE MODE; END $$""",
        f"REVOKE ALL ON FUNCTION {lock_fn} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {lock_fn} TO {service}",
        # Exactly SELECT and INSERT (a re-run also narrows any wider earlier grant).
        f"REVOKE ALL ON {qualified} FROM PUBLIC",
        f"REVOKE ALL ON {qualified} FROM {service}",
        f"GRANT SELECT, INSERT ON {qualified} TO {service}",
        f"GRANT USAGE ON SEQUENCE {sequence} TO {service}",
        # The service creates and owns its read models, outbox and key table.
        f"GRANT USAGE, CREATE ON SCHEMA {_ident(schema)} TO {service}",
    ]


def setup_events_store(owner: Database, app_name: str, service_role: str) -> str:
    """As the owner: create the events table of application ``app_name`` (the library's own
    DDL), guard it, and grant ``service_role`` what it needs. Idempotent. Returns the table."""
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    factory: Any = InfrastructureFactory.construct(
        Environment(app_name, {**owner.env, "CREATE_TABLE": "true"})
    )
    try:
        recorder: Any = factory.application_recorder()
        schema: str = factory.datastore.schema or "public"
        table: str = recorder.events_table_name
        with factory.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, 'notification_id') AS seq",
                (f"{_ident(schema)}.{_ident(table)}",),
            )
            sequence = cursor.fetchone()["seq"]
            for statement in owner_setup_sql(schema, table, sequence, service_role):
                cursor.execute(statement)
    finally:
        factory.close()
    return table


@dataclass(frozen=True)
class EventsStoreAccess:
    """What the service's role may do to the events table, as PostgreSQL says."""

    exists: bool
    can_bypass_guard: bool  # owns the table (or is a member of its owner, or superuser)
    guarded: bool  # the append-only triggers exist and are enabled
    lock_function: bool  # the owner's lock function exists


def events_store_access(db: Database, schema: str, table: str) -> EventsStoreAccess:
    with db.connect() as conn:
        row = conn.execute(
            """SELECT pg_has_role(c.relowner, 'USAGE'),
                 (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid
                    AND t.tgname IN (%s, %s) AND t.tgenabled <> 'D'),
                 EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = n.oid
                    AND p.proname = %s AND p.prosecdef)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r'""",
            (
                f"{table}_no_update_delete",
                f"{table}_no_truncate",
                lock_function_name(table),
                schema,
                table,
            ),
        ).fetchone()
    if row is None:
        return EventsStoreAccess(False, False, False, False)
    return EventsStoreAccess(True, bool(row[0]), int(row[1]) == 2, bool(row[2]))


def lock_through_owner_function(recorder: Any) -> None:
    """Make the library's application recorder take its insert lock through the owner's
    function instead of ``LOCK TABLE`` (which the service role may not run)."""
    from psycopg.sql import SQL, Identifier

    statements = list(recorder.lock_table_statements)
    kept = [s for s in statements if "LOCK TABLE" not in s.as_string()]
    if len(kept) != len(statements) - 1:
        # The library changed how it locks: fail loudly rather than insert unserialised.
        raise RuntimeError("unexpected lock statements in the eventsourcing recorder")
    schema = recorder.datastore.schema or "public"
    recorder.lock_table_statements = [
        *kept,
        SQL("SELECT {0}.{1}()").format(
            Identifier(schema), Identifier(lock_function_name(recorder.events_table_name))
        ),
    ]


class _CheckAllOnFirstBroken:
    """A pool's pre-ping that, when it finds a broken connection, checks every idle one at
    once (``psycopg_pool.ConnectionPool.check``: each pinged, the broken ones replaced).

    After the server closed every connection (a restart, a failover, an administrator's
    ``pg_terminate_backend``) the pool still holds them all; psycopg_pool meets them one
    checkout at a time and backs off between failed checks (0, 1, 2, 4 s ...), so with five
    broken connections the first request waited out the whole 10 s timeout and failed.
    Checking the rest at the first failure leaves the request one wait for a new connection
    instead."""

    def __init__(self, pool: Any, check: Any) -> None:
        self.pool = pool
        self.check = check

    def __call__(self, conn: Any) -> None:
        try:
            self.check(conn)
        except Exception:
            # A closed pool, say: the request's own error is the answer.
            with contextlib.suppress(Exception):
                self.pool.check()
            raise


def check_all_on_first_broken(datastore: Any) -> None:
    """Install ``_CheckAllOnFirstBroken`` on the library datastore's pool (PostgreSQL, with
    the pre-ping on; psycopg_pool keeps the check as ``_check``, not public: if that ever
    changes, the pool simply keeps its own behaviour). Idempotent."""
    pool = getattr(datastore, "pool", None)
    check = getattr(pool, "_check", None)
    if check is None or isinstance(check, _CheckAllOnFirstBroken):
        return
    pool._check = _CheckAllOnFirstBroken(pool, check)  # type: ignore[union-attr]
