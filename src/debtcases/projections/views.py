"""Views: the read models of the dunning cases as one processor on the log runner, and
their queries. Built once per process by bootstrap (``Container.views``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, IntegrityError
from eventsourcing.utils import Environment

from debtcases.adapters.parked import ParkedEvent, write_or_park
from debtcases.csvformat.export import ExportRow
from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status
from debtcases.projections.cases_export import export_case_rows
from debtcases.projections.generations import PostgresViewRecorder, SQLiteViewRecorder, ViewStore
from debtcases.projections.queries import CaseFilter, CaseListPage, Keyset, case_item
from debtcases.projections.runner import Items

log = logging.getLogger(__name__)


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
        source: Any = None,
    ) -> None:
        self.recorder = recorder
        # The DunningCases application (its log and events): re-applying parked events.
        self.source = source
        self.head = head  # the log's last notification id (for the lag)
        self.clock = clock
        self.stuck_after_hours = stuck_after_hours
        # The live generations and each view's position, as this process last saw them
        # (None: read again). Each batch checks them under the pointer lock, so a stale
        # cache costs one empty transaction and a re-select, never a twice-applied event.
        self._generations: dict[str, int] | None = None
        self._view_positions: dict[str, int] = {}
        # PostgreSQL, set by the runner: the channel its progress is announced on; then the
        # batch's transaction itself NOTIFYs (delivered with the commit).
        self._progress_channel: str | None = None

    def announce_progress_on(self, channel: str) -> bool:
        """Announce this processor's position on ``channel`` with each batch's commit
        (PostgreSQL); True if it will, so the runner need not."""
        if getattr(self.recorder, "kind", "") != "postgres":
            return False
        self._progress_channel = channel
        return True

    # ------------------------------------------------------------ processor

    def position(self) -> int:
        return min(self.recorder.positions().values(), default=0)

    def process(self, items: Items) -> int:
        """Write ``items`` to every view; an event no view transaction can take is parked
        (per view, with its error) and the views go on."""
        return write_or_park(
            items,
            self._process_batch,
            lambda item, _exc: self._process_batch([item], park_at=self.clock()),
            "views",
        )

    def _process_batch(self, items: Items, park_at: datetime | None = None) -> int:
        for attempt in range(2):
            if self._generations is None:
                self._generations, self._view_positions = self.recorder.live_state()
            try:
                channel = self._progress_channel
                _applied, live, positions = self.recorder.process_live(
                    items,
                    self._generations,
                    self._view_positions,
                    park_at=park_at,
                    announce=(channel, self.name) if channel else None,
                )
            except IntegrityError:
                # A tracking record moved under us (should not, with the pointer lock):
                # read the positions again once; a second time it is the batch's data.
                self._generations = None
                if attempt:
                    raise
                continue
            except BaseException:
                self._generations = None
                raise
            # Not applied (a rebuild switched, or another runner was ahead): the runner
            # selects again from the positions stored.
            self._generations, self._view_positions = live, positions
            return min(positions.values(), default=0)
        return self.position()  # pragma: no cover - the loop returns or raises

    # -------------------------------------------------------- parked events

    def parked(self, include_resolved: bool = False) -> list[ParkedEvent]:
        return self.recorder.parked(include_resolved)

    def parked_count(self) -> int:
        return self.recorder.parked_count()

    def retry_parked(self) -> tuple[int, int]:
        """Re-apply every unresolved parked event through the same fold (a fixed version
        deployed): per view and case, its row is folded again from the case's events up
        to the view's position. Returns (resolved, still failing) parked events."""
        if self.source is None:
            raise RuntimeError("retrying parked events needs the event store (source)")
        groups: dict[tuple[str, str], list[ParkedEvent]] = {}
        for p in self.recorder.parked():
            groups.setdefault((p.view, p.originator_id), []).append(p)
        resolved = failing = 0
        for (view, case_id), parked in sorted(groups.items()):
            ok = self.recorder.refold_parked(
                view,
                case_id,
                [p.id for p in parked],
                lambda upto, parked=parked, case_id=case_id: self._case_events(  # type: ignore[misc]
                    uuid.UUID(case_id), min(p.notification_id for p in parked), upto
                ),
                self.clock(),
            )
            if ok:
                resolved += len(parked)
            else:
                failing += len(parked)
        return resolved, failing

    def _case_events(self, case_id: uuid.UUID, first: int, upto: int) -> Items:
        """The case's events from its first one up to the last one at or before position
        ``upto`` (the notifications from ``first`` on tell which version that is); each
        paired with ``upto`` as the row's position."""
        assert self.source is not None
        log_, last_version, start = self.source.recorder, 0, first
        while start <= upto:
            found = log_.select_notifications(start, 5000, stop=upto)
            if not found:
                break
            for n in found:
                if n.originator_id == case_id:
                    last_version = max(last_version, int(n.originator_version))
            start = found[-1].id + 1
        if not last_version:
            return []
        return [(upto, e) for e in self.source.events.get(case_id, lte=last_version)]

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

    def _shape(self, row: dict[str, Any], role: Role, as_of: datetime | None) -> dict[str, Any]:
        # As of a moment, "stuck" is judged at that moment too.
        return case_item(row, role, as_of or self.clock(), self.stuck_after_hours)

    def page_cases(
        self,
        filter: CaseFilter,
        role: Role,
        vendor_id: int | None,
        page: int = 1,
        page_size: int = 50,
        *,
        as_of: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the case list, newest change first, and the total. ``as_of``: the
        list as it stood at that moment (each case as it was then, from the temporal
        view; a vendor sees it as they always do)."""
        found = self.list_cases(filter, role, vendor_id, page_size, page=page, as_of=as_of)
        return found.items, found.total

    def list_cases(
        self,
        filter: CaseFilter,
        role: Role,
        vendor_id: int | None,
        page_size: int = 50,
        *,
        page: int = 1,
        after: Keyset | None = None,
        as_of: datetime | None = None,
    ) -> CaseListPage:
        """``page_cases`` with where the next page starts; ``after``: the page right after
        that key (keyset pagination; ``page`` is then not used)."""
        own = self._vendor_scope(role, vendor_id)
        found = self.recorder.list_case_rows(
            filter, own, page_size, offset=(page - 1) * page_size, after=after, as_of=as_of
        )
        items = [self._shape(r, role, as_of) for r in found.items]
        return CaseListPage(items, found.total, found.next_after)

    def iter_cases(
        self,
        filter: CaseFilter,
        role: Role,
        vendor_id: int | None,
        *,
        every_vendor: bool = False,
        as_of: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching case, newest change first, streamed in keyset batches.
        ``every_vendor`` (role vendor, no ``vendor_id``): every vendor's cases, each as its
        vendor sees it (support's "as the vendors see it")."""
        if role is Role.VENDOR and every_vendor and vendor_id is None:
            rows = self.recorder.iter_case_rows(filter, None, vendor_view=True, as_of=as_of)
        else:
            rows = self.recorder.iter_case_rows(
                filter, self._vendor_scope(role, vendor_id), as_of=as_of
            )
        for row in rows:
            yield self._shape(row, role, as_of)

    def export_rows(
        self,
        filter: CaseFilter,
        role: Role,
        vendor_id: int | None,
        *,
        every_vendor: bool = False,
        as_of: datetime | None = None,
        statuses_as_vendor: bool = False,
    ) -> Iterator[ExportRow]:
        """The CSV export's rows (``csvformat.export.EXPORT_FIELDS``) of the cases
        ``iter_cases`` lists, each as ``role`` sees it. ``statuses_as_vendor`` (support's
        "as the vendor sees it"): the status and the last change (*Geändert am*) a vendor
        sees (a block is invisible), for the cases of support's list."""
        vendor = role is Role.VENDOR
        if vendor and every_vendor and vendor_id is None:
            scope, vendor_view = None, True
        else:
            scope, vendor_view = self._vendor_scope(role, vendor_id), None
        return export_case_rows(
            self.recorder,
            filter,
            scope,
            vendor_view=vendor_view,
            as_of=as_of,
            vendor_status=vendor or statuses_as_vendor,
            vendor_changed=vendor or statuses_as_vendor,
        )

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
