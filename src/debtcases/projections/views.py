"""Views: the read models of the dunning cases, the runner keeping them up to date, and
their queries. Built once per process by bootstrap (``Container.views``)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, IntegrityError
from eventsourcing.utils import Environment

from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter, case_item
from debtcases.projections.store import (
    CASES,
    VENDOR_ACCESS,
    VIEW_NAMES,
    PostgresViewRecorder,
    SQLiteViewRecorder,
    ViewStore,
)

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
    """The read models plus their runner (start/stop), read-your-writes and lag."""

    def __init__(
        self,
        app: Any,  # DunningCases: notification log + mapper
        recorder: ViewStore,
        *,
        stuck_after_hours: float = 48.0,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
        project_inline: bool = True,
    ) -> None:
        self.app = app
        self.recorder = recorder
        self.stuck_after_hours = stuck_after_hours
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.clock = clock
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        # The runner's view of the live generations and their positions (None: re-read).
        self._generations: dict[str, int] | None = None
        self._positions: dict[str, int] = {}
        self.errors = 0
        # This process is meant to project (serve with workers, tests): when the runner
        # thread is not started, read-your-writes catches the views up in the caller.
        self.project_inline = project_inline
        self._step_lock = threading.Lock()
        self._listening = False  # the runner wakes on PostgreSQL's NOTIFY

    # -------------------------------------------------------------- runner

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="views-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def close(self) -> None:
        self.stop()
        factory = getattr(self.recorder, "_factory", None)
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()
        del factory

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Tail the notification log until stopped (the ``debtcases project`` loop).

        On PostgreSQL the runner sleeps on the library's LISTEN/NOTIFY channel (what its
        ApplicationSubscription listens to), so events written by any process wake it at
        once; it then reads whole batches with select_notifications, which its per-event
        iterator would not give us. SQLite has no such channel: there it polls."""
        stop_event = stop or self._stop
        idle_wait = self.poll_interval
        channel = getattr(self.app.recorder, "channel_name", None)
        if channel is not None:
            listener = threading.Thread(
                target=self._listen,
                args=(channel, stop_event),
                name="views-listen",
                daemon=True,
            )
            listener.start()
            idle_wait = max(self.poll_interval, 1.0)  # a fallback; NOTIFY wakes us first
            self._listening = True
        while not stop_event.is_set() and not self._stop.is_set():
            # Cleared before the step, so a wake-up during the step is not lost.
            self._wake.clear()
            try:
                done = self.step()
            except Exception:
                self.errors += 1
                log.exception("views runner: batch failed; retrying")
                self._stop.wait(1.0)
                continue
            if done < self.batch_size:
                self._wake.wait(idle_wait)
        self._listening = False

    def _listen(self, channel: str, stop_event: threading.Event) -> None:
        from psycopg import sql

        datastore = self.app.recorder.datastore
        while not stop_event.is_set() and not self._stop.is_set():
            try:
                with datastore.get_connection() as conn:
                    conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(channel)))
                    while not stop_event.is_set() and not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except Exception:
                log.exception("views runner: LISTEN failed; polling until it is back")
                self._wake.set()
                stop_event.wait(1.0)

    def step(self) -> int:
        """Process the next batch of notifications into every view that needs it; returns
        how many notifications were read.

        The live generations and positions are kept in memory between steps (they change
        only by our own batches, another runner's or a rebuild's switch); each batch checks
        them under the pointer lock in its write transaction, so a stale cache costs one
        empty transaction and a re-select, never a twice-applied event."""
        for _attempt in range(3):
            if self._generations is None:
                self._generations, positions = self.recorder.live_state()
                self._publish(positions)
            gens, positions = self._generations, dict(self._positions)
            start = min(positions.values(), default=0) + 1
            notifications = self.app.recorder.select_notifications(start, self.batch_size)
            if not notifications:
                return 0
            mapper = self.app.mapper
            items = [(n.id, mapper.to_domain_event(n)) for n in notifications]
            try:
                applied, live, positions = self.recorder.process_live(items, gens, positions)
            except IntegrityError:
                # A tracking record moved under us (should not, with the pointer lock):
                # re-read everything next time.
                self._generations = None
                continue
            except BaseException:
                self._generations = None
                raise
            self._generations = live
            self._publish(positions)
            if applied:
                return len(notifications)
        return 0

    def _publish(self, positions: dict[str, int]) -> None:
        with self._progress:
            self._positions = positions
            self._progress.notify_all()

    # ------------------------------------------------------ read-your-writes

    def positions(self) -> dict[str, int]:
        return self.recorder.positions()

    def wait_for(self, position: int | None, timeout: float = 5.0) -> bool:
        """Block (bounded) until every view has processed ``position``. Works whether the
        runner is in this process or another one (then it polls the tracking table).
        Returns False on timeout (the caller answers anyway)."""
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        delay = 0.005
        first = True
        while True:
            if self.running:
                with self._progress:
                    if self._reached(position):
                        return True
                    # PostgreSQL: the commit's NOTIFY has woken the runner already; waking
                    # it again costs an empty step beside the caller. Elsewhere (or if it
                    # seems lost) wake it.
                    if not (self._listening and first):
                        self._wake.set()
                    first = False
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._progress.wait(min(remaining, 0.1))
            elif self.project_inline:
                with self._step_lock:
                    # Our own positions are a lower bound of the views' (another process
                    # may project too): if they do not reach it, a step catches up.
                    if self._generations is not None and self._reached(position):
                        return True
                    done = self.step()
                    if self._reached(position):
                        return True
                if done == 0:
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(0.01)
            else:
                if min(self.recorder.positions().values()) >= position:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.1)

    def _reached(self, position: int) -> bool:
        return bool(self._positions) and min(self._positions.values()) >= position

    def lag_report(self) -> dict[str, int]:
        """Events each view is behind the notification log."""
        head = self.app.recorder.max_notification_id() or 0
        return {v: max(0, head - p) for v, p in self.recorder.positions().items()}

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
        self, filter: CaseFilter, role: Role, vendor_id: int | None
    ) -> Iterator[dict[str, Any]]:
        """Every matching case, newest change first, streamed in keyset batches."""
        own = self._vendor_scope(role, vendor_id)
        for row in self.recorder.iter_case_rows(filter, own):
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


__all__ = ["CASES", "VENDOR_ACCESS", "VIEW_NAMES", "Views", "build_view_recorder"]
