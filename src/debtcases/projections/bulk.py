"""The rebuild's bulk path: ONE read of the log feeds every view being rebuilt, each fresh
generation is folded in memory and written in bulk (PostgreSQL ``COPY``; SQLite
``executemany`` inside the batch's one transaction), its list indexes and counts made after
the load (``ViewStore.after_load_ddl``). Only a fresh generation, which nothing reads or
writes until its switch, is written this way; the switch itself (catching up with what the
runner applied meanwhile, under the pointer lock) is the runner's incremental path.

Why in memory: a case's row and its open version are final only after its last event, and
a case's events are spread over the whole log. So each view holds, per case, what it folds
from (the state) and the row it would write, from the case's first event to the end of the
rebuild; only closed versions (a case's next event came) are written as the log is read.

Bounded: past ``max_cases`` held cases a view writes everything it holds (rows and open
versions, as at the end) and lets it go; a case with events after that is read back from
the fresh tables before its batch is folded (its rows there deleted: they are written again
when it is let go next, or at the end). Nothing is written twice in a way a reader could
see: the generation is not live yet.

Poison events: an event a view cannot fold (``evolve`` refuses it, or its row cannot be
made) is parked, in the batch's transaction, for that view and generation, as the runner
parks it (``adapters/parked.py``), and the view goes on without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from debtcases.adapters.parked import error_text, is_transient
from debtcases.adapters.sql import Dialect
from debtcases.domain.case import DunningCase
from debtcases.domain.state import CaseState
from debtcases.projections.access_view import (
    ACCESS_CASE_COLUMNS,
    ACCESS_VENDOR_COLUMNS,
    count_access_changes,
    fold_access,
)
from debtcases.projections.cases_rows import CASE_COLUMNS, case_values, fold_state, state_from_row
from debtcases.projections.tables import CASES, VENDOR_ACCESS, Items, tables_of

if TYPE_CHECKING:
    from debtcases.projections.generations import ViewStore

log = logging.getLogger(__name__)

VERSION_COLUMNS: tuple[str, ...] = (*CASE_COLUMNS, "valid_from", "valid_to")
_MONTH_AT = CASE_COLUMNS.index("entered_month")
# Cases a view holds in memory before it writes them out (see the module docstring): about
# 3.5 KB per case for both views together (measured: peak RSS +370 MB at 100,000 cases),
# so ≈ 0.7 GB at this bound; 20,000 peaked at +70 MB, as fast on the bench's log.
MAX_CASES_IN_MEMORY = 200_000

# (notification id, event, its case id as text): a batch, each case id made text once.
Keyed = Sequence[tuple[int, Any, str]]
# The cases view's state after each item of a batch (None: it did not apply the item).
Folded = list[CaseState | None] | None
# (view, notification id, event, error): park the event for the view's fresh generation.
Park = Callable[[str, int, Any, Exception], None]


def insert_rows(
    cur: Any, dialect: Dialect, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Append ``rows`` to ``table`` in bulk: ``COPY`` on PostgreSQL, one ``executemany`` on
    SQLite (inside the caller's transaction either way). PostgreSQL: binary, with the
    columns' types (a query): psycopg then dumps each value by a dumper chosen once per
    column; 100,000 open versions took 0.19 s of CPU against 0.52 s as text (measured)."""
    cols = ", ".join(columns)
    if dialect.kind == "postgres":
        cur.execute(
            "SELECT attname, atttypid FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        )
        oids = {r["attname"]: r["atttypid"] for r in cur.fetchall()}
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([oids[c] for c in columns])
            for row in rows:
                copy.write_row(row)
    else:
        cur.executemany(
            f"INSERT INTO {table} ({cols}) VALUES ({dialect.marks(len(columns))})", rows
        )


def keyed(items: Items) -> list[tuple[int, Any, str]]:
    return [(position, event, str(event.originator_id)) for position, event in items]


def _first_events(items: Keyed) -> dict[str, Any]:
    firsts: dict[str, Any] = {}
    for _, event, cid in items:
        firsts.setdefault(cid, event)
    return firsts


def _to_read_back(items: Keyed, held: dict[str, Any]) -> list[str]:
    """The cases of ``items`` that may have been written out: not held, and not starting
    here (a ``Locked`` is a stream's first event)."""
    return sorted(
        c
        for c, e in _first_events(items).items()
        if c not in held and not isinstance(e, DunningCase.Locked)
    )


def _take_back(
    cur: Any, dialect: Dialect, table: str, ids: list[str], select: str, where: str = ""
) -> list[dict[str, Any]]:
    """Rows of ``table`` for ``ids`` (``select``: the columns), deleted from it."""
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), 500):
        clause, params = dialect.in_list("case_id", ids[i : i + 500])
        cur.execute(dialect.q(f"SELECT {select} FROM {table} WHERE {where}{clause}"), params)
        rows.extend(dict(r) for r in cur.fetchall())
        cur.execute(dialect.q(f"DELETE FROM {table} WHERE {where}{clause}"), params)
    return rows


