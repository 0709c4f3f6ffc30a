"""The temporal (as-of) view of the cases: every version of every case with its validity,
its DDL, its writing (with the cases rows, in the same transaction), the WHERE that reads
a list as it stood at a moment, and that list's total.

The totals of the support lists as of a moment (all cases, or by status and/or period)
come from the as-of counts: per UTC month, day and hour, per (status, entered_month), how
many versions became valid in it (+1 at ``valid_from``) minus how many ceased to be
(-1 at ``valid_to``). The cases valid at ``t`` are those that became valid at or before
``t`` minus those that ceased to at or before ``t`` (a version ends no earlier than it
starts), so the total at ``t`` is: the months before ``t``'s month + the days of its month
before its day + the hours of its day before its hour (at most ~80 buckets per key) + an
exact count of the versions starting/ending within ``t``'s hour up to ``t`` (two index
ranges). Exact, whatever the moment; written by the same runner in the same transaction
as the versions (``_add_as_of_counts``), so rebuilt with them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from debtcases.projections.cases_rows import CASE_COLUMNS, CaseRowStore, case_columns_ddl
from debtcases.projections.queries import CaseFilter
from debtcases.projections.tables import CASES, read_ahead, tables_of

# The as-of counts' buckets: (grain, length of the UTC ISO text of a moment it keeps),
# "2024-05" / "2024-05-17" / "2024-05-17T13".
AS_OF_GRAINS = (("m", 7), ("d", 10), ("h", 13))
# (grain, bucket, status, entered_month) -> versions starting minus versions ending in it
AsOfKey = tuple[str, str, str, str]


def as_of_deltas(changes: Iterable[tuple[datetime, str, str, int]]) -> dict[AsOfKey, int]:
    """The as-of counts' deltas of ``changes``: (moment, status, entered_month, +1 for a
    version valid from then / -1 for one valid until then), summed per bucket of each grain
    (pure: the runner's batches and a bulk writer of versions share it)."""
    out: dict[AsOfKey, int] = {}
    for at, status, month, d in changes:
        iso = at.astimezone(UTC).isoformat()
        for grain, length in AS_OF_GRAINS:
            key = (grain, iso[:length], status, month)
            out[key] = out.get(key, 0) + d
    return out


def open_versions(table: str) -> str:
    """What the open versions (``valid_to IS NULL``) of ``table`` read ahead are kept as."""
    return f"{table} (open)"


class CaseVersions(CaseRowStore):
    """The versions table of the cases view (mixed into the view store via ``CasesView``)."""

    if TYPE_CHECKING:  # the lists' WHERE (``CasesQueries``, the class mixing this in)

        def _where(
            self, f: CaseFilter, vendor_id: int | None, vendor_view: bool | None = None
        ) -> tuple[str, list[Any]]: ...

    def versions_ddl(self, gen: int) -> list[str]:
        """The temporal view: one row per version of a case (the row as it was after each
        of its events) valid from ``valid_from`` (the latest event time of the stream so
        far) until ``valid_to`` (the next version's ``valid_from``; NULL: still current).
        Written with the cases rows, in the same transaction; filled by a rebuild."""
        return [*self.versions_tables_ddl(gen), *self.versions_after_load_ddl(gen)]

    def versions_tables_ddl(self, gen: int, *, keys: bool = True) -> list[str]:
        """The versions table (and any table derived from it), before a bulk load
        (``keys=False``: without its key, see ``versions_keys_ddl``)."""
        ts, b = self.dialect.timestamp_type, self.dialect.boolean_type
        v = tables_of(CASES, gen)[3]
        key = ", PRIMARY KEY (case_id, version)" if keys else ""
        return [
            f"CREATE TABLE IF NOT EXISTS {v} ({case_columns_ddl(ts, b)}, "
            f"valid_from {ts} NOT NULL, valid_to {ts}{key})",
        ]

    def versions_keys_ddl(self, gen: int) -> list[str]:
        v = tables_of(CASES, gen)[3]
        return [f"ALTER TABLE {v} ADD PRIMARY KEY (case_id, version)"]

    def versions_after_load_ddl(self, gen: int) -> list[str]:
        """The versions' indexes, made after a rebuild's bulk load (and, idempotent, with
        the table otherwise). Hook: a table derived from the versions (e.g. counts for
        as-of totals) that a bulk load leaves empty is filled here, from the versions."""
        v = tables_of(CASES, gen)[3]
        return [
            # The writer's lookup: each case's current version.
            f"CREATE UNIQUE INDEX IF NOT EXISTS {v}_open ON {v} (case_id) WHERE valid_to IS NULL",
            # As the live view's indexes: one per list filter, each ending in the list's
            # order, so an as-of page reads the index from the moment down and skips the
            # versions not valid then (few near the top).
            f"CREATE INDEX IF NOT EXISTS {v}_recent ON {v} (updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {v}_user ON {v} (user_id, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {v}_vendor ON {v} "
            "(user_id, vendor_updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {v}_vendor_vstatus ON {v} "
            "(user_id, vendor_status, vendor_updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {v}_status ON {v} "
            "(status, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {v}_month ON {v} "
            "(entered_month, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {v}_order ON {v} (lower(order_id), valid_from)",
            # The as-of total's exact part: versions starting / ending within an hour.
            f"CREATE INDEX IF NOT EXISTS {v}_from ON {v} (valid_from, status, entered_month)",
            f"CREATE INDEX IF NOT EXISTS {v}_to ON {v} (valid_to, status, entered_month) "
            "WHERE valid_to IS NOT NULL",
            *self.as_of_counts_ddl(gen),
        ]

    def as_of_counts_ddl(self, gen: int) -> list[str]:
        """The as-of counts (see the module docstring), and their filling from the versions
        of a generation that has versions but no counts yet (one written before the counts
        existed, or versions written in bulk): a no-op once there are counts."""
        v, c = tables_of(CASES, gen)[3:5]
        hour = self.dialect.utc_prefix("moment", 13)
        # The "no counts yet" test sits in every branch, not around the union: SQLite
        # would otherwise bucket every version just to drop the rows (PostgreSQL skips
        # either form at once, as a one-time filter).
        empty = f"NOT EXISTS (SELECT 1 FROM {c})"
        # Each version's start and end summed per hour once (one UTC text per row and
        # column), then the hours rolled up into their days and months: the same sums as
        # bucketing every row at every grain (an hour's text starts with its day's and
        # month's), a third of the conversions (measured, 112,000 versions: 0.06-0.11 s
        # against 0.20-0.24 s for the select).
        hours = (
            f"SELECT {hour} AS hour, status, entered_month, SUM(d) AS n FROM ("
            f"SELECT valid_from AS moment, status, entered_month, 1 AS d FROM {v} WHERE {empty} "
            f"UNION ALL SELECT valid_to, status, entered_month, -1 FROM {v} WHERE {empty} "
            f"AND valid_to IS NOT NULL) AS changes GROUP BY {hour}, status, entered_month"
        )
        grains = " UNION ALL ".join(f"SELECT '{g}' AS grain, {n} AS len" for g, n in AS_OF_GRAINS)
        bucket = "substr(h.hour, 1, g.len)"
        return [
            f"CREATE TABLE IF NOT EXISTS {c} (grain TEXT NOT NULL, bucket TEXT NOT NULL, "
            "status TEXT NOT NULL, entered_month TEXT NOT NULL, n BIGINT NOT NULL, "
            "PRIMARY KEY (grain, bucket, status, entered_month))",
            *self._lock_for_backfill(v),
            f"INSERT INTO {c} (grain, bucket, status, entered_month, n) "
            f"SELECT g.grain, {bucket}, h.status, h.entered_month, SUM(h.n) "
            f"FROM ({hours}) AS h CROSS JOIN ({grains}) AS g "
            f"GROUP BY g.grain, {bucket}, h.status, h.entered_month HAVING SUM(h.n) <> 0",
        ]

    def _write_versions(
        self,
        cur: Any,
        gen: int,
        versions: list[tuple[dict[str, Any], datetime]],
        case_ids: list[str],
        *,
        refold: bool = False,
    ) -> None:
        """Append the new versions of the temporal view, close the ones they follow and
        move the as-of counts with them. A version is valid from the latest event time of
        its stream so far (a clock that went back does not reorder a case's versions: see
        ``stream_up_to``) until the next version's; a version followed at once (same
        moment) is never valid, as the stream up to any moment never ends with it.
        ``refold``: the case's versions are written again from its first event."""
        if not versions:
            return
        table, counts = tables_of(CASES, gen)[3:5]
        q = self.dialect.q
        # (moment, status, entered_month, +1 valid from / -1 valid until) for the counts
        changes: list[tuple[datetime, str, str, int]] = []
        open_from: dict[str, datetime] = {}
        open_key: dict[str, tuple[str, str]] = {}  # case -> its stored open version's key
        for i in range(0, len(case_ids), 500):
            clause, params = self.dialect.in_list("case_id", case_ids[i : i + 500])
            validity = "" if refold else "valid_to IS NULL AND "
            known = (
                None
                if refold
                else read_ahead(open_versions(table), "case_id", case_ids[i : i + 500])
            )
            if known is None:
                cur.execute(
                    q(
                        "SELECT case_id, status, entered_month, valid_from, valid_to "
                        f"FROM {table} WHERE {validity}{clause}"
                    ),
                    params,
                )
                known = cur.fetchall()
            for r in known:
                moment = self.dialect.ts_out(r["valid_from"])
                until = self.dialect.ts_out(r["valid_to"])
                assert moment is not None
                if refold:  # taken back: the counts lose what each stored version added
                    changes.append((moment, r["status"], r["entered_month"], -1))
                    if until is not None:
                        changes.append((until, r["status"], r["entered_month"], 1))
                else:
                    open_from[r["case_id"]] = moment
                    open_key[r["case_id"]] = (r["status"], r["entered_month"])
            if refold:
                cur.execute(q(f"DELETE FROM {table} WHERE {clause}"), params)
        closed: dict[str, datetime] = {}  # case -> when its stored open version ends
        inserts: list[list[Any]] = []
        pending: dict[str, tuple[list[Any], tuple[str, str]]] = {}  # case -> newest here
        for row, at in versions:
            cid = row["case_id"]
            start = max(at, open_from[cid]) if cid in open_from else at
            previous = pending.get(cid)
            if previous is not None:
                previous[0][-1] = self.dialect.ts_in(start)  # valid_to of the one before
                changes.append((start, *previous[1], -1))
            elif cid in open_key:
                closed[cid] = start
                changes.append((start, *open_key[cid], -1))
            values = [*self._case_to_db(row), self.dialect.ts_in(start), None]
            inserts.append(values)
            key = (row["status"], row["entered_month"])
            changes.append((start, *key, 1))
            pending[cid] = (values, key)
            open_from[cid] = start
        if closed:
            self._execute_many(
                cur,
                f"UPDATE {table} SET valid_to = %s WHERE case_id = %s AND valid_to IS NULL",
                [(self.dialect.ts_in(at), cid) for cid, at in sorted(closed.items())],
            )
        cols = ", ".join((*CASE_COLUMNS, "valid_from", "valid_to"))
        marks = ", ".join(["%s"] * (len(CASE_COLUMNS) + 2))
        self._execute_many(cur, f"INSERT INTO {table} ({cols}) VALUES ({marks})", inserts)
        self._add_as_of_counts(cur, counts, as_of_deltas(changes))

    def _add_as_of_counts(self, cur: Any, counts: str, deltas: dict[AsOfKey, int]) -> None:
        """Add ``deltas`` to the as-of counts (keys sorted, so concurrent writers lock rows
        in the same order; a version valid for no moment, or a change that keeps status and
        month, adds nothing)."""
        rows = sorted((*k, d) for k, d in deltas.items() if d)
        if rows:
            self._execute_many(
                cur,
                f"INSERT INTO {counts} (grain, bucket, status, entered_month, n) "
                "VALUES (%s, %s, %s, %s, %s) "
                f"ON CONFLICT (grain, bucket, status, entered_month) DO UPDATE "
                f"SET n = {counts}.n + excluded.n",
                rows,
            )

    def _as_of(
        self, gen: int, where: str, params: list[Any], vendor_id: int | None, at: datetime
    ) -> tuple[str, str, list[Any]]:
        """The versions table and the WHERE of the list as it stood at ``at``: each case's
        version valid then. ``updated_at <= at`` (true of every version valid then) lets
        the list's index start at the moment."""
        changed = self._changed_column(vendor_id)
        moment = self.dialect.ts_in(at)
        return (
            tables_of(CASES, gen)[3],
            f"{where} AND {changed} <= %s AND valid_from <= %s "
            "AND (valid_to IS NULL OR valid_to > %s)",
            [*params, moment, moment, moment],
        )

    def _as_of_total(
        self,
        cur: Any,
        gen: int,
        f: CaseFilter,
        vendor_id: int | None,
        at: datetime,
        where: str,
        params: list[Any],
    ) -> int:
        """The total of a list as of ``at`` (``where``/``params``: from ``_as_of``). A
        support list filtered by nothing but status and/or period: from the as-of counts
        (see the module docstring); any other filter (a vendor, a User-ID, an order, ...)
        narrows the versions to few: counted directly."""
        table, counts = tables_of(CASES, gen)[3:5]
        q = self.dialect.q
        if vendor_id is not None or replace(f, statuses=(), period=None) != CaseFilter():
            cur.execute(q(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}"), params)
            return int(cur.fetchone()["n"])
        # The columns of the counts (status, entered_month): the same WHERE on both tables.
        key_where, key_params = self._where(f, None)
        utc = at.astimezone(UTC)
        iso = utc.isoformat()
        month, day, hour = (iso[:n] for _, n in AS_OF_GRAINS)
        hour_start = self.dialect.ts_in(utc.replace(minute=0, second=0, microsecond=0))
        moment = self.dialect.ts_in(utc)
        sql = (
            f"SELECT (SELECT COALESCE(SUM(n), 0) FROM {counts} WHERE {key_where} AND ("
            "(grain = 'm' AND bucket < %s) "
            "OR (grain = 'd' AND bucket >= %s AND bucket < %s) "
            "OR (grain = 'h' AND bucket >= %s AND bucket < %s))) "
            f"+ (SELECT COUNT(*) FROM {table} WHERE {key_where} "
            "AND valid_from >= %s AND valid_from <= %s) "
            f"- (SELECT COUNT(*) FROM {table} WHERE {key_where} "
            "AND valid_to >= %s AND valid_to <= %s) AS n"
        )
        cur.execute(
            q(sql),
            [
                *key_params,
                month,
                month + "-01",
                day,
                day + "T00",
                hour,
                *key_params,
                hour_start,
                moment,
                *key_params,
                hour_start,
                moment,
            ],
        )
        return int(cur.fetchone()["n"])
