"""The temporal (as-of) view of the cases: every version of every case with its validity,
its DDL, its writing (with the cases rows, in the same transaction) and the WHERE that reads
a list as it stood at a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from debtcases.projections.cases_rows import CASE_COLUMNS, CaseRowStore, case_columns_ddl
from debtcases.projections.tables import CASES, tables_of


class CaseVersions(CaseRowStore):
    """The versions table of the cases view (mixed into the view store via ``CasesView``)."""

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
            f"CREATE INDEX IF NOT EXISTS {v}_order ON {v} (lower(order_id), valid_from)",
        ]

    def _write_versions(
        self,
        cur: Any,
        table: str,
        versions: list[tuple[dict[str, Any], datetime]],
        case_ids: list[str],
        *,
        refold: bool = False,
    ) -> None:
        """Append the new versions of the temporal view and close the ones they follow.
        A version is valid from the latest event time of its stream so far (a clock that
        went back does not reorder a case's versions: see ``stream_up_to``) until the next
        version's; a version followed at once (same moment) is never valid, as the stream
        up to any moment never ends with it. ``refold``: the case's versions are written
        again from its first event."""
        if not versions:
            return
        q = self.dialect.q
        if refold:
            for i in range(0, len(case_ids), 500):
                clause, params = self.dialect.in_list("case_id", case_ids[i : i + 500])
                cur.execute(q(f"DELETE FROM {table} WHERE {clause}"), params)
            open_from: dict[str, datetime] = {}
        else:
            open_from = {}
            for i in range(0, len(case_ids), 500):
                clause, params = self.dialect.in_list("case_id", case_ids[i : i + 500])
                cur.execute(
                    q(
                        f"SELECT case_id, valid_from FROM {table} "
                        f"WHERE valid_to IS NULL AND {clause}"
                    ),
                    params,
                )
                for r in cur.fetchall():
                    moment = self.dialect.ts_out(r["valid_from"])
                    assert moment is not None
                    open_from[r["case_id"]] = moment
        closing = dict(open_from)  # case -> valid_from of its stored open version
        closed: dict[str, datetime] = {}  # case -> when its stored open version ends
        inserts: list[list[Any]] = []
        pending: dict[str, list[Any]] = {}  # case -> its newest version in this batch
        for row, at in versions:
            cid = row["case_id"]
            start = max(at, open_from[cid]) if cid in open_from else at
            previous = pending.get(cid)
            if previous is not None:
                previous[-1] = self.dialect.ts_in(start)  # valid_to of the one before
            elif cid in closing:
                closed[cid] = start
            values = [*self._case_to_db(row), self.dialect.ts_in(start), None]
            inserts.append(values)
            pending[cid] = values
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
