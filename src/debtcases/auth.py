"""API tokens: random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import OperationalError

from debtcases.domain.actors import Actor, Role
from debtcases.persistence import Database

TOKEN_PREFIX = "dc_"
TOKEN_ROLES = (Role.SUPPORT, Role.VENDOR, Role.SYSTEM)


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


class KeyStore:
    """The api_keys table, on the same database as the events (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._memory: dict[str, ApiKey] = {}
        self._cache: dict[str, ApiKey] = {}
        self._sqlite_path = db.env.get("SQLITE_DBNAME")
        self._init()

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A connection to the key table; an unreachable database surfaces as the
        library's OperationalError, which the API answers with 503."""
        import psycopg

        try:
            with self._raw_connect() as conn:
                yield conn
        except (psycopg.OperationalError, sqlite3.OperationalError) as exc:
            raise OperationalError(str(exc)) from exc

    @contextmanager
    def _raw_connect(self) -> Iterator[Any]:
        if self.db.kind == "postgres":
            import psycopg

            e = self.db.env
            with psycopg.connect(
                host=e["POSTGRES_HOST"],
                port=int(e["POSTGRES_PORT"]),
                dbname=e["POSTGRES_DBNAME"],
                user=e["POSTGRES_USER"],
                password=e.get("POSTGRES_PASSWORD") or None,
                connect_timeout=10,
                autocommit=False,
            ) as conn:
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
        if self.db.kind == "memory":
            return
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS debtcases_api_keys ("
                " token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,"
                " user_id BIGINT, created_at TEXT NOT NULL)"
            )

    def create(self, role: Role, *, name: str = "", user_id: int | None = None) -> str:
        """Create a key and return its token (the only time the token exists in clear)."""
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
        key = ApiKey(
            hash_token(token), role, name.strip(), user_id, datetime.now(tz=UTC).isoformat()
        )
        if self.db.kind == "memory":
            self._memory[key.token_hash] = key
            return token
        p = "%s" if self.db.kind == "postgres" else "?"
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO debtcases_api_keys (token_hash, role, name, user_id, created_at)"
                f" VALUES ({p},{p},{p},{p},{p})",
                (key.token_hash, key.role.value, key.name, key.user_id, key.created_at),
            )
            if self.db.kind == "postgres":
                conn.commit()
        return token

    def lookup(self, token: str) -> ApiKey | None:
        token_hash = hash_token(token)
        if token_hash in self._cache:
            return self._cache[token_hash]
        if self.db.kind == "memory":
            return self._memory.get(token_hash)
        p = "%s" if self.db.kind == "postgres" else "?"
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT token_hash, role, name, user_id, created_at FROM debtcases_api_keys"
                f" WHERE token_hash = {p}",
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        key = ApiKey(row[0], Role(row[1]), row[2], row[3], str(row[4]))
        with self._lock:
            self._cache[token_hash] = key
        return key

    def count(self) -> int:
        if self.db.kind == "memory":
            return len(self._memory)
        with self._connect() as conn:
            row = conn.execute("SELECT COUNT(*) FROM debtcases_api_keys").fetchone()
        return int(row[0])