class FreshView(Protocol):
    view: str
    gen: int
    pending_keys: list[str]  # DDL of the keys the tables were created without
    # Of those, the ones reading cases back (after a spill) looks them up by: made at the
    # first spill; the others wait for the end of the load. (At a million cases, the rows'
    # keys kept while the end's 1,000,000 rows went in: 8.9 s; made after them: 1.3 s.)
    read_back_keys: list[str]

    def held_cases(self) -> int: ...
    def apply(self, cur: Any, items: Keyed, park: Park, folded: Folded = None) -> Folded: ...
    def spill(self, cur: Any) -> None: ...
    def finish(self, cur: Any) -> None: ...


class FreshCases:
    """The cases view's fresh generation: rows, versions (the temporal view) and, after the
    load, the counts (``cases_after_load_ddl``, from the rows)."""

    view = CASES

    def __init__(self, store: ViewStore, gen: int) -> None:
        self.store, self.gen = store, gen
        self.table, _, _, self.versions, *_ = tables_of(CASES, gen)
        self.pending_keys = store.keys_ddl(CASES, gen)
        # Read back from the versions only (the rows are written at the end, from them).
        self.read_back_keys = [k for k in store.versions_keys_ddl(gen) if k in self.pending_keys]
        # case id -> (its state, its open version's values: the row, valid_from, valid_to
        # (None), as written), valid_from as a moment
        self.held: dict[str, tuple[CaseState, list[Any], datetime]] = {}
        self.spilled = False

    def held_cases(self) -> int:
        return len(self.held)

    def apply(self, cur: Any, items: Keyed, park: Park, folded: Folded = None) -> Folded:
        """Fold ``items`` into the held cases; write the versions they close. Returns the
        state after each item (None: not applied) for the vendor-access view."""
        store, held = self.store, self.held
        ts_in, to_db = store.dialect.ts_in, store._case_values_to_db
        if self.spilled:
            self._read_back(cur, _to_read_back(items, held))
        closed: list[list[Any]] = []
        states: list[CaseState | None] = [None] * len(items)
        for i, (position, event, cid) in enumerate(items):
            before = held.get(cid)
            try:
                new = fold_state(before[0] if before else None, event)
                if new is None:
                    continue
                # The case id as text (made once per event, for the batch) and its
                # month (fixed at its first event) are the held version's.
                month = before[1][_MONTH_AT] if before else None
                values = to_db(case_values(new, position, cid, month), in_place=True)
            except Exception as exc:
                if is_transient(exc):
                    raise
                park(CASES, position, event, exc)
                continue
            # Valid from the latest event time of the stream so far (as _write_versions).
            at: datetime = event.timestamp
            if before is None:
                start = at
            else:
                start = max(at, before[2])
                before[1][-1] = ts_in(start)  # valid_to of the version it closes
                closed.append(before[1])
            values.append(ts_in(start))
            values.append(None)
            held[cid] = (new, values, start)
            states[i] = new
        if closed:
            insert_rows(cur, store.dialect, self.versions, VERSION_COLUMNS, closed)
        return states

    def _read_back(self, cur: Any, ids: list[str]) -> None:
        """Cases written out before: their open versions (which hold their rows) back."""
        if not ids:
            return
        store, d = self.store, self.store.dialect
        for r in _take_back(cur, d, self.versions, ids, "*", "valid_to IS NULL AND "):
            row = store._case_from_db(r)
            start = d.ts_out(r["valid_from"])
            assert start is not None
            values = [*store._case_to_db(row), d.ts_in(start), None]
            self.held[row["case_id"]] = (state_from_row(row), values, start)

    def spill(self, cur: Any) -> None:
        """Write out every held case's open version and let it go (memory bound)."""
        self._write_held(cur)
        self.spilled = True

    def finish(self, cur: Any) -> None:
        """Write every held case's open version; then the rows: each case's open version
        (copied by the database, not formatted again)."""
        self._write_held(cur)
        cols = ", ".join(CASE_COLUMNS)
        cur.execute(
            f"INSERT INTO {self.table} ({cols}) "
            f"SELECT {cols} FROM {self.versions} WHERE valid_to IS NULL"
        )

    def _write_held(self, cur: Any) -> None:
        d = self.store.dialect
        insert_rows(cur, d, self.versions, VERSION_COLUMNS, (v for _, v, _ in self.held.values()))
        self.held.clear()


