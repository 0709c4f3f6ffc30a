"""The cases view's reads: the Schulden / Inkasso-Beta lists (a page and its total from
the counts tables, or as of a moment from the versions and the as-of counts), all rows in
keyset batches, the watchdog's stuck cases and the hold scheduler's due holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from debtcases.domain.statuses import Status
from debtcases.projections.case_versions import CaseVersions
from debtcases.projections.queries import CaseFilter, CaseListPage, Keyset
from debtcases.projections.tables import CASES, POINTER_TABLE, tables_of


class CasesQueries(CaseVersions):
    """The list queries of the cases view (mixed into the view store via ``CasesView``)."""

    def _where(
        self, f: CaseFilter, vendor_id: int | None, vendor_view: bool | None = None
    ) -> tuple[str, list[Any]]:
        """``vendor_view``: match statuses as vendors see them (default: for a vendor)."""
        if vendor_view is None:
            vendor_view = vendor_id is not None
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
            column = "vendor_status" if vendor_view else "status"
            values = sorted({s.value for s in f.statuses})
            if len(values) == 1:
                # One status: `=` keeps the (status, updated_at, position) index order, so
                # the page is read in order; `= ANY(...)` sorts (profile: 2.1 vs 0.2 ms).
                clause, ps = f"{column} = %s", values
            else:
                clause, ps = self.dialect.in_list(column, values)
            clauses.append(clause)
            params.extend(ps)
        if f.period is not None:
            clauses.append("entered_month = %s")
            params.append(f.period)
        if f.order_ids is not None:
            clause, ps = self.dialect.in_list("order_id", list(f.order_ids) or [""])
            clauses.append(clause)
            params.extend(ps)
        if f.fell_back is not None:
            clauses.append("fell_back = %s")
            params.append(self.dialect.bool_in(f.fell_back))
        if vendor_id is None:  # a vendor never sees a hold, so never filters by one
            if f.hold_reason is not None:
                clauses.append("hold_reason = %s")
                params.append(f.hold_reason)
            if f.hold_ends_by is not None:
                clauses.append("hold_ends_at IS NOT NULL AND hold_ends_at <= %s")
                params.append(self.dialect.ts_in(f.hold_ends_by))
        return (" AND ".join(clauses) or self.dialect.true()), params

    # The cases view's live generation as last seen by a list page (PostgreSQL): the page
    # is read from it in the round trip that reads the pointer again to check it.
    _listed_generation: int | None = None

    def list_case_rows(
        self,
        f: CaseFilter,
        vendor_id: int | None,
        page_size: int,
        *,
        offset: int = 0,
        after: Keyset | None = None,
        as_of: datetime | None = None,
    ) -> CaseListPage:
        """One page, its total and where the next one starts: from ``after`` (keyset: the
        index is entered at that key, nothing before it is read) or else ``offset`` rows
        down (the index walks them). One row more than the page is read to know whether a
        next page exists. ``as_of``: the list as it stood then (the temporal view; its
        total from the as-of counts or the versions: ``_as_of_total``). Today's list on
        PostgreSQL: one round trip (``_page_pipelined``)."""
        where, params = self._where(f, vendor_id)
        changed = self._changed_column(vendor_id)
        limit = page_size + 1
        if as_of is None and self.dialect.kind == "postgres":
            raw, counted = self._page_pipelined(f, vendor_id, where, params, after, offset, limit)
            rows = [self._case_from_db(r) for r in raw]
            more = len(rows) > page_size
            rows = rows[:page_size]
            total = _known_total(rows, more, offset, after)
            total = counted if total is None else total
        else:
            with self.datastore.transaction(commit=False) as cur:
                gen = self.live_generation(CASES, cur)
                table = f"view_cases_g{gen}"
                if as_of is not None:
                    table, where, params = self._as_of(gen, where, params, vendor_id, as_of)
                    if self.dialect.kind == "postgres":
                        # The as-of WHERE bounds the change time and valid_from by the same
                        # moment: the planner takes them as independent and may estimate a
                        # hundredth of the rows, then prefers a bitmap scan and a sort of
                        # every match (12 ms for 9,000) to the list's index read in order
                        # (0.1 ms: it stops after the page). The page wants index order
                        # (tests/integration/test_as_of_plans.py).
                        cur.execute(
                            "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
                        )
                sql, ps = self._page_sql(table, where, params, changed, after, limit, offset)
                cur.execute(self.dialect.q(sql), ps)
                rows = [self._case_from_db(r) for r in cur.fetchall()]
                more = len(rows) > page_size
                rows = rows[:page_size]
                total = _known_total(rows, more, offset, after)
                if total is None and as_of is not None:
                    total = self._as_of_total(cur, gen, f, vendor_id, as_of, where, params)
                elif total is None:
                    total = self._count(cur, gen, f, vendor_id)
        last = rows[-1] if more else None
        next_after = Keyset(last[changed], int(last["position"])) if last is not None else None
        return CaseListPage(rows, total, next_after)

    def _page_pipelined(
        self,
        f: CaseFilter,
        vendor_id: int | None,
        where: str,
        params: list[Any],
        after: Keyset | None,
        offset: int,
        limit: int,
    ) -> tuple[list[Any], int]:
        """PostgreSQL: the page's rows and the list's total in ONE round trip (psycopg's
        pipeline mode, autocommit: the statements run in one implicit transaction), with
        the live generation read again beside them. They are read from the generation the
        last page came from: if a rebuild has switched since (or dropped that generation),
        they are read again from the live one. The total is always counted (the caller
        needs it unless this is the last page; the counts tables answer it cheaply).
        Before: a transaction of 5 round trips (BEGIN, the pointer, the page, the count,
        ROLLBACK); the pool's pre-ping stays (a broken connection is found before use)."""
        changed = self._changed_column(vendor_id)
        gen = self._listed_generation
        if gen is None:
            gen = self.live_generation(CASES)
        for _ in range(3):
            table = f"view_cases_g{gen}"
            sql, ps = self._page_sql(table, where, params, changed, after, limit, offset)
            count_sql, count_ps = self._count_sql(gen, f, vendor_id)
            with self.datastore.get_connection() as conn:
                try:
                    with conn.pipeline():
                        pointer = conn.execute(
                            f"SELECT live FROM {POINTER_TABLE} WHERE view = %s", (CASES,)
                        )
                        page = conn.execute(sql, ps)
                        count = conn.execute(count_sql, count_ps)
                        live = int(pointer.fetchone()["live"])
                        rows = page.fetchall()
                        total = int(count.fetchone()["n"])
                except psycopg.errors.UndefinedTable:
                    # That generation was dropped (a rebuild switched and cleaned up).
                    self._listed_generation = None
                    gen = self.live_generation(CASES)
                    continue
            if live == gen:
                self._listed_generation = gen
                return rows, total
            gen = live  # a rebuild switched generations meanwhile: read the live one
        raise RuntimeError("the cases view's live generation kept changing")

    def _page_sql(
        self,
        table: str,
        where: str,
        params: list[Any],
        changed: str,
        after: Keyset | None,
        limit: int,
        offset: int = 0,
    ) -> tuple[str, list[Any]]:
        """The one list query, newest change first: every list index ends in
        ``(changed DESC, position DESC)`` after the filter's equality columns, so the rows
        come in index order and ``after`` enters the index at its key (the row value
        comparison is an index condition on both backends). It comes first: as of a
        moment the WHERE also bounds ``changed`` by the moment, and SQLite bounds the index
        scan by the first of two such conditions (the other is checked per row). Without
        ``after``, ``offset`` rows are skipped (``OFFSET``)."""
        if after is None:
            sql, ps = f"SELECT * FROM {table} WHERE {where}", list(params)
        else:
            sql = f"SELECT * FROM {table} WHERE ({changed}, position) < (%s, %s) AND {where}"
            ps = [self.dialect.ts_in(after.changed), after.position, *params]
        sql, ps = f"{sql} ORDER BY {changed} DESC, position DESC LIMIT %s", [*ps, limit]
        if after is None and offset:
            return f"{sql} OFFSET %s", [*ps, offset]
        return sql, ps

    def count_cases(self, f: CaseFilter, vendor_id: int | None, *, direct: bool = False) -> int:
        """How many cases match (the list total). ``direct``: COUNT the rows instead of
        summing the counts tables (to check them)."""
        with self.datastore.transaction(commit=False) as cur:
            gen = self.live_generation(CASES, cur)
            if direct:
                where, params = self._where(f, vendor_id)
                cur.execute(
                    self.dialect.q(f"SELECT COUNT(*) AS n FROM view_cases_g{gen} WHERE {where}"),
                    params,
                )
                return int(cur.fetchone()["n"])
            return self._count(cur, gen, f, vendor_id)

    def _count(self, cur: Any, gen: int, f: CaseFilter, vendor_id: int | None) -> int:
        sql, params = self._count_sql(gen, f, vendor_id)
        cur.execute(sql, params)
        return int(cur.fetchone()["n"])

    def _count_sql(self, gen: int, f: CaseFilter, vendor_id: int | None) -> tuple[str, list[Any]]:
        """The statement counting a list's total (one row, column ``n``)."""
        cases_t, counts_t, totals_t, *_ = tables_of(CASES, gen)
        if (
            f.order_id is not None
            or f.order_ids is not None
            or f.fell_back is not None
            or (vendor_id is None and (f.hold_reason or f.hold_ends_by) is not None)
        ):
            # At most one row, a short list, the specialist's worklist or the holds (few
            # rows, own indexes): the counts tables have none of these columns, so count
            # the rows.
            table = cases_t
        elif vendor_id is not None or f.user_id is not None:
            table = counts_t
        else:
            table = totals_t
        # The counts tables have every filter column but the order id, so the same WHERE.
        where, params = self._where(f, vendor_id)
        select = "COUNT(*)" if table == cases_t else "COALESCE(SUM(n), 0)"
        return self.dialect.q(f"SELECT {select} AS n FROM {table} WHERE {where}"), params

    def iter_case_rows(
        self,
        f: CaseFilter,
        vendor_id: int | None,
        batch_size: int = 1000,
        *,
        vendor_view: bool | None = None,
        as_of: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """All matching rows, newest change first, in keyset batches (constant memory;
        no transaction held open between batches). ``as_of``: as the list stood then."""
        where, params = self._where(f, vendor_id, vendor_view)
        gen = self.live_generation(CASES)
        table = f"view_cases_g{gen}"
        changed = self._changed_column(vendor_id)
        if as_of is not None:
            table, where, params = self._as_of(gen, where, params, vendor_id, as_of)
        after: tuple[Any, Any] | None = None
        while True:
            sql = f"SELECT * FROM {table} WHERE {where}"
            ps = list(params)
            if after is not None:
                sql += f" AND ({changed}, position) < (%s, %s)"
                ps.extend(after)
            sql += f" ORDER BY {changed} DESC, position DESC LIMIT %s"
            ps.append(batch_size)
            with self.datastore.transaction(commit=False) as cur:
                cur.execute(self.dialect.q(sql), ps)
                raw = [dict(r) for r in cur.fetchall()]
            if not raw:
                return
            after = (raw[-1][changed], raw[-1]["position"])
            for r in raw:
                yield self._case_from_db(r)
            if len(raw) < batch_size:
                return

    def all_case_rows(self, gen: int | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            g = gen if gen is not None else self.live_generation(CASES, cur)
            cur.execute(f"SELECT * FROM view_cases_g{g} ORDER BY case_id")
            return [self._case_from_db(r) for r in cur.fetchall()]

    def stuck_case_rows(self, running_before: datetime) -> list[dict[str, Any]]:
        """Cases RUNNING since before ``running_before`` (the watchdog), oldest first."""
        with self.datastore.transaction(commit=False) as cur:
            gen = self.live_generation(CASES, cur)
            cur.execute(
                self.dialect.q(
                    f"SELECT * FROM view_cases_g{gen} WHERE status = %s AND running_since < %s "
                    "ORDER BY running_since"
                ),
                (Status.RUNNING.value, self.dialect.ts_in(running_before)),
            )
            return [self._case_from_db(r) for r in cur.fetchall()]

    def due_holds(self, now: datetime, limit: int) -> list[str]:
        """Order ids of blocked cases whose hold ends at or before ``now``, soonest end
        first (the hold scheduler; reads the partial index only)."""
        with self.datastore.transaction(commit=False) as cur:
            gen = self.live_generation(CASES, cur)
            cur.execute(
                self.dialect.q(
                    f"SELECT order_id FROM view_cases_g{gen} WHERE hold_ends_at IS NOT NULL "
                    "AND hold_ends_at <= %s ORDER BY hold_ends_at, order_id LIMIT %s"
                ),
                (self.dialect.ts_in(now), limit),
            )
            return [r["order_id"] for r in cur.fetchall()]


def _known_total(
    rows: list[dict[str, Any]], more: bool, offset: int, after: Keyset | None
) -> int | None:
    """The list's total when the page itself tells it (None: it must be counted): the
    last page by ``page``, or an empty first page."""
    if after is None and rows and not more:
        return offset + len(rows)  # the last page: no need to count
    if after is None and not rows and not offset:
        return 0
    return None
