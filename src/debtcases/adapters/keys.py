"""API tokens: random secrets shown once, stored only as SHA-256 hashes.

``KeyStore`` is what the API and the CLI use; ``key_store_for`` picks the implementation for
the configured database: the ``debtcases_api_keys`` table (SQLite or PostgreSQL) or a dict
(``memory://``, tests and demos)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.persistence import OperationalError

from debtcases.adapters.database import Database
from debtcases.adapters.sql import dialect_for
from debtcases.domain.actors import Actor, Role

TOKEN_PREFIX = "dc_"
TOKEN_ROLES = (Role.SUPPORT, Role.VENDOR, Role.SYSTEM)

Clock = Callable[[], datetime]


def hash_token(token: str) -> str:
    # Tokens are 256-bit random secrets, so a plain SHA-256 is enough (no password to brute-force).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    token_hash: str
    role: Role
    name: str
    user_id: int | None
    created_at: str

    def actor(self) -> Actor:
        if self.role is Role.VENDOR:
            assert self.user_id is not None
            return Actor.vendor(self.user_id)
        return Actor(self.role, self.name)


class KeyStore(Protocol):
    """API keys. Keys are never deleted: revoking one stamps ``revoked_at``."""

    def create(self, role: Role, *, name: str = "", user_id: int | None = None) -> str:
        """Create a key and return its token (the only time the token exists in clear)."""
        ...

    def lookup(self, token: str) -> ApiKey | None:
        """The active key for ``token``, or None (unknown or revoked)."""
        ...

    def lookup_by_hash(self, token_hash: str) -> ApiKey | None:
        """The active key with this token hash, or None (the web UI's session keeps only
        the hash, and re-checks it on every request, so a revoked key signs the user out)."""
        ...

    def cached(self, token: str) -> tuple[bool, ApiKey | None]:
        """What ``lookup(token)`` answers, if that is known without I/O: (True, key or
        None); (False, None) when it must be looked up (the API then does so in a worker
        thread, and on the event loop otherwise)."""
        ...

    def list(self) -> list[dict[str, Any]]:
        """Every key ever created (no secrets: a hash prefix identifies each)."""
        ...

    def revoke(self, key_id: str) -> int:
        """Revoke the key(s) whose hash starts with ``key_id`` (at least 8 characters).
        Returns how many were revoked; the rows stay, stamped with ``revoked_at``."""
        ...

    def count(self) -> int: ...

    def close(self, timeout: float = 5.0) -> None:
        """Release the connections (``timeout``: at most this long for the pool's threads)."""
        ...


def key_store_for(
    db: Database, *, clock: Clock, cache_seconds: float = 30.0, pool_size: int = 4
) -> KeyStore:
    """The key store on ``db``'s database (in memory for ``memory://``)."""
    if db.kind == "memory":
        return InMemoryKeyStore(clock=clock)
    return SqlKeyStore(db, clock=clock, cache_seconds=cache_seconds, pool_size=pool_size)


# ------------------------------------------------------------ shared rules


def _new_key(role: Role, name: str, user_id: int | None, clock: Clock) -> tuple[str, ApiKey]:
    """A fresh token and the key it stands for, after checking who may hold one."""
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of {', '.join(r.value for r in TOKEN_ROLES)}")
    if role is Role.VENDOR:
        if user_id is None or user_id <= 0:
            raise ValueError("a vendor key needs --user-id (a positive vendor User-ID)")
        name = name or f"vendor-{user_id}"
    else:
        if user_id is not None:
            raise ValueError("only vendor keys take a user id")
        if not name.strip():
            raise ValueError(f"a {role.value} key needs --name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, ApiKey(hash_token(token), role, name.strip(), user_id, clock().isoformat())


def _check_key_id(key_id: str) -> None:
    if len(key_id) < 8 or not all(c in "0123456789abcdef" for c in key_id):
        raise ValueError("key id: at least 8 hex characters, as `keys list` shows them")


def _listed(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of (token_hash, role, name, user_id, created_at, revoked_at) as `keys list`
    shows them."""
    return [
        {
            "key_id": r[0][:12],
            "role": r[1],
            "name": r[2],
            "user_id": r[3],
            "created_at": str(r[4]),
            "revoked_at": str(r[5]) if r[5] else None,
        }
        for r in rows
    ]


# --------------------------------------------------------------- in memory


class InMemoryKeyStore:
    """Keys in a dict, for ``memory://`` (one process sees them all, so no cache)."""

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self._keys: dict[str, tuple[ApiKey, str | None]] = {}  # hash -> key, revoked_at

    def create(self, role: Role, *, name: str = "", user_id: int | None = None) -> str:
        token, key = _new_key(role, name, user_id, self.clock)
        self._keys[key.token_hash] = (key, None)
        return token

    def lookup(self, token: str) -> ApiKey | None:
        return self.lookup_by_hash(hash_token(token))

    def cached(self, token: str) -> tuple[bool, ApiKey | None]:
        return True, self.lookup(token)

    def lookup_by_hash(self, token_hash: str) -> ApiKey | None:
        key, revoked = self._keys.get(token_hash, (None, None))
        return None if revoked else key

    def list(self) -> list[dict[str, Any]]:
        return _listed(
            (k.token_hash, k.role.value, k.name, k.user_id, k.created_at, r)
            for k, r in self._keys.values()
        )

    def revoke(self, key_id: str) -> int:
        _check_key_id(key_id)
        at = self.clock().isoformat()
        hits = [h for h, (_, r) in self._keys.items() if h.startswith(key_id) and not r]
        for h in hits:
            self._keys[h] = (self._keys[h][0], at)
        return len(hits)

    def count(self) -> int:
        return len(self._keys)

    def close(self, timeout: float = 5.0) -> None:
        pass


# --------------------------------------------------------------------- SQL


class SqlKeyStore:
    """The debtcases_api_keys table, on the same database as the events (SQLite or
    PostgreSQL). Lookups are cached for ``cache_seconds``, so a revocation (by the CLI,
    another process) takes effect in every process within that time."""

    def __init__(
        self, db: Database, *, clock: Clock, cache_seconds: float = 30.0, pool_size: int = 4
    ) -> None:
        self.db = db
        self.dialect = dialect_for(db.kind)
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._sqlite_path = db.env.get("SQLITE_DBNAME")
        self._pool: Any = None
        self._init()

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A connection to the key table; an unreachable database surfaces as the
        library's OperationalError, which the API answers with 503."""
        import psycopg
        import psycopg_pool

        try:
            with self._raw_connect() as conn:
                yield conn
        except (
            psycopg.OperationalError,
            psycopg_pool.PoolTimeout,
            sqlite3.OperationalError,
        ) as exc:
            raise OperationalError(str(exc)) from exc

    def _postgres_pool(self) -> Any:
        # A small pool of its own: a burst of unknown tokens must not open a connection each.
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                e = self.db.env
                timeout = float(e.get("POSTGRES_CONNECT_TIMEOUT") or 10)
                self._pool = ConnectionPool(
                    kwargs={
                        "host": e["POSTGRES_HOST"],
                        "port": int(e["POSTGRES_PORT"]),
                        "dbname": e["POSTGRES_DBNAME"],
                        "user": e["POSTGRES_USER"],
                        "password": e.get("POSTGRES_PASSWORD") or None,
                        "connect_timeout": max(1, int(timeout)),
                    },
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=timeout,
                    name="debtcases-keys",
                    open=True,
                )
            return self._pool

    @contextmanager
    def _raw_connect(self) -> Iterator[Any]:
        if self.dialect.kind == "postgres":
            with self._postgres_pool().connection() as conn:  # commits on success
                yield conn
        else:
            assert self._sqlite_path is not None
            uri = self._sqlite_path.startswith("file:")
            lite = sqlite3.connect(self._sqlite_path, timeout=10, uri=uri)
            try:
                yield lite
                lite.commit()
            finally:
                lite.close()

    def _init(self) -> None:
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS debtcases_api_keys ("
                " token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,"
                " user_id BIGINT, created_at TEXT NOT NULL)"
            )
            # The column names from an empty result: the same DB-API call on both backends.
            empty = conn.execute("SELECT * FROM debtcases_api_keys WHERE 1 = 0")
            if "revoked_at" not in [column[0] for column in empty.description]:
                conn.execute("ALTER TABLE debtcases_api_keys ADD COLUMN revoked_at TEXT")

    def create(self, role: Role, *, name: str = "", user_id: int | None = None) -> str:
        token, key = _new_key(role, name, user_id, self.clock)
        with self._connect() as conn:
            conn.execute(
                self.dialect.q(
                    "INSERT INTO debtcases_api_keys (token_hash, role, name, user_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)"
                ),
                (key.token_hash, key.role.value, key.name, key.user_id, key.created_at),
            )
        return token

    def lookup(self, token: str) -> ApiKey | None:
        return self.lookup_by_hash(hash_token(token))

    def cached(self, token: str) -> tuple[bool, ApiKey | None]:
        hit = self._cache.get(hash_token(token))
        if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
            return True, hit[1]
        return False, None

    def lookup_by_hash(self, token_hash: str) -> ApiKey | None:
        # Cache age on the monotonic clock: it measures elapsed time, not a business instant.
        now = time.monotonic()
        cached = self._cache.get(token_hash)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        key = self._load(token_hash)
        with self._lock:
            if len(self._cache) > 10_000:  # unknown tokens must not grow it without bound
                self._cache.clear()
            self._cache[token_hash] = (now, key)
        return key

    def _load(self, token_hash: str) -> ApiKey | None:
        with self._connect() as conn:
            row = conn.execute(
                self.dialect.q(
                    "SELECT token_hash, role, name, user_id, created_at FROM debtcases_api_keys"
                    " WHERE token_hash = %s AND revoked_at IS NULL"
                ),
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        return ApiKey(row[0], Role(row[1]), row[2], row[3], str(row[4]))

    def list(self) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT token_hash, role, name, user_id, created_at, revoked_at"
                " FROM debtcases_api_keys ORDER BY created_at"
            ).fetchall()
        return _listed(rows)

    def revoke(self, key_id: str) -> int:
        _check_key_id(key_id)
        at = self.clock().isoformat()
        with self._connect() as conn:
            cur = conn.execute(
                self.dialect.q(
                    "UPDATE debtcases_api_keys SET revoked_at = %s"
                    " WHERE token_hash LIKE %s AND revoked_at IS NULL"
                ),
                (at, key_id + "%"),
            )
            count = int(cur.rowcount)
        with self._lock:
            self._cache.clear()
        return count

    def count(self) -> int:
        return len(self.list())

    def close(self, timeout: float = 5.0) -> None:
        if self._pool is not None:
            self._pool.close(timeout=timeout)
            self._pool = None
