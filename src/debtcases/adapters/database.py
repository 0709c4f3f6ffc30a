"""Database setup: a database URL turned into the eventsourcing library's environment, and the
guard that makes the stored events append-only in the database itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" | "postgres" | "memory"
    env: dict[str, str]
    url: str

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"


def database_from_url(
    url: str, pool_size: int = 5, max_overflow: int = 10, connect_timeout: int = 10
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
                "POSTGRES_LOCK_TIMEOUT": "5",
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
