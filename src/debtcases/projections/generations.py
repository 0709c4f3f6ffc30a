"""The view store: the view tables in generations, written with the tracking record in
the same transaction (the library's ``_insert_tracking``), so a crash or a replay never
applies an event twice.

Every view lives in generations (``view_cases_g1``, ``view_cases_g2`` ...). A small pointer
table names the live generation that queries read and the runner writes; a rebuild fills a
fresh generation from the event store and then switches the pointer in one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL

from debtcases.adapters.parked import (
    ParkedEvent,
    Savepoint,
    count_open,
    is_transient,
    mark_failed_again,
    mark_resolved,
    park,
    parked_ddl,
    resolve_older_generations,
    select_parked,
)
from debtcases.adapters.sql import POSTGRES, SQLITE
from debtcases.projections.access_view import AccessView
from debtcases.projections.bulk import FreshView, keyed, log_parked
from debtcases.projections.case_versions import open_versions
from debtcases.projections.cases_view import CasesView
from debtcases.projections.tables import (
    CASES,
    POINTER_TABLE,
    VENDOR_ACCESS,
    VIEW_NAMES,
    Items,
    ReadAhead,
    reading_ahead,
    tables_of,
    tracking_key,
)


def analyze(tables: Iterable[str]) -> list[str]:
    return [f"ANALYZE {t}" for t in tables]


# The processor name the views' parked events are recorded under.
PROCESSOR = "views"


class ViewStore(CasesView, AccessView):
    """Backend-neutral part of the view recorders (mixed into the library's recorders)."""

    kind: str = ""
    # PostgreSQL adds a key to a loaded table (ALTER TABLE ... ADD PRIMARY KEY); SQLite
    # cannot, so its bulk generations are created with their keys.
    defer_keys: bool = False

    # Provided by the library's tracking recorders (the other base class):
    _insert_tracking: Any
    _max_tracking_id: Any

    # --------------------------------------------------------- generations

    def pointer_ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {POINTER_TABLE} ("
            "view TEXT PRIMARY KEY, live INTEGER NOT NULL, latest INTEGER NOT NULL)"
        ]

    def generation_ddl(self, view: str, gen: int, *, bulk: bool = False) -> list[str]:
        """The DDL of a generation; ``bulk``: its tables only, for a bulk load to fill
        before ``after_load_ddl`` (indexes are faster made after than kept during it);
        on PostgreSQL also without the large tables' keys (``keys_ddl``)."""
        keys = not (bulk and self.defer_keys)
        if view == CASES:
            return self.cases_tables_ddl(gen, keys=keys) if bulk else self.cases_ddl(gen)
        return self.access_ddl(gen, keys=keys)

    def keys_ddl(self, view: str, gen: int) -> list[str]:
        """The keys a bulk generation was created without (none on SQLite)."""
        if not self.defer_keys:
            return []
        return self.cases_keys_ddl(gen) if view == CASES else self.access_keys_ddl(gen)

    def after_load_ddl(self, view: str, gen: int, *, keys: Collection[str]) -> list[list[str]]:
        """What a bulk-loaded generation still needs (``keys``: the statements of
        ``keys_ddl`` not run yet, each goes first in its table's group): indexes, counts,
        planner statistics; in groups of statements on different tables, which may run at
        the same time."""
        tables = tables_of(view, gen)

        def pending(statements: list[str]) -> list[str]:
            return [s for s in statements if s in keys]

        if view != CASES:
            return [[*pending(self.access_keys_ddl(gen)), *analyze(tables)]]
        return [
            [
                *pending(self.cases_keys_ddl(gen, versions=False)),
                *self.cases_after_load_ddl(gen, versions=False),
                *analyze(tables[:3]),
            ],
            [
                *pending(self.versions_keys_ddl(gen)),
                *self.versions_after_load_ddl(gen),
                *analyze(tables[3:]),
            ],
        ]

    def setup(self) -> None:
        """Create the pointer table and, for a view seen the first time, generation 1."""
        self._execute_ddl([*self.pointer_ddl(), *parked_ddl(self.dialect)])
        for view in VIEW_NAMES:
            with self.datastore.transaction(commit=True) as cur:
                cur.execute(
                    self.dialect.q(
                        f"INSERT INTO {POINTER_TABLE} (view, live, latest) VALUES (%s, 1, 1) "
                        "ON CONFLICT (view) DO NOTHING"
                    ),
                    (view,),
                )
            gen = self.live_generation(view)
            self._execute_ddl(self.generation_ddl(view, gen))

    def generations(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT view, live FROM {POINTER_TABLE}")
            return {r["view"]: int(r["live"]) for r in cur.fetchall()}

    def new_generation(self, view: str, *, bulk: bool = False) -> int:
        """Reserve and create (empty) the next generation of ``view`` for a rebuild
        (``bulk``: without the indexes, see ``generation_ddl``)."""
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(
                self.dialect.q(
                    f"UPDATE {POINTER_TABLE} SET latest = latest + 1 WHERE view = %s "
                    "RETURNING latest"
                ),
                (view,),
            )
            gen = int(cur.fetchone()["latest"])
        self.drop_generation(view, gen)  # leftovers of an interrupted rebuild
        self._execute_ddl(self.generation_ddl(view, gen, bulk=bulk))
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

    def _table_exists(self, table: str) -> bool:
        with self.datastore.transaction(commit=False) as cur:
            return self.dialect.table_exists(cur, table)

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
        now: datetime | None = None,
    ) -> int:
        """Apply ``items`` to generation ``gen`` of ``view`` and record the tracking of the
        last one, in one transaction. ``switch``: also make ``gen`` the live generation.

        A runner may have applied newer events to the old generation after ``items`` were
        selected. Under the pointer lock (which the runner's batches take too) the old
        generation's position is read, and ``catch_up(after, upto)`` supplies the events
        in between, so the new generation never goes live behind the old one (a command's
        read-your-writes wait, satisfied by the old position, stays true). ``now``: when
        the switch happens, events parked in older generations are marked resolved."""
        with self.datastore.transaction(commit=True) as cur:
            self.dialect.begin_write(cur, POINTER_TABLE)
            last = self._process(cur, view, gen, items) if items else None
            if switch:
                lock = self.dialect.lock_for_update
                sql = f"SELECT live FROM {POINTER_TABLE} WHERE view = %s{lock}"
                cur.execute(self.dialect.q(sql), (view,))
                old = int(cur.fetchone()["live"])
                if catch_up is not None and old != gen:
                    behind = last or self._tracked(cur, {view: gen})[view]
                    ahead = self._tracked(cur, {view: old})[view]
                    extra = catch_up(behind, ahead) if ahead > behind else []
                    if extra:
                        last = self._process(cur, view, gen, extra)
                cur.execute(
                    self.dialect.q(f"UPDATE {POINTER_TABLE} SET live = %s WHERE view = %s"),
                    (gen, view),
                )
                if now is not None:
                    resolve_older_generations(cur, self.dialect, PROCESSOR, view, gen, now)
        return last or 0

    # ------------------------------------------------- bulk (fresh generations)

    def bulk_apply(
        self, fresh: Sequence[FreshView], items: Items, *, now: datetime, max_cases: int
    ) -> None:
        """A rebuild's batch: fold ``items`` into every fresh generation in memory and write
        what is final (closed versions; parked events), in one transaction. A view holding
        more than ``max_cases`` cases writes them out and lets them go (``bulk.py``)."""
        gens = {f.view: f.gen for f in fresh}
        with self.datastore.transaction(commit=True) as cur:
            self._begin_bulk(cur)

            def park_event(view: str, position: int, event: Any, exc: Exception) -> None:
                log_parked(view, position, exc)
                park(
                    cur,
                    self.dialect,
                    processor=PROCESSOR,
                    view=view,
                    generation=gens[view],
                    notification_id=position,
                    event=event,
                    error=exc,
                    now=now,
                )

            batch = keyed(items)
            folded = None  # the cases view's states (it comes first), for vendor access
            for f in fresh:
                folded = f.apply(cur, batch, park_event, folded)
                if f.held_cases() > max_cases:
                    f.spill(cur)
                    # Read back from now on: by key, so the keys it reads by come now
                    # (the others after the load: a key kept while the rest is written
                    # costs more than one made after; see ``FreshView.read_back_keys``).
                    for statement in f.read_back_keys:
                        cur.execute(statement)
                    f.pending_keys = [k for k in f.pending_keys if k not in f.read_back_keys]
                    f.read_back_keys = []

    def bulk_finish(self, fresh: Sequence[FreshView], position: int) -> None:
        """Write what each fresh generation holds, with its tracking at ``position`` (the
        last event read), one transaction per view; then its keys, indexes and counts
        (``after_load_ddl``), which on PostgreSQL start on other connections as soon as
        their view is written, while the next view is written here. Returns when all is
        done (nothing reads a fresh generation before its switch, after this)."""
        with self._fresh_ddl() as run:
            for f in fresh:
                with self.datastore.transaction(commit=True) as cur:
                    self._begin_bulk(cur)
                    f.finish(cur)
                    if position:
                        self._insert_tracking(cur, Tracking(tracking_key(f.view, f.gen), position))
                for group in self.after_load_ddl(f.view, f.gen, keys=f.pending_keys):
                    run(group)
                f.pending_keys = []

    @contextlib.contextmanager
    def _fresh_ddl(self) -> Iterator[Callable[[list[str]], None]]:
        """A function running a group of statements on a fresh generation's tables in one
        transaction: here, at once (on PostgreSQL, ``PostgresViewRecorder``: on another
        connection, groups side by side, all done when the block is left)."""

        def run(statements: list[str]) -> None:
            with self.datastore.transaction(commit=True) as cur:
                for statement in statements:
                    cur.execute(statement)

        yield run

    def _begin_bulk(self, cur: Any) -> None:
        """A bulk transaction writes a generation nothing reads yet: a crash loses at most
        an unfinished rebuild (redone from the start), so PostgreSQL need not wait for the
        flush of each commit."""
        self.dialect.begin_write(cur, POINTER_TABLE)
        if self.dialect.kind == "postgres":
            cur.execute("SET LOCAL synchronous_commit = off")

    def process_live(
        self,
        items: Items,
        generations: dict[str, int],
        positions: dict[str, int],
        *,
        park_at: datetime | None = None,
        announce: tuple[str, str] | None = None,
    ) -> tuple[bool, dict[str, int], dict[str, int]]:
        """The runner's batch: apply ``items`` to every live view that has not processed
        them, with their tracking records, in ONE transaction.

        ``generations``/``positions`` are what the caller believes (its cache; ``items``
        follow on from ``min(positions)``). Under the pointer lock the live generations and
        positions are read again: if a rebuild switched generations or a position moved
        back, nothing is written and the caller gets (False, live generations, positions)
        to select again from; otherwise (True, generations, positions after the batch).
        Items another runner has processed meanwhile are skipped (exactly once).

        ``park_at`` (one event, after its batch failed): each view writes it in a savepoint;
        a view that cannot (any error but a database/connection failure) parks it instead,
        with the tracking record that skips it, so the view goes on.

        ``announce`` (PostgreSQL): (channel, name) -- NOTIFY ``"<name> <min position>"`` on
        the channel in the same transaction (the runner's progress announcement, sent with
        the commit). On PostgreSQL a batch without ``park_at`` runs in pipeline mode: only
        the reads wait for their answers (the lock with the positions, then each view's rows
        of the batch's cases), every write is queued, the tracking records and the NOTIFY go
        in the last round trip before the commit."""
        pipelined = park_at is None and self.dialect.kind == "postgres"
        with self.datastore.transaction(commit=True) as cur, self._pipeline(cur, pipelined):
            self.dialect.begin_write(cur, POINTER_TABLE)
            lock = self.dialect.lock_for_update
            cur.execute(f"SELECT view, live FROM {POINTER_TABLE} ORDER BY view{lock}")
            rows = ReadAhead()
            if pipelined:
                # Pipeline mode: the positions and the batch's rows of the generations
                # believed live go out with the pointer's lock, one round trip for all
                # (executed after the lock is granted; if the generations differ, the
                # positions are read again below and the rows are not used).
                ahead = cur.connection.cursor()
                self._send_tracked(ahead, generations)
                reads = self._send_reads(cur, generations, items)
                live = {r["view"]: int(r["live"]) for r in cur.fetchall()}
                now = self._fetch_tracked(ahead, generations)
                for table, key, asked, reader in reads:
                    found = reader.fetchall()
                    rows.put(table, key, asked(found), found)
                if live != generations:
                    now = self._tracked(cur, live)
                    rows = ReadAhead()
            else:
                live = {r["view"]: int(r["live"]) for r in cur.fetchall()}
                now = self._tracked(cur, live)
            if live != generations or any(now[v] < positions.get(v, 0) for v in now):
                return False, live, now
            tracking: list[Tracking] = []
            with reading_ahead(rows):
                for view in VIEW_NAMES:
                    todo = [(i, e) for i, e in items if i > now[view]]
                    if not todo:
                        continue
                    if park_at is None:
                        # The writes queue up in the pipeline; the tracking records of
                        # every view go in one statement at the end.
                        self._write(cur, view, live[view], todo)
                        now[view] = todo[-1][0]
                        tracking.append(Tracking(tracking_key(view, live[view]), now[view]))
                        continue
                    try:
                        with Savepoint(cur):
                            now[view] = self._process(cur, view, live[view], todo)
                    except Exception as exc:
                        if is_transient(exc) or len(todo) != 1:
                            raise
                        position, event = todo[0]
                        park(
                            cur,
                            self.dialect,
                            processor=PROCESSOR,
                            view=view,
                            generation=live[view],
                            notification_id=position,
                            event=event,
                            error=exc,
                            now=park_at,
                        )
                        key = tracking_key(view, live[view])
                        self._insert_tracking(cur, Tracking(key, position))
                        now[view] = position
            self._insert_trackings(cur, tracking)
            if announce is not None and (tracking or park_at is not None):
                # Delivered at the commit, with it: the waiters hear of the new position
                # without a round trip of its own after the commit.
                channel, name = announce
                cur.execute(
                    "SELECT pg_notify(%s, %s)", (channel, f"{name} {min(now.values(), default=0)}")
                )
            return True, live, now

    def _send_reads(
        self, cur: Any, generations: dict[str, int], items: Items
    ) -> list[tuple[str, str, Callable[[list[Any]], set[Any]], Any]]:
        """Send (pipeline mode) the reads a batch's writes make: the cases' rows, their open
        versions, their vendor-access states and their vendors' rows (the vendors of the
        stored states and of the events that name one). Each: (table, key column, the key
        values asked for given the rows found, the cursor to fetch from)."""
        ids = sorted({str(e.originator_id) for _, e in items})
        named = sorted({int(u) for _, e in items if (u := getattr(e, "user_id", None)) is not None})
        cases_t, *_, versions_t, _ = tables_of(CASES, generations[CASES])
        vendors_t, access_t = tables_of(VENDOR_ACCESS, generations[VENDOR_ACCESS])
        q = self.dialect.q

        def send(sql: str, params: Sequence[Any]) -> Any:
            reader = cur.connection.cursor()
            reader.execute(q(sql), params)
            return reader

        def by_id(_found: list[Any]) -> set[Any]:
            return set(ids)

        def vendors(_found: list[Any]) -> set[Any]:
            return set(named) | {int(r["user_id"]) for r in access_rows}

        access_rows: list[Any] = []
        access = send(f"SELECT * FROM {access_t} WHERE case_id = ANY(%s)", (ids,))

        def access_ids(found: list[Any]) -> set[Any]:
            access_rows.extend(found)
            return set(ids)

        return [
            (
                cases_t,
                "case_id",
                by_id,
                send(f"SELECT * FROM {cases_t} WHERE case_id = ANY(%s)", (ids,)),
            ),
            (
                open_versions(versions_t),
                "case_id",
                by_id,
                send(
                    "SELECT case_id, status, entered_month, valid_from, valid_to "
                    f"FROM {versions_t} WHERE valid_to IS NULL AND case_id = ANY(%s)",
                    (ids,),
                ),
            ),
            (access_t, "case_id", access_ids, access),
            (
                vendors_t,
                "user_id",
                vendors,
                send(
                    f"SELECT * FROM {vendors_t} WHERE user_id = ANY(%s) OR user_id IN "
                    f"(SELECT user_id FROM {access_t} WHERE case_id = ANY(%s))",
                    (named, ids),
                ),
            ),
        ]

    # ------------------------------------------------------- parked events

    def parked(self, include_resolved: bool = False) -> list[ParkedEvent]:
        with self.datastore.transaction(commit=False) as cur:
            return select_parked(cur, self.dialect, PROCESSOR, include_resolved=include_resolved)

    def parked_count(self) -> int:
        with self.datastore.transaction(commit=False) as cur:
            return count_open(cur, self.dialect, PROCESSOR)

    def refold_parked(
        self,
        view: str,
        case_id: str,
        parked_ids: list[int],
        events_upto: Callable[[int], Items],
        now: datetime,
    ) -> bool:
        """Re-apply a case's parked events to the live ``view``: its row is folded again
        from the case's first event up to what the view has processed (``events_upto``
        gets the view's position and returns those events), with the counts adjusted, and
        the parked rows are marked resolved, in one transaction under the pointer lock. If
        it fails again, the attempt and the newest error are recorded; False."""
        error: Exception | None = None
        with self.datastore.transaction(commit=True) as cur:
            self.dialect.begin_write(cur, POINTER_TABLE)
            lock = self.dialect.lock_for_update
            sql = f"SELECT live FROM {POINTER_TABLE} WHERE view = %s{lock}"
            cur.execute(self.dialect.q(sql), (view,))
            gen = int(cur.fetchone()["live"])
            position = self._tracked(cur, {view: gen})[view]
            try:
                with Savepoint(cur):
                    items = events_upto(position)
                    if items:
                        self._write(cur, view, gen, items, refold=True)
            except Exception as exc:
                if is_transient(exc):
                    raise
                error = exc
                mark_failed_again(cur, self.dialect, parked_ids, exc, now)
            else:
                mark_resolved(cur, self.dialect, parked_ids, now, "retried")
        return error is None

    def live_state(self) -> tuple[dict[str, int], dict[str, int]]:
        """The live generation and the position of every view (one transaction)."""
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT view, live FROM {POINTER_TABLE}")
            live = {r["view"]: int(r["live"]) for r in cur.fetchall()}
            return live, self._tracked(cur, live)

    def _tracked(self, cur: Any, generations: dict[str, int]) -> dict[str, int]:
        """The position of each view's generation (0: none yet), in one query."""
        self._send_tracked(cur, generations)
        return self._fetch_tracked(cur, generations)

    def _send_tracked(self, cur: Any, generations: dict[str, int]) -> None:
        keys = sorted(tracking_key(v, g) for v, g in generations.items())
        clause, params = self.dialect.in_list("application_name", keys)
        cur.execute(
            self.dialect.q(
                "SELECT application_name, MAX(notification_id) AS n "
                f"FROM {self._tracking_table()} WHERE {clause} GROUP BY application_name"
            ),
            params,
        )

    def _fetch_tracked(self, cur: Any, generations: dict[str, int]) -> dict[str, int]:
        keys = {tracking_key(v, g): v for v, g in generations.items()}
        found = {keys[r["application_name"]]: int(r["n"]) for r in cur.fetchall()}
        return {v: found.get(v, 0) for v in generations}

    @staticmethod
    def _pipeline(cur: Any, on: bool) -> Any:
        """psycopg's pipeline mode on the transaction's connection (``on``), else nothing."""
        return cur.connection.pipeline() if on else contextlib.nullcontext()

    def _insert_trackings(self, cur: Any, records: Sequence[Tracking]) -> None:
        """The tracking records of a batch's views; on PostgreSQL with single-row tracking
        in one statement, which fails (IntegrityError, as the library's) unless every
        record moves its position forward."""
        single = getattr(self.datastore, "single_row_tracking", False)
        if len(records) < 2 or self.dialect.kind != "postgres" or not single:
            for record in records:
                self._insert_tracking(cur, record)
            return
        rows = sorted((r.application_name, r.notification_id) for r in records)
        marks = ", ".join(["(%s, %s::bigint)"] * len(rows))
        t = self._tracking_table()
        cur.execute(
            f"INSERT INTO {t} (application_name, notification_id) VALUES {marks} "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = "
            f"excluded.notification_id WHERE {t}.notification_id < excluded.notification_id "
            "RETURNING application_name",
            [v for row in rows for v in row],
        )
        if len(cur.fetchall()) != len(rows):
            raise IntegrityError(f"Failed to record tracking for {rows}")

    def _tracking_table(self) -> str:  # pragma: no cover - per backend
        raise NotImplementedError

    def _write(self, cur: Any, view: str, gen: int, items: Items, *, refold: bool = False) -> None:
        if view == CASES:
            self._process_cases(cur, gen, items, refold=refold)
        else:
            self._process_access(cur, gen, items, refold=refold)

    def _process(self, cur: Any, view: str, gen: int, items: Items) -> int:
        self._write(cur, view, gen, items)
        last = items[-1][0]
        self._insert_tracking(cur, Tracking(tracking_key(view, gen), last))
        return last


class PostgresViewRecorder(ViewStore, PostgresTrackingRecorder):
    """The views on PostgreSQL (one psycopg pool; tracking in ``<name>_tracking``). Runner
    batches lock the pointer rows (FOR UPDATE): one writer per live generation at a time,
    and a rebuild's switch waits for the batch in flight."""

    kind = "postgres"
    dialect = POSTGRES
    defer_keys = True

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        for statement in [*self.pointer_ddl(), *parked_ddl(self.dialect)]:
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]

    def _tracking_table(self) -> str:
        return f'"{self.datastore.schema}"."{self.tracking_table_name}"'

    @contextlib.contextmanager
    def _fresh_ddl(self) -> Iterator[Callable[[list[str]], None]]:
        # The groups (different tables) run side by side, one connection each, while the
        # caller goes on writing the next view: PostgreSQL builds indexes on one core while
        # Python formats rows on the other. One transaction per group: its locks keep
        # autovacuum (which a freshly loaded table draws) off the table until the group is
        # done; tried with a transaction per statement, 3 of 8 rebuilds spent 12-15 s
        # instead of 3-6 s indexing. Nothing else uses a fresh generation's tables: no
        # advisory lock; a failed group fails the rebuild, before any switch. No parallel
        # workers for the index builds: two groups already run side by side, and a worker
        # per build cost 15-50 % more CPU than it saved in wall time on two cores
        # (measured on 112,000 versions).
        def run(statements: list[str]) -> None:
            with self.datastore.transaction(commit=True) as cur:
                cur.execute("SET LOCAL max_parallel_maintenance_workers = 0")
                for statement in statements:
                    cur.execute(statement)

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="rebuild-ddl") as pool:
            submitted: list[Future[None]] = []
            try:
                yield lambda group: submitted.append(pool.submit(run, group))
            finally:
                for done in submitted:
                    done.exception()  # wait for every group before leaving
            for done in submitted:
                done.result()

    def _execute_ddl(self, statements: Iterable[str]) -> None:
        # Several processes may set up at once: serialise DDL on an advisory lock.
        with self.datastore.transaction(commit=True) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7242001)")
            for statement in statements:
                cur.execute(statement)


class SQLiteViewRecorder(ViewStore, SQLiteTrackingRecorder):
    """The views on SQLite (same file as the events; tracking in ``tracking``). SQLite's
    write lock, taken first in every write transaction, serialises the writers."""

    kind = "sqlite"
    dialect = SQLITE

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *self.pointer_ddl(),
            *parked_ddl(self.dialect),
        ]

    def _tracking_table(self) -> str:
        return "tracking"
