"""The view recorders: tables of the read models on PostgreSQL and SQLite, written with the
tracking record in the same transaction (the library's ``_insert_tracking``), so a crash or
a replay never applies an event twice.

Every view lives in generations (``view_cases_g1``, ``view_cases_g2`` ...). A small pointer
table names the live generation that queries read and the runner writes; a rebuild fills a
fresh generation from the event store and then switches the pointer in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL

from debtcases.domain.statuses import Status
from debtcases.projections.fold import (
    ACCESS_CASE_COLUMNS,
    ACCESS_VENDOR_COLUMNS,
    CASE_BOOLEANS,
    CASE_COLUMNS,
    CASE_TIMESTAMPS,
    fold_access_case,
    fold_case,
)
from debtcases.projections.queries import CaseFilter

CASES = "cases"
VENDOR_ACCESS = "vendor_access"
VIEW_NAMES: tuple[str, ...] = (CASES, VENDOR_ACCESS)
UPSTREAM = "DunningCases"
POINTER_TABLE = "projection_generations"

# (position, domain event) pairs, in notification order.
Items = Sequence[tuple[int, Any]]

# The columns the list totals are counted by (every filter but the order id).
COUNT_KEY = ("user_id", "status", "vendor_status", "entered_month")
CountKey = tuple[int, str, str, str]


def _count_key(row: dict[str, Any]) -> CountKey:
    return (int(row["user_id"]), row["status"], row["vendor_status"], row["entered_month"])


def tracking_key(view: str, generation: int) -> str:
    return f"{UPSTREAM}:{view}:g{generation}"


def tables_of(view: str, generation: int) -> list[str]:
    if view == CASES:
        return [
            f"view_cases_g{generation}",
            f"view_case_counts_g{generation}",
            f"view_case_totals_g{generation}",
        ]
    if view == VENDOR_ACCESS:
        return [f"view_vendor_access_g{generation}", f"view_vendor_access_cases_g{generation}"]
    raise ValueError(f"unknown projection {view!r}; known: {', '.join(VIEW_NAMES)}")


class ViewStore:
    """Backend-neutral part of the view recorders (mixed into the library's recorders)."""

    kind: str = ""
    ts_type = "TEXT"
    bool_type = "INTEGER"
    datastore: Any

    # ------------------------------------------------------------ dialect

    def q(self, sql: str) -> str:
        return sql

    def _ts_in(self, value: datetime | None) -> Any:
        return value

    def _ts_out(self, value: Any) -> datetime | None:
        return value  # type: ignore[no-any-return]

    def _bool_in(self, value: bool) -> Any:
        return value

    def _begin_write(self, cur: Any) -> None:
        """Take the write lock first (SQLite: a read that later upgrades can fail at once
        with 'database is locked' instead of waiting)."""

    def _in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        marks = ", ".join(["%s"] * len(values))
        return f"{column} IN ({marks})", list(values)

    def _lock_for_backfill(self, table: str) -> list[str]:
        """Statements keeping writers of ``table`` out while its counts are backfilled."""
        return []

    # SQLite's write lock (taken by _begin_write) already serialises the writers.
    lock_pointer = ""

    # Provided by the library's tracking recorders (the other base class):
    _insert_tracking: Any
    _max_tracking_id: Any

    def _execute_ddl(self, statements: Iterable[str]) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for statement in statements:
                cur.execute(statement)

    # --------------------------------------------------------- generations

    def pointer_ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {POINTER_TABLE} ("
            "view TEXT PRIMARY KEY, live INTEGER NOT NULL, latest INTEGER NOT NULL)"
        ]

    def generation_ddl(self, view: str, gen: int) -> list[str]:
        ts, b = self.ts_type, self.bool_type
        if view == CASES:
            t, counts, totals = tables_of(CASES, gen)
            return [
                f"""CREATE TABLE IF NOT EXISTS {t} (
                    case_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE,
                    user_id BIGINT NOT NULL, status TEXT NOT NULL, status_before_block TEXT,
                    vendor_status TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,
                    debtor_name TEXT NOT NULL, debtor_street TEXT NOT NULL,
                    debtor_postal_code TEXT NOT NULL, debtor_city TEXT NOT NULL,
                    debtor_country TEXT NOT NULL, errors TEXT NOT NULL,
                    created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
                    entered_month TEXT NOT NULL, last_event TEXT NOT NULL,
                    last_actor_role TEXT NOT NULL, last_actor_id TEXT NOT NULL,
                    last_reason TEXT NOT NULL, at_diagonal {b} NOT NULL,
                    handed_over_at {ts}, running_since {ts},
                    awaiting_diagonal_close {b} NOT NULL, closed_at_diagonal_at {ts},
                    fell_back {b} NOT NULL, payment_reference TEXT,
                    version INTEGER NOT NULL, position BIGINT NOT NULL)""",
                # One index per filter, each ending in the sort order (newest change first).
                f"CREATE INDEX IF NOT EXISTS {t}_recent ON {t} (updated_at DESC, position DESC)",
                f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} "
                "(user_id, updated_at DESC, position DESC)",
                f"CREATE INDEX IF NOT EXISTS {t}_user_vstatus ON {t} "
                "(user_id, vendor_status, updated_at DESC, position DESC)",
                f"CREATE INDEX IF NOT EXISTS {t}_user_month ON {t} "
                "(user_id, entered_month, updated_at DESC, position DESC)",
                f"CREATE INDEX IF NOT EXISTS {t}_status ON {t} "
                "(status, updated_at DESC, position DESC)",
                f"CREATE INDEX IF NOT EXISTS {t}_month ON {t} "
                "(entered_month, updated_at DESC, position DESC)",
                f"CREATE INDEX IF NOT EXISTS {t}_running ON {t} (status, running_since)",
                # Order ids are searched case-insensitively (b-2024-000123 finds B-2024-000123).
                f"CREATE INDEX IF NOT EXISTS {t}_order_lower ON {t} (lower(order_id))",
                # The totals of the lists, kept with the rows in the same transaction:
                # cases per vendor and key (vendor lists, support's User-ID search) ...
                f"""CREATE TABLE IF NOT EXISTS {counts} (
                    user_id BIGINT NOT NULL, status TEXT NOT NULL, vendor_status TEXT NOT NULL,
                    entered_month TEXT NOT NULL, n BIGINT NOT NULL,
                    PRIMARY KEY (user_id, status, vendor_status, entered_month))""",
                # ... and across vendors (support's lists without a User-ID): a few hundred
                # rows where the per-vendor table has one per vendor, status and month.
                f"""CREATE TABLE IF NOT EXISTS {totals} (
                    status TEXT NOT NULL, vendor_status TEXT NOT NULL,
                    entered_month TEXT NOT NULL, n BIGINT NOT NULL,
                    PRIMARY KEY (status, vendor_status, entered_month))""",
                # A generation filled before the counts existed: count it once (no-op after).
                *self._lock_for_backfill(t),
                f"INSERT INTO {counts} (user_id, status, vendor_status, entered_month, n) "
                f"SELECT user_id, status, vendor_status, entered_month, COUNT(*) FROM {t} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {counts}) "
                "GROUP BY user_id, status, vendor_status, entered_month",
                f"INSERT INTO {totals} (status, vendor_status, entered_month, n) "
                f"SELECT status, vendor_status, entered_month, COUNT(*) FROM {t} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {totals}) "
                "GROUP BY status, vendor_status, entered_month",
            ]
        vendors, cases = tables_of(view, gen)
        counts = ", ".join(f"n_{s.value.lower()} INTEGER NOT NULL" for s in Status)
        return [
            f"""CREATE TABLE IF NOT EXISTS {vendors} (
                user_id BIGINT PRIMARY KEY, cases_total INTEGER NOT NULL,
                cases_at_diagonal INTEGER NOT NULL, first_handed_over_at {ts}, {counts})""",
            f"""CREATE TABLE IF NOT EXISTS {cases} (
                case_id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, status TEXT NOT NULL,
                handed_over_at {ts})""",
        ]

    def setup(self) -> None:
        """Create the pointer table and, for a view seen the first time, generation 1."""
        self._execute_ddl(self.pointer_ddl())
        for view in VIEW_NAMES:
            with self.datastore.transaction(commit=True) as cur:
                cur.execute(
                    self.q(
                        f"INSERT INTO {POINTER_TABLE} (view, live, latest) VALUES (%s, 1, 1) "
                        "ON CONFLICT (view) DO NOTHING"
                    ),
                    (view,),
                )
            gen = self.live_generation(view)
            self._execute_ddl(self.generation_ddl(view, gen))

    def live_generation(self, view: str, cur: Any | None = None) -> int:
        if cur is None:
            with self.datastore.transaction(commit=False) as c:
                return self.live_generation(view, c)
        cur.execute(self.q(f"SELECT live FROM {POINTER_TABLE} WHERE view = %s"), (view,))
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"projection {view!r} has no generation (setup not run)")
        return int(row["live"])

    def generations(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT view, live FROM {POINTER_TABLE}")
            return {r["view"]: int(r["live"]) for r in cur.fetchall()}

    def new_generation(self, view: str) -> int:
        """Reserve and create (empty) the next generation of ``view`` for a rebuild."""
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(
                self.q(
                    f"UPDATE {POINTER_TABLE} SET latest = latest + 1 WHERE view = %s "
                    "RETURNING latest"
                ),
                (view,),
            )
            gen = int(cur.fetchone()["latest"])
        self.drop_generation(view, gen)  # leftovers of an interrupted rebuild
        self._execute_ddl(self.generation_ddl(view, gen))
        return gen

    def analyze(self, view: str, gen: int) -> None:
        """Refresh planner statistics of a freshly filled generation."""
        self._execute_ddl(f"ANALYZE {t}" for t in tables_of(view, gen))

    def drop_generation(self, view: str, gen: int) -> None:
        self._execute_ddl(f"DROP TABLE IF EXISTS {t}" for t in tables_of(view, gen))

    def drop_generations_before(self, view: str, gen: int) -> list[int]:
        """Drop the tables of generations older than ``gen`` (they are unused)."""
        dropped = [g for g in range(1, gen) if self._table_exists(tables_of(view, g)[0])]
        for g in dropped:
            self.drop_generation(view, g)
        return dropped

    def _table_exists(self, table: str) -> bool:  # pragma: no cover - per backend
        raise NotImplementedError

    def position(self, view: str, gen: int | None = None) -> int:
        """The last notification id this view has processed (0: none)."""
        with self.datastore.transaction(commit=False) as cur:
            g = gen if gen is not None else self.live_generation(view, cur)
            return self._max_tracking_id(tracking_key(view, g), cur) or 0

    def positions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as cur:
            return {
                v: self._max_tracking_id(tracking_key(v, self.live_generation(v, cur)), cur) or 0
                for v in VIEW_NAMES
            }

    # ------------------------------------------------------------- writing

    def process(
        self,
        view: str,
        gen: int,
        items: Items,
        *,
        switch: bool = False,
        catch_up: Callable[[int, int], Items] | None = None,
    ) -> int:
        """Apply ``items`` to generation ``gen`` of ``view`` and record the tracking of the
        last one, in one transaction. ``switch``: also make ``gen`` the live generation.

        A runner may have applied newer events to the old generation after ``items`` were
        selected. Under the pointer lock (which the runner's batches take too) the old
        generation's position is read, and ``catch_up(after, upto)`` supplies the events
        in between, so the new generation never goes live behind the old one (a command's
        read-your-writes wait, satisfied by the old position, stays true)."""
        with self.datastore.transaction(commit=True) as cur:
            self._begin_write(cur)
            last = self._process(cur, view, gen, items) if items else None
            if switch:
                cur.execute(
                    self.q(f"SELECT live FROM {POINTER_TABLE} WHERE view = %s{self.lock_pointer}"),
                    (view,),
                )
                old = int(cur.fetchone()["live"])
                if catch_up is not None and old != gen:
                    behind = last or self._tracked(cur, {view: gen})[view]
                    ahead = self._tracked(cur, {view: old})[view]
                    extra = catch_up(behind, ahead) if ahead > behind else []
                    if extra:
                        last = self._process(cur, view, gen, extra)
                cur.execute(
                    self.q(f"UPDATE {POINTER_TABLE} SET live = %s WHERE view = %s"), (gen, view)
                )
        return last or 0

    def process_live(
        self, items: Items, generations: dict[str, int], positions: dict[str, int]
    ) -> tuple[bool, dict[str, int], dict[str, int]]:
        """The runner's batch: apply ``items`` to every live view that has not processed
        them, with their tracking records, in ONE transaction.

        ``generations``/``positions`` are what the caller believes (its cache; ``items``
        follow on from ``min(positions)``). Under the pointer lock the live generations and
        positions are read again: if a rebuild switched generations or a position moved
        back, nothing is written and the caller gets (False, live generations, positions)
        to select again from; otherwise (True, generations, positions after the batch).
        Items another runner has processed meanwhile are skipped (exactly once)."""
        with self.datastore.transaction(commit=True) as cur:
            self._begin_write(cur)
            cur.execute(f"SELECT view, live FROM {POINTER_TABLE} ORDER BY view{self.lock_pointer}")
            live = {r["view"]: int(r["live"]) for r in cur.fetchall()}
            now = self._tracked(cur, live)
            if live != generations or any(now[v] < positions.get(v, 0) for v in now):
                return False, live, now
            for view in VIEW_NAMES:
                todo = [(i, e) for i, e in items if i > now[view]]
                if todo:
                    now[view] = self._process(cur, view, live[view], todo)
            return True, live, now

    def live_state(self) -> tuple[dict[str, int], dict[str, int]]:
        """The live generation and the position of every view (one transaction)."""
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT view, live FROM {POINTER_TABLE}")
            live = {r["view"]: int(r["live"]) for r in cur.fetchall()}
            return live, self._tracked(cur, live)

    def _tracked(self, cur: Any, generations: dict[str, int]) -> dict[str, int]:
        """The position of each view's generation (0: none yet), in one query."""
        keys = {tracking_key(v, g): v for v, g in generations.items()}
        clause, params = self._in_list("application_name", sorted(keys))
        cur.execute(
            self.q(
                "SELECT application_name, MAX(notification_id) AS n "
                f"FROM {self._tracking_table()} WHERE {clause} GROUP BY application_name"
            ),
            params,
        )
        found = {keys[r["application_name"]]: int(r["n"]) for r in cur.fetchall()}
        return {v: found.get(v, 0) for v in generations}

    def _tracking_table(self) -> str:  # pragma: no cover - per backend
        raise NotImplementedError

    def _process(self, cur: Any, view: str, gen: int, items: Items) -> int:
        if view == CASES:
            self._process_cases(cur, gen, items)
        else:
            self._process_access(cur, gen, items)
        last = items[-1][0]
        self._insert_tracking(cur, Tracking(tracking_key(view, gen), last))
        return last

    def _load(self, cur: Any, table: str, key: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for i in range(0, len(values), 500):
            clause, params = self._in_list(key, values[i : i + 500])
            cur.execute(self.q(f"SELECT * FROM {table} WHERE {clause}"), params)
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
        # add a pipeline sync around it.
        if len(rows) == 1:
            cur.execute(self.q(sql), rows[0])
        else:
            cur.executemany(self.q(sql), rows)

    def _process_cases(self, cur: Any, gen: int, items: Items) -> None:
        table, counts_t, totals_t = tables_of(CASES, gen)
        ids = sorted({str(e.originator_id) for _, e in items})
        current: dict[str, dict[str, Any] | None] = {
            r["case_id"]: self._case_from_db(r) for r in self._load(cur, table, "case_id", ids)
        }
        before = {c: _count_key(r) for c, r in current.items() if r is not None}
        changed: set[str] = set()
        for position, event in items:
            cid = str(event.originator_id)
            new = fold_case(current.get(cid), event, position)
            if new is not None:
                current[cid] = new
                changed.add(cid)
        rows = [self._case_to_db(current[c]) for c in sorted(changed)]  # type: ignore[arg-type]
        self._upsert(cur, table, "case_id", CASE_COLUMNS, rows)
        deltas: dict[CountKey, int] = {}
        for c in changed:
            old, new_key = before.get(c), _count_key(current[c])  # type: ignore[arg-type]
            if old == new_key:
                continue
            if old is not None:
                deltas[old] = deltas.get(old, 0) - 1
            deltas[new_key] = deltas.get(new_key, 0) + 1
        self._add_counts(cur, counts_t, totals_t, deltas)

    def _add_counts(
        self, cur: Any, counts_t: str, totals_t: str, deltas: dict[CountKey, int]
    ) -> None:
        """Add ``deltas`` to the per-vendor and the across-vendors counts (keys sorted, so
        concurrent writers lock rows in the same order)."""
        totals: dict[tuple[str, str, str], int] = {}
        for key, d in deltas.items():
            totals[key[1:]] = totals.get(key[1:], 0) + d
        for t, cols, rows in (
            (counts_t, COUNT_KEY, sorted((*k, d) for k, d in deltas.items() if d)),
            (totals_t, COUNT_KEY[1:], sorted((*k, d) for k, d in totals.items() if d)),
        ):
            if rows:
                keys = ", ".join(cols)
                marks = ", ".join(["%s"] * (len(cols) + 1))
                self._execute_many(
                    cur,
                    f"INSERT INTO {t} ({keys}, n) VALUES ({marks}) "
                    f"ON CONFLICT ({keys}) DO UPDATE SET n = {t}.n + excluded.n",
                    rows,
                )

    def _case_to_db(self, row: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for c in CASE_COLUMNS:
            v = row[c]
            if c in CASE_TIMESTAMPS:
                v = self._ts_in(v)
            elif c in CASE_BOOLEANS:
                v = self._bool_in(bool(v))
            elif c == "errors":
                v = json.dumps(v, ensure_ascii=False)
            out.append(v)
        return out

    def _case_from_db(self, r: dict[str, Any]) -> dict[str, Any]:
        row = dict(r)
        for c in CASE_TIMESTAMPS:
            row[c] = self._ts_out(row[c])
        for c in CASE_BOOLEANS:
            row[c] = bool(row[c])
        row["errors"] = json.loads(row["errors"])
        return row

    def _process_access(self, cur: Any, gen: int, items: Items) -> None:
        vendors_t, cases_t = tables_of(VENDOR_ACCESS, gen)
        ids = sorted({str(e.originator_id) for _, e in items})
        states: dict[str, dict[str, Any] | None] = {}
        for r in self._load(cur, cases_t, "case_id", ids):
            r["handed_over_at"] = self._ts_out(r["handed_over_at"])
            states[r["case_id"]] = r
        before = dict(states)
        for _, event in items:
            cid = str(event.originator_id)
            new = fold_access_case(states.get(cid), event)
            if new is not None:
                states[cid] = new
        changed = [c for c in ids if states.get(c) is not None and states[c] != before.get(c)]
        if not changed:
            return
        user_ids = sorted({int(states[c]["user_id"]) for c in changed})  # type: ignore[index]
        vendors = {int(r["user_id"]): r for r in self._load(cur, vendors_t, "user_id", user_ids)}
        for u in user_ids:
            if u in vendors:
                vendors[u] = dict(vendors[u])
                vendors[u]["first_handed_over_at"] = self._ts_out(
                    vendors[u]["first_handed_over_at"]
                )
            else:
                vendors[u] = {c: 0 for c in ACCESS_VENDOR_COLUMNS}
                vendors[u].update(user_id=u, first_handed_over_at=None)
        for c in changed:
            old, new = before.get(c), states[c]
            assert new is not None
            v = vendors[int(new["user_id"])]
            if old is None:
                v["cases_total"] += 1
            else:
                v[f"n_{old['status'].lower()}"] -= 1
            v[f"n_{new['status'].lower()}"] += 1
            if new["handed_over_at"] is not None and (old is None or old["handed_over_at"] is None):
                v["cases_at_diagonal"] += 1
                first = v["first_handed_over_at"]
                if first is None or new["handed_over_at"] < first:
                    v["first_handed_over_at"] = new["handed_over_at"]
        self._upsert(
            cur,
            cases_t,
            "case_id",
            ACCESS_CASE_COLUMNS,
            [
                [s["case_id"], s["user_id"], s["status"], self._ts_in(s["handed_over_at"])]
                for s in (states[c] for c in changed)
                if s is not None
            ],
        )
        self._upsert(
            cur,
            vendors_t,
            "user_id",
            ACCESS_VENDOR_COLUMNS,
            [
                [
                    self._ts_in(v[c]) if c == "first_handed_over_at" else v[c]
                    for c in ACCESS_VENDOR_COLUMNS
                ]
                for v in (vendors[u] for u in user_ids)
            ],
        )

    # ------------------------------------------------------------- reading

    def _where(self, f: CaseFilter, vendor_id: int | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if vendor_id is not None:
            clauses.append("user_id = %s")
            params.append(vendor_id)
        if f.user_id is not None:
            clauses.append("user_id = %s")
            params.append(f.user_id)
        if f.order_id is not None:
            clauses.append("lower(order_id) = %s")
            params.append(f.order_id.lower())
        if f.statuses:
            column = "vendor_status" if vendor_id is not None else "status"
            clause, ps = self._in_list(column, sorted({s.value for s in f.statuses}))
            clauses.append(clause)
            params.extend(ps)
        if f.period is not None:
            clauses.append("entered_month = %s")
            params.append(f.period)
        return (" AND ".join(clauses) or "TRUE"), params

    def page_case_rows(
        self, f: CaseFilter, vendor_id: int | None, page: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = self._where(f, vendor_id)
        offset = (page - 1) * page_size
        with self.datastore.transaction(commit=False) as cur:
            gen = self.live_generation(CASES, cur)
            cur.execute(
                self.q(
                    f"SELECT * FROM view_cases_g{gen} WHERE {where} "
                    "ORDER BY updated_at DESC, position DESC LIMIT %s OFFSET %s"
                ),
                [*params, page_size, offset],
            )
            rows = [self._case_from_db(r) for r in cur.fetchall()]
            if 0 < len(rows) < page_size:
                total = offset + len(rows)  # the last page: no need to count
            else:
                total = self._count(cur, gen, f, vendor_id)
        return rows, total

    def count_cases(self, f: CaseFilter, vendor_id: int | None, *, direct: bool = False) -> int:
        """How many cases match (the list total). ``direct``: COUNT the rows instead of
        summing the counts tables (to check them)."""
        with self.datastore.transaction(commit=False) as cur:
            gen = self.live_generation(CASES, cur)
            if direct:
                where, params = self._where(f, vendor_id)
                cur.execute(
                    self.q(f"SELECT COUNT(*) AS n FROM view_cases_g{gen} WHERE {where}"), params
                )
                return int(cur.fetchone()["n"])
            return self._count(cur, gen, f, vendor_id)

    def _count(self, cur: Any, gen: int, f: CaseFilter, vendor_id: int | None) -> int:
        cases_t, counts_t, totals_t = tables_of(CASES, gen)
        if f.order_id is not None:
            table = cases_t  # at most one row
        elif vendor_id is not None or f.user_id is not None:
            table = counts_t
        else:
            table = totals_t
        # The counts tables have every filter column but the order id, so the same WHERE.
        where, params = self._where(f, vendor_id)
        select = "COUNT(*)" if table == cases_t else "COALESCE(SUM(n), 0)"
        cur.execute(self.q(f"SELECT {select} AS n FROM {table} WHERE {where}"), params)
        return int(cur.fetchone()["n"])

    def iter_case_rows(
        self, f: CaseFilter, vendor_id: int | None, batch_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """All matching rows, newest change first, in keyset batches (constant memory;
        no transaction held open between batches)."""
        where, params = self._where(f, vendor_id)
        table = f"view_cases_g{self.live_generation(CASES)}"
        after: tuple[Any, Any] | None = None
        while True:
            sql = f"SELECT * FROM {table} WHERE {where}"
            ps = list(params)
            if after is not None:
                sql += " AND (updated_at, position) < (%s, %s)"
                ps.extend(after)
            sql += " ORDER BY updated_at DESC, position DESC LIMIT %s"
            ps.append(batch_size)
            with self.datastore.transaction(commit=False) as cur:
                cur.execute(self.q(sql), ps)
                raw = [dict(r) for r in cur.fetchall()]
            if not raw:
                return
            after = (raw[-1]["updated_at"], raw[-1]["position"])
            for r in raw:
                yield self._case_from_db(r)
            if len(raw) < batch_size:
                return

    def all_case_rows(self, gen: int | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            g = gen if gen is not None else self.live_generation(CASES, cur)
            cur.execute(f"SELECT * FROM view_cases_g{g} ORDER BY case_id")
            return [self._case_from_db(r) for r in cur.fetchall()]

    def vendor_access_row(self, user_id: int) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as cur:
            vendors_t, _ = tables_of(VENDOR_ACCESS, self.live_generation(VENDOR_ACCESS, cur))
            cur.execute(self.q(f"SELECT * FROM {vendors_t} WHERE user_id = %s"), (user_id,))
            r = cur.fetchone()
        if r is None:
            return None
        row = dict(r)
        row["first_handed_over_at"] = self._ts_out(row["first_handed_over_at"])
        return row

    def all_vendor_access_rows(self, gen: int | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            g = gen if gen is not None else self.live_generation(VENDOR_ACCESS, cur)
            cur.execute(f"SELECT * FROM {tables_of(VENDOR_ACCESS, g)[0]} ORDER BY user_id")
            rows = [dict(r) for r in cur.fetchall()]
        for row in rows:
            row["first_handed_over_at"] = self._ts_out(row["first_handed_over_at"])
        return rows


class PostgresViewRecorder(ViewStore, PostgresTrackingRecorder):
    """The views on PostgreSQL (one psycopg pool; tracking in ``<name>_tracking``)."""

    kind = "postgres"
    ts_type = "TIMESTAMPTZ"
    bool_type = "BOOLEAN"

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        for statement in self.pointer_ddl():
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]

    # Runner batches lock the pointer rows: one writer per live generation at a time, and a
    # rebuild's switch waits for the batch in flight.
    lock_pointer = " FOR UPDATE"

    def _in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(values)]

    def _lock_for_backfill(self, table: str) -> list[str]:
        return [f"LOCK TABLE {table} IN SHARE MODE"]

    def _tracking_table(self) -> str:
        return f'"{self.datastore.schema}"."{self.tracking_table_name}"'

    def _execute_ddl(self, statements: Iterable[str]) -> None:
        # Several processes may set up at once: serialise DDL on an advisory lock.
        with self.datastore.transaction(commit=True) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7242001)")
            for statement in statements:
                cur.execute(statement)

    def _table_exists(self, table: str) -> bool:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute("SELECT to_regclass(%s) AS t", (table,))
            return cur.fetchone()["t"] is not None


class SQLiteViewRecorder(ViewStore, SQLiteTrackingRecorder):
    """The views on SQLite (same file as the events; tracking in ``tracking``)."""

    kind = "sqlite"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.pointer_ddl()]

    def q(self, sql: str) -> str:
        return sql.replace("%s", "?")

    def _ts_in(self, value: datetime | None) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def _ts_out(self, value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    def _bool_in(self, value: bool) -> Any:
        return int(value)

    def _tracking_table(self) -> str:
        return "tracking"

    def _begin_write(self, cur: Any) -> None:
        # Any UPDATE takes SQLite's write lock, waiting (busy timeout) if another holds it.
        cur.execute(f"UPDATE {POINTER_TABLE} SET live = live WHERE 0")

    def _where(self, f: CaseFilter, vendor_id: int | None) -> tuple[str, list[Any]]:
        where, params = super()._where(f, vendor_id)
        return ("1" if where == "TRUE" else where), params

    def _table_exists(self, table: str) -> bool:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (table,))
            return cur.fetchone() is not None
