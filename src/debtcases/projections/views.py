"""Views: the read models of the dunning cases as one processor on the log runner, and
their queries. Built once per process by bootstrap (``Container.views``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, IntegrityError
from eventsourcing.utils import Environment

from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status
from debtcases.projections.generations import PostgresViewRecorder, SQLiteViewRecorder, ViewStore
from debtcases.projections.queries import CaseFilter, case_item
from debtcases.projections.runner import Items


def build_view_recorder(db_kind: str, env: dict[str, str], pool_size: int = 3) -> ViewStore:
    """The view recorder for the configured database (memory://: a private in-memory
    SQLite database, good enough for unit tests)."""
    env = dict(env)
    if db_kind == "memory":
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": f"file:views_{uuid.uuid4().hex}?mode=memory&cache=shared",
        }
    if db_kind == "postgres":
        env["POSTGRES_POOL_SIZE"] = str(pool_size)
        env["POSTGRES_MAX_OVERFLOW"] = str(pool_size)
    factory = InfrastructureFactory.construct(Environment("DebtcasesViews", env))
    cls = PostgresViewRecorder if db_kind == "postgres" else SQLiteViewRecorder
    recorder = factory.tracking_recorder(cls)
    assert isinstance(recorder, ViewStore)
    recorder.setup()
    # Keep the factory (it owns the datastore) alive as long as the recorder.
    recorder._factory = factory  # type: ignore[attr-defined]
    return recorder


class Views:
    """The read models: the processor ``views`` on the log runner (every view of a batch
    in one transaction with their tracking) and the queries of the lists."""

    name = "views"

    def __init__(
        self,
        recorder: ViewStore,
        *,
        head: Callable[[], int],
        clock: Callable[[], datetime],
        stuck_after_hours: float = 48.0,
    ) -> None:
        self.recorder = recorder
        self.head = head  # the log's last notification id (for the lag)
        self.clock = clock
        self.stuck_after_hours = stuck_after_hours
        # The live generations and each view's position, as this process last saw them
        # (None: read again). Each batch checks them under the pointer lock, so a stale
        # cache costs one empty transaction and a re-select, never a twice-applied event.
        self._generations: dict[str, int] | None = None
        self._view_positions: dict[str, int] = {}

    # ------------------------------------------------------------ processor

    def position(self) -> int:
        return min(self.recorder.positions().values(), default=0)

    def process(self, items: Items) -> int:
        for _attempt in range(3):
            if self._generations is None:
                self._generations, self._view_positions = self.recorder.live_state()
            try:
                _applied, live, positions = self.recorder.process_live(
                    items, self._generations, self._view_positions
                )
            except IntegrityError:
                # A tracking record moved under us (should not, with the pointer lock).
                self._generations = None
                continue
            except BaseException:
                self._generations = None
                raise
            # Not applied (a rebuild switched, or another runner was ahead): the runner
            # selects again from the positions stored.
            self._generations, self._view_positions = live, positions
            return min(positions.values(), default=0)
        return self.position()

    def positions(self) -> dict[str, int]:
        """Each view's stored position."""
        return self.recorder.positions()

    def lag_report(self) -> dict[str, int]:
        """Events each view is behind the notification log."""
        head = self.head()
        return {v: max(0, head - p) for v, p in self.recorder.positions().items()}

    def close(self) -> None:
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()

    # ------------------------------------------------------------- queries

    def _shape(self, row: dict[str, Any], role: Role) -> dict[str, Any]:
        return case_item(row, role, self.clock(), self.stuck_after_hours)

    def page_cases(
        self,
        filter: CaseFilter,
        role: Role,
        vendor_id: int | None,
        page: int = 1,
        page_size: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the case list, newest change first, and the total."""
        own = self._vendor_scope(role, vendor_id)
        rows, total = self.recorder.page_case_rows(filter, own, page, page_size)
        return [self._shape(r, role) for r in rows], total

    def iter_cases(
        self,
        filter: CaseFilter,
        role: Role,
        vendor_id: int | None,
        *,
        every_vendor: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every matching case, newest change first, streamed in keyset batches.
        ``every_vendor`` (role vendor, no ``vendor_id``): every vendor's cases, each as its
        vendor sees it (support's "as the vendors see it")."""
        if role is Role.VENDOR and every_vendor and vendor_id is None:
            rows = self.recorder.iter_case_rows(filter, None, vendor_view=True)
        else:
            rows = self.recorder.iter_case_rows(filter, self._vendor_scope(role, vendor_id))
        for row in rows:
            yield self._shape(row, role)

    @staticmethod
    def _vendor_scope(role: Role, vendor_id: int | None) -> int | None:
        if role is Role.VENDOR:
            if vendor_id is None:
                raise ValueError("a vendor query needs the vendor's User-ID")
            return vendor_id
        return None

    def collection_access(self, user_id: int) -> dict[str, Any]:
        """Whether the vendor has cases at Diagonal (and so portal access), with counts."""
        row = self.recorder.vendor_access_row(user_id)
        by_status = {s.value: int(row[f"n_{s.value.lower()}"]) if row else 0 for s in Status}
        at_diagonal = int(row["cases_at_diagonal"]) if row else 0
        return {
            "user_id": user_id,
            "has_cases_at_diagonal": at_diagonal > 0,
            "portal_access": at_diagonal > 0,
            "since": row["first_handed_over_at"] if row else None,
            "cases_total": int(row["cases_total"]) if row else 0,
            "cases_at_diagonal": at_diagonal,
            "by_status": by_status,
        }

    def stuck_cases(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The watchdog: cases RUNNING longer than ``stuck_after_hours`` without
        Diagonal's ``received``, oldest first."""
        from datetime import timedelta

        before = (now or self.clock()) - timedelta(hours=self.stuck_after_hours)
        return [
            {
                "order_id": r["order_id"],
                "user_id": int(r["user_id"]),
                "running_since": r["running_since"].isoformat(),
            }
            for r in self.recorder.stuck_case_rows(before)
        ]
