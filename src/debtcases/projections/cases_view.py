"""The Schulden / Inkasso-Beta list: one row per case (built from ``evolve``'s states),
with counts tables for the list totals: the tables' DDL (and the added columns of a live
generation from an earlier release) and their writing. Rows: ``cases_rows``; reads:
``cases_queries``; the as-of versions: ``case_versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from debtcases.projections.cases_queries import CasesQueries
from debtcases.projections.cases_rows import (
    ADDED_CASE_COLUMNS,
    CASE_COLUMNS,
    COUNT_KEY,
    CountKey,
    case_columns_ddl,
    count_key,
    fold_row,
)
from debtcases.projections.tables import CASES, Items, tables_of


class CasesView(CasesQueries):
    """The cases view's tables, written and read (mixed into the view store)."""

    def cases_ddl(self, gen: int) -> list[str]:
        return [*self.cases_tables_ddl(gen), *self.cases_after_load_ddl(gen)]

    def cases_tables_ddl(self, gen: int, *, keys: bool = True) -> list[str]:
        """The tables of a generation, without the list indexes: what a rebuild's bulk
        load writes into (``cases_after_load_ddl`` after it). ``keys=False``: the rows'
        and versions' keys too are left for after the load (``cases_keys_ddl``)."""
        ts, b = self.dialect.timestamp_type, self.dialect.boolean_type
        t, counts, totals, *_ = tables_of(CASES, gen)
        row_keys = ", PRIMARY KEY (case_id), UNIQUE (order_id)" if keys else ""
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ({case_columns_ddl(ts, b)}{row_keys})",
            *self._added_columns_ddl(t),
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
            *self.versions_tables_ddl(gen, keys=keys),
        ]

    def cases_keys_ddl(self, gen: int, *, versions: bool = True) -> list[str]:
        """The keys ``cases_tables_ddl(keys=False)`` left out (PostgreSQL: the same
        constraints, by the same names, as created with the tables)."""
        t = tables_of(CASES, gen)[0]
        return [
            f"ALTER TABLE {t} ADD PRIMARY KEY (case_id), ADD UNIQUE (order_id)",
            *(self.versions_keys_ddl(gen) if versions else []),
        ]

    def cases_after_load_ddl(self, gen: int, *, versions: bool = True) -> list[str]:
        """The list indexes, and the counts of a generation that has rows but no counts
        (one filled before the counts existed, or by a rebuild's bulk load): idempotent."""
        t, counts, totals, *_ = tables_of(CASES, gen)
        return [
            # One index per filter, each ending in the sort order (newest change first).
            f"CREATE INDEX IF NOT EXISTS {t}_recent ON {t} (updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_user_vstatus ON {t} "
            "(user_id, vendor_status, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_user_month ON {t} "
            "(user_id, entered_month, updated_at DESC, position DESC)",
            # The vendor's lists, in the order of what the vendor sees changed.
            f"CREATE INDEX IF NOT EXISTS {t}_vendor ON {t} "
            "(user_id, vendor_updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_vendor_vstatus ON {t} "
            "(user_id, vendor_status, vendor_updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_vendor_month ON {t} "
            "(user_id, entered_month, vendor_updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_status ON {t} "
            "(status, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_month ON {t} "
            "(entered_month, updated_at DESC, position DESC)",
            f"CREATE INDEX IF NOT EXISTS {t}_running ON {t} (status, running_since)",
            # The specialist's worklist (fell_back filter; counted directly, see _count).
            f"CREATE INDEX IF NOT EXISTS {t}_fell_back ON {t} "
            "(fell_back, updated_at DESC, position DESC)",
            # Holds: the scheduler's due holds and support's "ends within N days" (only
            # blocked cases with an end have a row in it), and the reason-code filter.
            f"CREATE INDEX IF NOT EXISTS {t}_hold_ends ON {t} (hold_ends_at, order_id) "
            "WHERE hold_ends_at IS NOT NULL",
            f"CREATE INDEX IF NOT EXISTS {t}_hold_reason ON {t} "
            "(hold_reason, updated_at DESC, position DESC) WHERE hold_reason IS NOT NULL",
            # A generation filled without its counts: count it once (no-op after).
            *self._lock_for_backfill(t),
            f"INSERT INTO {counts} (user_id, status, vendor_status, entered_month, n) "
            f"SELECT user_id, status, vendor_status, entered_month, COUNT(*) FROM {t} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {counts}) "
            "GROUP BY user_id, status, vendor_status, entered_month",
            f"INSERT INTO {totals} (status, vendor_status, entered_month, n) "
            f"SELECT status, vendor_status, entered_month, COUNT(*) FROM {t} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {totals}) "
            "GROUP BY status, vendor_status, entered_month",
            *(self.versions_after_load_ddl(gen) if versions else []),
        ]

    def _added_columns_ddl(self, table: str) -> list[str]:
        """ALTER (and backfill) statements giving a table of an earlier release the added
        columns; nothing for a table that does not exist yet or has them."""
        types = {
            "bool": self.dialect.boolean_type,
            "ts": self.dialect.timestamp_type,
            "int": "INTEGER",
            "text": "TEXT",
        }
        false = "FALSE" if self.dialect.kind == "postgres" else "0"
        with self.datastore.transaction(commit=False) as cur:
            if self.dialect.kind == "postgres":
                cur.execute(
                    "SELECT column_name AS name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s",
                    (table,),
                )
            else:
                cur.execute(f"PRAGMA table_info({table})")
            present = {r["name"] for r in cur.fetchall()}
        if not present:
            return []  # created with every column by the statement before
        exists = " IF NOT EXISTS" if self.dialect.kind == "postgres" else ""
        out: list[str] = []
        for name, kind, value in ADDED_CASE_COLUMNS:
            if name not in present:
                out.append(f"ALTER TABLE {table} ADD COLUMN{exists} {name} {types[kind]}")
                out.append(
                    f"UPDATE {table} SET {name} = {value.format(false=false)} WHERE {name} IS NULL"
                )
        return out

    def _process_cases(self, cur: Any, gen: int, items: Items, *, refold: bool = False) -> None:
        """Fold ``items`` into the rows of their cases and adjust the counts. ``refold``:
        ``items`` are a case's events from its first one (a parked event re-applied): the
        row is folded again from nothing, the counts move from the stored row to it."""
        table, counts_t, totals_t, *_ = tables_of(CASES, gen)
        ids = sorted({str(e.originator_id) for _, e in items})
        current: dict[str, dict[str, Any] | None] = {
            r["case_id"]: self._case_from_db(r) for r in self._load(cur, table, "case_id", ids)
        }
        before = {c: count_key(r) for c, r in current.items() if r is not None}
        if refold:
            current = {}
        changed: set[str] = set()
        versions: list[tuple[dict[str, Any], datetime]] = []  # (row, its event's time)
        for position, event in items:
            cid = str(event.originator_id)
            new = fold_row(current.get(cid), event, position)
            if new is not None:
                current[cid] = new
                changed.add(cid)
                versions.append((new, event.timestamp))
        rows = [self._case_to_db(current[c]) for c in sorted(changed)]  # type: ignore[arg-type]
        self._upsert(cur, table, "case_id", CASE_COLUMNS, rows)
        self._write_versions(cur, gen, versions, sorted(changed), refold=refold)
        deltas: dict[CountKey, int] = {}
        for c in changed:
            old, new_key = before.get(c), count_key(current[c])  # type: ignore[arg-type]
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
