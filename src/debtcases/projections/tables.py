"""What every view table shares: names, generations' table names, and the SQL helpers the
view modules write with (one Dialect, batched loads and upserts)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from debtcases.adapters.sql import Dialect

CASES = "cases"
VENDOR_ACCESS = "vendor_access"
VIEW_NAMES: tuple[str, ...] = (CASES, VENDOR_ACCESS)
UPSTREAM = "DunningCases"
POINTER_TABLE = "projection_generations"

# (position, domain event) pairs, in notification order.
Items = Sequence[tuple[int, Any]]


def tracking_key(view: str, generation: int) -> str:
    return f"{UPSTREAM}:{view}:g{generation}"


class ReadAhead:
    """Rows a batch's transaction read ahead (the runner on PostgreSQL: every read of the
    batch in the round trip that takes the pointer lock), per (table, key column): the
    key values asked for and the rows found. ``_load`` answers from here when every value
    it needs was asked for; otherwise it queries."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], tuple[set[Any], dict[Any, list[dict[str, Any]]]]] = {}

    def put(self, table: str, key: str, asked: Iterable[Any], rows: Iterable[Any]) -> None:
        found: dict[Any, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(r[key], []).append(dict(r))
        self._tables[(table, key)] = (set(asked), found)

    def get(self, table: str, key: str, values: Sequence[Any]) -> list[dict[str, Any]] | None:
        entry = self._tables.get((table, key))
        if entry is None or not entry[0].issuperset(values):
            return None
        return [r for v in values for r in entry[1].get(v, ())]


_READ_AHEAD = threading.local()


@contextlib.contextmanager
def reading_ahead(rows: ReadAhead) -> Iterator[ReadAhead]:
    """``rows`` answer this thread's ``_load`` (and the versions' open rows) meanwhile."""
    _READ_AHEAD.rows = rows
    try:
        yield rows
    finally:
        _READ_AHEAD.rows = None


def read_ahead(table: str, key: str, values: Sequence[Any]) -> list[dict[str, Any]] | None:
    """The rows read ahead for ``values`` (None: not all of them were: query)."""
    rows: ReadAhead | None = getattr(_READ_AHEAD, "rows", None)
    return rows.get(table, key, values) if rows is not None else None


def tables_of(view: str, generation: int) -> list[str]:
    if view == CASES:
        return [
            f"view_cases_g{generation}",
            f"view_case_counts_g{generation}",
            f"view_case_totals_g{generation}",
            # The temporal view: every version of every case with its validity (as_of).
            f"view_case_versions_g{generation}",
            # Its totals: versions becoming / ceasing to be valid per hour, day and month.
            f"view_case_as_of_counts_g{generation}",
        ]
    if view == VENDOR_ACCESS:
        return [f"view_vendor_access_g{generation}", f"view_vendor_access_cases_g{generation}"]
    raise ValueError(f"unknown projection {view!r}; known: {', '.join(VIEW_NAMES)}")


class TableStore:
    """SQL helpers over the library's datastore (``transaction``) in one dialect."""

    dialect: Dialect
    datastore: Any

    def _execute_ddl(self, statements: Iterable[str]) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for statement in statements:
                cur.execute(statement)

    def _lock_for_backfill(self, table: str) -> list[str]:
        """Statements keeping writers of ``table`` out while its counts are backfilled."""
        return [f"LOCK TABLE {table} IN SHARE MODE"] if self.dialect.kind == "postgres" else []

    def live_generation(self, view: str, cur: Any | None = None) -> int:
        if cur is None:
            with self.datastore.transaction(commit=False) as c:
                return self.live_generation(view, c)
        cur.execute(self.dialect.q(f"SELECT live FROM {POINTER_TABLE} WHERE view = %s"), (view,))
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"projection {view!r} has no generation (setup not run)")
        return int(row["live"])

    def _load(self, cur: Any, table: str, key: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        known = read_ahead(table, key, values)
        if known is not None:
            return known
        rows: list[dict[str, Any]] = []
        for i in range(0, len(values), 500):
            clause, params = self.dialect.in_list(key, values[i : i + 500])
            cur.execute(self.dialect.q(f"SELECT * FROM {table} WHERE {clause}"), params)
            rows.extend(dict(r) for r in cur.fetchall())
        return rows

    def _upsert(
        self, cur: Any, table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        cols = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        self._execute_many(
            cur,
            f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}",
            rows,
        )

    def _execute_many(self, cur: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # One row (a live command's batch) is one round trip; psycopg's executemany would
        # add a pipeline sync around it. In pipeline mode (the runner's batches on
        # PostgreSQL) executemany would wait for its results: each row is queued instead.
        if len(rows) == 1 or _pipelined(cur):
            for row in rows:
                cur.execute(self.dialect.q(sql), row)
        else:
            cur.executemany(self.dialect.q(sql), rows)


def _pipelined(cur: Any) -> bool:
    """The cursor's connection is in psycopg's pipeline mode (never on SQLite)."""
    pgconn = getattr(getattr(cur, "connection", None), "pgconn", None)
    return bool(pgconn is not None and pgconn.pipeline_status)
