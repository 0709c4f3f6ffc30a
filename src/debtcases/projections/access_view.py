"""Vendor portal access: per vendor, whether (and since when) Diagonal has their cases,
with counts per status; kept from a small per-case state folded with ``evolve``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from debtcases.domain.actors import Actor
from debtcases.domain.case import DunningCase
from debtcases.domain.debtor import Debtor
from debtcases.domain.state import CaseState, evolve
from debtcases.domain.statuses import Status
from debtcases.projections.tables import VENDOR_ACCESS, Items, TableStore, tables_of

# Columns of the per-case state the vendor-access view keeps to compute its deltas.
ACCESS_CASE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "user_id",
    "status",
    "handed_over_at",
    "at_diagonal",
)
ACCESS_VENDOR_COLUMNS: tuple[str, ...] = (
    "user_id",
    "cases_total",
    "cases_at_diagonal",
    "first_handed_over_at",
    *(f"n_{s.value.lower()}" for s in Status),
)

_NOBODY = Debtor("", "", "", "", "")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fold_access(row: dict[str, Any] | None, event: Any) -> dict[str, Any] | None:
    """The per-case state after ``event`` (None: not known yet; None back when the event
    cannot apply). Only the columns this view keeps are carried over; ``evolve`` decides."""
    if row is None:
        if not isinstance(event, DunningCase.Locked):
            return None
        state = evolve(None, event)
    else:
        kept = CaseState(
            case_id=UUID(row["case_id"]),
            order_id="",
            user_id=int(row["user_id"]),
            amount=Decimal(0),
            currency="",
            debtor=_NOBODY,
            admitted_debtor=_NOBODY,
            created_at=_EPOCH,
            created_by=Actor.system("view"),
            status=Status(row["status"]),
            handed_over_at=row["handed_over_at"],
            handover_sent=bool(row["at_diagonal"]),
        )
        state = evolve(kept, event)
    return {
        "case_id": str(state.case_id),
        "user_id": state.user_id,
        "status": state.status.value,
        "handed_over_at": state.handed_over_at,
        "at_diagonal": state.at_diagonal,  # the one definition (CaseState.at_diagonal)
    }


def count_access_changes(
    vendors: dict[int, dict[str, Any]],
    before: Mapping[str, dict[str, Any] | None],
    states: Mapping[str, dict[str, Any] | None],
    changed: list[str],
) -> None:
    """Move the vendor rows (``vendors``, by user id; a missing one starts at zero) from the
    per-case states ``before`` to ``states`` of the ``changed`` cases: the delta rule of the
    runner's batches and of the rebuild's bulk path alike."""
    for c in changed:
        old, new = before.get(c), states[c]
        assert new is not None
        u = int(new["user_id"])
        v = vendors.get(u)
        if v is None:
            v = vendors[u] = {c: 0 for c in ACCESS_VENDOR_COLUMNS}
            v.update(user_id=u, first_handed_over_at=None)
        if old is None:
            v["cases_total"] += 1
        else:
            v[f"n_{old['status'].lower()}"] -= 1
        v[f"n_{new['status'].lower()}"] += 1
        was_there = old is not None and bool(old["at_diagonal"])
        v["cases_at_diagonal"] += int(bool(new["at_diagonal"])) - int(was_there)
        if new["handed_over_at"] is not None and (old is None or old["handed_over_at"] is None):
            first = v["first_handed_over_at"]
            if first is None or new["handed_over_at"] < first:
                v["first_handed_over_at"] = new["handed_over_at"]


class AccessView(TableStore):
    """The vendor-access view's tables, written and read (mixed into the view store)."""

    def access_ddl(self, gen: int, *, keys: bool = True) -> list[str]:
        """The view's tables (``keys=False``: the per-case table without its key, for a
        bulk load; ``access_keys_ddl`` after it)."""
        ts = self.dialect.timestamp_type
        vendors, cases = tables_of(VENDOR_ACCESS, gen)
        counts = ", ".join(f"n_{s.value.lower()} INTEGER NOT NULL" for s in Status)
        return [
            f"""CREATE TABLE IF NOT EXISTS {vendors} (
                user_id BIGINT PRIMARY KEY, cases_total INTEGER NOT NULL,
                cases_at_diagonal INTEGER NOT NULL, first_handed_over_at {ts}, {counts})""",
            f"""CREATE TABLE IF NOT EXISTS {cases} (
                case_id TEXT{" PRIMARY KEY" if keys else ""}, user_id BIGINT NOT NULL,
                status TEXT NOT NULL,
                handed_over_at {ts}, at_diagonal {self.dialect.boolean_type})""",
            *self._access_added_columns_ddl(cases),
        ]

    def access_keys_ddl(self, gen: int) -> list[str]:
        return [f"ALTER TABLE {tables_of(VENDOR_ACCESS, gen)[1]} ADD PRIMARY KEY (case_id)"]

    def _access_added_columns_ddl(self, cases: str) -> list[str]:
        """An access view of an earlier release counted cases that ever reached
        HANDED_OVER; it gets the per-case ``at_diagonal`` (approximated from
        ``handed_over_at``; exact, with the counts, after ``debtcases rebuild``)."""
        with self.datastore.transaction(commit=False) as cur:
            if self.dialect.kind == "postgres":
                cur.execute(
                    "SELECT column_name AS name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s",
                    (cases,),
                )
            else:
                cur.execute(f"PRAGMA table_info({cases})")
            present = {r["name"] for r in cur.fetchall()}
        if not present or "at_diagonal" in present:
            return []
        exists = " IF NOT EXISTS" if self.dialect.kind == "postgres" else ""
        b = self.dialect.boolean_type
        return [
            f"ALTER TABLE {cases} ADD COLUMN{exists} at_diagonal {b}",
            f"UPDATE {cases} SET at_diagonal = (handed_over_at IS NOT NULL) "
            "WHERE at_diagonal IS NULL",
        ]

    def _process_access(self, cur: Any, gen: int, items: Items, *, refold: bool = False) -> None:
        """Fold ``items`` into the per-case states and the vendor rows. ``refold``: the
        items are a case's events from its first one; its state is folded from nothing."""
        vendors_t, cases_t = tables_of(VENDOR_ACCESS, gen)
        ids = sorted({str(e.originator_id) for _, e in items})
        states: dict[str, dict[str, Any] | None] = {}
        for r in self._load(cur, cases_t, "case_id", ids):
            states[r["case_id"]] = self._access_case_from_db(r)
        before = dict(states)
        if refold:
            states = {}
        for _, event in items:
            cid = str(event.originator_id)
            new = fold_access(states.get(cid), event)
            if new is not None:
                states[cid] = new
        changed = [c for c in ids if states.get(c) is not None and states[c] != before.get(c)]
        if not changed:
            return
        user_ids = sorted({int(states[c]["user_id"]) for c in changed})  # type: ignore[index]
        vendors = {int(r["user_id"]): r for r in self._load(cur, vendors_t, "user_id", user_ids)}
        for u in vendors:
            vendors[u] = self._access_vendor_from_db(vendors[u])
        count_access_changes(vendors, before, states, changed)
        self._upsert(
            cur,
            cases_t,
            "case_id",
            ACCESS_CASE_COLUMNS,
            [self._access_case_to_db(s) for s in (states[c] for c in changed) if s is not None],
        )
        self._upsert(
            cur,
            vendors_t,
            "user_id",
            ACCESS_VENDOR_COLUMNS,
            [self._access_vendor_to_db(vendors[u]) for u in user_ids],
        )

    def _access_case_to_db(self, s: dict[str, Any]) -> list[Any]:
        return [
            s["case_id"],
            s["user_id"],
            s["status"],
            self.dialect.ts_in(s["handed_over_at"]),
            self.dialect.bool_in(bool(s["at_diagonal"])),
        ]

    def _access_case_from_db(self, r: dict[str, Any]) -> dict[str, Any]:
        r = dict(r)
        r["handed_over_at"] = self.dialect.ts_out(r["handed_over_at"])
        r["at_diagonal"] = bool(r["at_diagonal"])
        return r

    def _access_vendor_to_db(self, v: dict[str, Any]) -> list[Any]:
        return [
            self.dialect.ts_in(v[c]) if c == "first_handed_over_at" else v[c]
            for c in ACCESS_VENDOR_COLUMNS
        ]

    def _access_vendor_from_db(self, r: dict[str, Any]) -> dict[str, Any]:
        v = dict(r)
        v["first_handed_over_at"] = self.dialect.ts_out(v["first_handed_over_at"])
        return v

    # ------------------------------------------------------------- reading

    def vendor_access_row(self, user_id: int) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as cur:
            vendors_t, _ = tables_of(VENDOR_ACCESS, self.live_generation(VENDOR_ACCESS, cur))
            cur.execute(self.dialect.q(f"SELECT * FROM {vendors_t} WHERE user_id = %s"), (user_id,))
            r = cur.fetchone()
        if r is None:
            return None
        row = dict(r)
        row["first_handed_over_at"] = self.dialect.ts_out(row["first_handed_over_at"])
        return row

    def all_vendor_access_rows(self, gen: int | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            g = gen if gen is not None else self.live_generation(VENDOR_ACCESS, cur)
            cur.execute(f"SELECT * FROM {tables_of(VENDOR_ACCESS, g)[0]} ORDER BY user_id")
            rows = [dict(r) for r in cur.fetchall()]
        for row in rows:
            row["first_handed_over_at"] = self.dialect.ts_out(row["first_handed_over_at"])
        return rows