class FreshAccess:
    """The vendor-access view's fresh generation: per-case states held, vendor rows kept
    in memory throughout (one per vendor) with the runner's delta rule per batch."""

    view = VENDOR_ACCESS

    def __init__(self, store: ViewStore, gen: int) -> None:
        self.store, self.gen = store, gen
        self.vendors_t, self.cases_t = tables_of(VENDOR_ACCESS, gen)
        self.pending_keys = store.keys_ddl(VENDOR_ACCESS, gen)
        self.read_back_keys = list(self.pending_keys)  # the per-case table's
        self.held: dict[str, dict[str, Any] | None] = {}
        self.vendors: dict[int, dict[str, Any]] = {}
        self.diverged: set[str] = set()  # cases whose cases-view fold this view can't take
        self.spilled = False

    def held_cases(self) -> int:
        return len(self.held)

    def apply(self, cur: Any, items: Keyed, park: Park, folded: Folded = None) -> Folded:
        """Fold ``items`` into the held per-case states and the vendors. ``folded``: the
        cases view's states after each item, when it is rebuilt in the same pass: where it
        applied an event, this view's state is taken from it (the same columns ``evolve``
        gives this view's kept state: its status, handed_over_at and at_diagonal follow
        from the event and those alone) instead of folding again. A case where the two
        views ever differed (one parked or skipped an event the other applied) is folded
        here from then on."""
        held, diverged = self.held, self.diverged
        if self.spilled:
            ids = _to_read_back(items, held)
            if ids:
                for r in _take_back(cur, self.store.dialect, self.cases_t, ids, "*"):
                    held[r["case_id"]] = self.store._access_case_from_db(r)
        before: dict[str, dict[str, Any] | None] = {}
        for i, (position, event, cid) in enumerate(items):
            if cid not in before:
                before[cid] = held.get(cid)
            state = folded[i] if folded is not None and cid not in diverged else None
            if state is not None:
                held[cid] = {
                    "case_id": cid,
                    "user_id": state.user_id,
                    "status": state.status.value,
                    "handed_over_at": state.handed_over_at,
                    "at_diagonal": state.at_diagonal,
                }
                continue
            try:
                new = fold_access(held.get(cid), event)
            except Exception as exc:
                if is_transient(exc):
                    raise
                park(VENDOR_ACCESS, position, event, exc)
                continue
            if new is not None:
                held[cid] = new
                if folded is not None:
                    diverged.add(cid)  # applied here, not in the cases view
        changed = [c for c in sorted(before) if held.get(c) is not None and held[c] != before[c]]
        count_access_changes(self.vendors, before, held, changed)
        return None

    def spill(self, cur: Any) -> None:
        self._write_cases(cur)
        self.held.clear()
        self.spilled = True

    def finish(self, cur: Any) -> None:
        self._write_cases(cur)
        self.held.clear()
        rows = [self.store._access_vendor_to_db(self.vendors[u]) for u in sorted(self.vendors)]
        insert_rows(cur, self.store.dialect, self.vendors_t, ACCESS_VENDOR_COLUMNS, rows)

    def _write_cases(self, cur: Any) -> None:
        to_db = self.store._access_case_to_db
        insert_rows(
            cur,
            self.store.dialect,
            self.cases_t,
            ACCESS_CASE_COLUMNS,
            (to_db(s) for s in self.held.values() if s is not None),
        )


def fresh_view(store: ViewStore, view: str, gen: int) -> FreshView:
    return FreshCases(store, gen) if view == CASES else FreshAccess(store, gen)


def log_parked(view: str, position: int, exc: BaseException) -> None:
    log.warning("rebuild %s: parking notification %s: %s", view, position, error_text(exc))
