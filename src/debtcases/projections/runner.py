"""The follower of the DunningCases notification log: one lane (a thread) per processor.

Processors (the views, the Diagonal outbox) each keep their own position in a tracking
table. Each processor is followed by a lane of its own: the lane reads the log in batches
from its processor's position, decodes them (some µs an event) and hands the processor the
batch; the processor writes it together with its tracking record in one transaction, so a
crash or a second runner never applies an event twice. The lanes are independent: a slow
outbox (its round trips) never delays the views, so read-your-writes waits for the views
only (before, one step ran the views then the outbox, and a command committed during the
outbox's part waited for it and the next views step). On PostgreSQL the lanes wake on the
library's NOTIFY channel; elsewhere they poll.

Read-your-writes across processes (``serve --processes N``: the runner in one process, the
requests in others): on PostgreSQL a runner that shares its progress announces each
processor's new position on a channel of its own (``<events channel>_progress``) once the
batch is committed, and a process without a runner thread waits for those announcements on
one LISTENing connection instead of polling the tracking tables per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from prometheus_client import Counter

log = logging.getLogger(__name__)

# (notification id, domain event) pairs, in notification order.
Items = Sequence[tuple[int, Any]]

RUNNER_FAILURES = Counter(
    "debtcases_runner_failures_total",
    "Batches the log runner failed to process (retried after a pause)",
)


class ProgressWatch:
    """Remembers since when each view's position has not moved, so /readyz can report a
    view that lags and makes no progress, however small the lag (a stall)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._since: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def stalled_for(self, positions: dict[str, int], lags: dict[str, int]) -> dict[str, float]:
        """Seconds each lagging view has stayed at its position (0.0: it moved or does not
        lag), counted from the first observation at that position."""
        now = self.clock()
        out: dict[str, float] = {}
        with self._lock:
            for name, position in positions.items():
                seen = self._since.get(name)
                if lags.get(name, 0) <= 0 or seen is None or seen[0] != position:
                    self._since[name] = (position, now)
                    out[name] = 0.0
                else:
                    out[name] = now - seen[1]
        return out


class _Lane:
    """One processor's follower: its cached position (None: read it again), its wake-up,
    its lock (one batch at a time: the thread, an inline catch-up, retry_parked)."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.name = processor.name
        self.position: int | None = None
        self.wake = threading.Event()
        self.lock = threading.Lock()


class _Waiter:
    """One read-your-writes wait: woken (its own event) once ``reached`` holds, so an
    announcement wakes the requests it answers, not every request waiting in the process
    (with one condition for all, each batch's announcement woke all 32 waiting threads to
    find most of them still short)."""

    __slots__ = ("event", "reached")

    def __init__(self, reached: Callable[[], bool]) -> None:
        self.reached = reached
        self.event = threading.Event()


class Processor(Protocol):
    """One consumer of the log with its own tracking."""

    name: str

    def position(self) -> int:
        """The last notification id this processor has stored (0: none), from the database."""
        ...

    def process(self, items: Items) -> int:
        """Store the effects of ``items`` (all after its position) with the tracking of the
        last one, in one transaction; return the position after it. When another runner
        was faster (a tracking conflict), store nothing and return the stored position."""
        ...


class Runner:
    """Feeds every processor from the notification log, each on its own lane: ``step``
    (one batch per lane), the threads (``start``/``stop``: one per processor),
    ``run_forever`` (the CLI), read-your-writes (``wait_for``)."""

    def __init__(
        self,
        app: Any,  # DunningCases: its recorder (the log) and mapper (decoding)
        processors: Iterable[Processor],
        *,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        inline: bool = True,
        share_progress: bool = False,
    ) -> None:
        self.app = app
        self.processors = list(processors)
        self._lanes = [_Lane(p) for p in self.processors]
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # This process is meant to project: without the thread, wait_for catches up itself.
        self.inline = inline
        # PostgreSQL: announce positions (NOTIFY) and wait for others' announcements (LISTEN).
        channel = getattr(app.recorder, "channel_name", None) if share_progress else None
        self.progress_channel: str | None = f"{channel}_progress" if channel else None
        self._heard: dict[str, int] = {}  # positions announced by any runner (monotonic)
        self._hearing = False  # the progress listener is LISTENing (and has read the start)
        self._hearer: threading.Thread | None = None
        self.errors = 0
        self._errors_lock = threading.Lock()
        self.watch = ProgressWatch()
        self._thread: threading.Thread | None = None
        self._followers: list[threading.Thread] = []  # the lanes' threads but the last
        self._listener: threading.Thread | None = None  # LISTEN for new events
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._waiters: set[_Waiter] = set()  # guarded by self._progress
        self._listening = False
        # Processors that announce their progress themselves, in their batch's transaction
        # (the views on PostgreSQL): no announcement round trip after their commit.
        self._self_announcing: set[str] = set()
        if self.progress_channel is not None:
            for p in self.processors:
                hook = getattr(p, "announce_progress_on", None)
                if hook is not None and hook(self.progress_channel):
                    self._self_announcing.add(p.name)

    # ------------------------------------------------------- parked events

    def parked(self, include_resolved: bool = False) -> list[Any]:
        """Every processor's parked events (unresolved unless ``include_resolved``)."""
        out: list[Any] = []
        for p in self.processors:
            listing = getattr(p, "parked", None)
            if listing is not None:
                out.extend(listing(include_resolved))
        return out

    def parked_counts(self) -> dict[str, int]:
        """Unresolved parked events per processor."""
        return {p.name: p.parked_count() for p in self.processors if hasattr(p, "parked_count")}

    def retry_parked(self) -> dict[str, tuple[int, int]]:
        """Re-apply the parked events of every processor (after a fix was deployed);
        per processor (resolved, still failing)."""
        out: dict[str, tuple[int, int]] = {}
        for lane in self._lanes:
            retry = getattr(lane.processor, "retry_parked", None)
            if retry is not None:
                with lane.lock:
                    out[lane.name] = retry()
                    lane.position = None
        return out

    def processor(self, name: str) -> Processor:
        for p in self.processors:
            if p.name == name:
                return p
        raise KeyError(name)

    # ------------------------------------------------------------- stepping

    def step(self) -> int:
        """Process the next batch of every lane (one after the other); returns the most
        notifications a lane read (0: all caught up)."""
        return max((self._step_lane(lane) for lane in self._lanes), default=0)

    def _step_lane(self, lane: _Lane) -> int:
        """The next batch of one processor; how many notifications were read."""
        with lane.lock:
            position = lane.position
            if position is None:
                position = lane.processor.position()
                self._publish(lane, position)
            notifications = self.app.recorder.select_notifications(position + 1, self.batch_size)
            if not notifications:
                return 0
            to_event = self.app.mapper.to_domain_event
            items = [(n.id, to_event(n)) for n in notifications]
            try:
                after = lane.processor.process(items)
                if lane.name not in self._self_announcing:
                    self._announce(lane.name, after)
            except BaseException:
                lane.position = None  # whatever happened, read the position again
                raise
            self._publish(lane, after)
            return len(notifications)

    def catch_up(self) -> int:
        """Step until every processor has everything stored so far (tests, CLI)."""
        total = 0
        while done := self.step():
            total += done
        return total

    def _publish(self, lane: _Lane, position: int) -> None:
        with self._progress:
            lane.position = position
            self._wake_waiters()

    def _add_waiter(self, reached: Callable[[], bool]) -> _Waiter:
        """Register a wait (call with ``self._progress`` held)."""
        waiter = _Waiter(reached)
        self._waiters.add(waiter)
        return waiter

    def _sleep(self, waiter: _Waiter, seconds: float) -> None:
        """Sleep until ``waiter`` is woken or ``seconds`` pass; then forget it."""
        waiter.event.wait(seconds)
        with self._progress:
            self._waiters.discard(waiter)

    def _wake_waiters(self, everyone: bool = False) -> None:
        """Wake the waits that progress has answered (``everyone``: all of them, to look
        again; call with ``self._progress`` held)."""
        for waiter in [w for w in self._waiters if everyone or w.reached()]:
            self._waiters.discard(waiter)
            waiter.event.set()

    def positions(self) -> dict[str, int]:
        """Each processor's stored position (from the database)."""
        return {p.name: p.position() for p in self.processors}

    def lag(self) -> dict[str, int]:
        """Events each processor is behind the log."""
        head = self.app.recorder.max_notification_id() or 0
        return {name: max(0, head - pos) for name, pos in self.positions().items()}

    # --------------------------------------------------------------- thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="log-runner", daemon=True)
        self._thread.start()

    name = "log-runner"

    def request_stop(self) -> None:
        """Ask every thread of the runner (the lanes, the LISTENers) to end after the batch
        in hand; return at once (``join`` waits)."""
        self._stop.set()
        self._wake_lanes()

    def join(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds, in all, for the runner's threads to end; True
        when none is left."""
        deadline = time.monotonic() + timeout
        threads = [self._thread, *self._followers, self._listener, self._hearer]
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        if any(t is not None and t.is_alive() for t in threads):
            return False
        self._thread = self._listener = self._hearer = None
        self._followers = []
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        self.join(timeout)

    def close(self) -> None:
        """Nothing of its own to release (its connections belong to the stores)."""

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Follow the log until stopped, one thread per processor (the last one in this
        thread). PostgreSQL: sleep on the library's LISTEN/NOTIFY channel (events written
        by any process wake every lane at once) and read whole batches with
        select_notifications. SQLite has no such channel: there it polls."""
        stop_event = stop or self._stop
        idle_wait = self.poll_interval
        channel = getattr(self.app.recorder, "channel_name", None)
        if channel is not None:
            self._listener = threading.Thread(
                target=self._listen, args=(channel, stop_event), name="log-listen", daemon=True
            )
            self._listener.start()
            idle_wait = max(self.poll_interval, 1.0)  # a fallback; NOTIFY wakes us first
            self._listening = True
        try:  # a (re)started version re-applies what an older one had to park
            retried = self.retry_parked()
            if any(r != (0, 0) for r in retried.values()):
                log.warning("log runner: parked events retried (resolved, failing): %s", retried)
        except Exception:
            self._failed()
            log.exception("log runner: retrying parked events failed")
        others = [
            threading.Thread(
                target=self._follow,
                args=(lane, stop_event, idle_wait),
                name=f"log-runner-{lane.name}",
                daemon=True,
            )
            for lane in self._lanes[:-1]
        ]
        self._followers = others
        for thread in others:
            thread.start()
        if self._lanes:
            self._follow(self._lanes[-1], stop_event, idle_wait)
        deadline = time.monotonic() + 10  # one bound for all (``join`` has the last word)
        for thread in others:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._listening = False

    def _follow(self, lane: _Lane, stop_event: threading.Event, idle_wait: float) -> None:
        """One lane's loop: a batch of its processor, or sleep until woken."""
        while not stop_event.is_set() and not self._stop.is_set():
            lane.wake.clear()  # before the step, so a wake-up during it is not lost
            try:
                done = self._step_lane(lane)
            except Exception:
                self._failed()
                log.exception("log runner: batch of %s failed; retrying", lane.name)
                self._stop.wait(1.0)
                continue
            if done < self.batch_size:
                lane.wake.wait(idle_wait)

    def _wake_lanes(self, names: set[str] | None = None) -> None:
        for lane in self._lanes:
            if names is None or lane.name in names:
                lane.wake.set()

    def _failed(self) -> None:
        with self._errors_lock:
            self.errors += 1
        RUNNER_FAILURES.inc()

    def _listen(self, channel: str, stop_event: threading.Event) -> None:
        from psycopg import sql

        datastore = self.app.recorder.datastore
        while not stop_event.is_set() and not self._stop.is_set():
            try:
                with datastore.get_connection() as conn:
                    conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(channel)))
                    while not stop_event.is_set() and not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake_lanes()
            except Exception:
                log.exception("log runner: LISTEN failed; polling until it is back")
                self._wake_lanes()
                stop_event.wait(1.0)

    # ------------------------------------------------------ read-your-writes

    def wait_for(
        self, position: int | None, timeout: float = 5.0, only: Sequence[str] = ()
    ) -> bool:
        """Block (bounded) until the processors named in ``only`` (default: all) have
        processed ``position``. Works whether the runner thread is in this process or in
        another one: then it waits for that runner's announcements (PostgreSQL, with
        ``share_progress``) or polls the tracking tables. False on timeout."""
        if position is None:
            return True
        names = set(only) or {p.name for p in self.processors}
        deadline = time.monotonic() + timeout
        delay = 0.002
        first = True
        next_read = time.monotonic() + 1.0
        while True:
            if self.running:
                with self._progress:
                    if self._reached(position, names):
                        return True
                    # PostgreSQL: the commit's NOTIFY has woken the runner already; waking
                    # it again costs an empty step. Elsewhere (or if it seems lost) wake it.
                    if not (self._listening and first):
                        self._wake_lanes(names)
                    first = False
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    waiter = self._add_waiter(lambda: self._reached(position, names))
                self._sleep(waiter, min(remaining, 0.1))
            elif self.inline:
                # Our cached positions are a lower bound (another process may project
                # too): if they do not reach it, a step (of every lane) catches up.
                if self._reached(position, names):
                    return True
                done = self.step()
                if self._reached(position, names):
                    return True
                if done == 0:
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(0.01)
            elif self._hearing:
                # Another process runs the runner and announces its progress: sleep until
                # an announcement gets there (read the tracking tables now and then too,
                # in case a runner that does not announce wrote them).
                with self._progress:
                    if self._heard_reach(position, names):
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    waiter = self._add_waiter(lambda: self._heard_reach(position, names))
                self._sleep(waiter, min(remaining, 1.0))
                if not self._heard_reach(position, names) and time.monotonic() >= next_read:
                    self._hear_positions(self.positions())
                    next_read = time.monotonic() + 1.0
            else:
                if first and self.progress_channel is not None:
                    self._start_hearing()
                first = False
                self._hear_positions(self.positions())
                if self._heard_reach(position, names):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.05)
        # Out of time while listening: the tracking tables have the last word.
        self._hear_positions(self.positions())
        return self._heard_reach(position, names)

    # ------------------------------------------- progress across processes

    def _announce(self, name: str, position: int) -> None:
        """Tell every listening process that ``name`` has stored up to ``position``
        (called after the processor's transaction committed)."""
        if self.progress_channel is None:
            return
        try:
            with self.app.recorder.datastore.get_connection() as conn:
                conn.execute(
                    "SELECT pg_notify(%s, %s)", (self.progress_channel, f"{name} {position}")
                )
        except Exception:  # the waiters read the tracking tables instead, a moment later
            log.warning("log runner: announcing progress failed", exc_info=True)

    def _start_hearing(self) -> None:
        with self._progress:
            if self._hearer is not None and self._hearer.is_alive():
                return
            self._hearer = threading.Thread(
                target=self._hear, name="log-progress-listen", daemon=True
            )
            self._hearer.start()

    def _hear(self) -> None:
        """LISTEN for the runners' announcements (the thread of a process that waits for
        read-your-writes without a runner of its own)."""
        from psycopg import sql

        assert self.progress_channel is not None
        datastore = self.app.recorder.datastore
        while not self._stop.is_set():
            try:
                with datastore.get_connection() as conn:
                    conn.execute(
                        sql.SQL("LISTEN {0}").format(sql.Identifier(self.progress_channel))
                    )
                    # Read after LISTEN: whatever was committed before is in the tables.
                    self._hear_positions(self.positions())
                    self._hearing = True
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            name, _, position = note.payload.rpartition(" ")
                            if position.isdigit():
                                self._hear_positions({name: int(position)})
            except Exception:
                if not self._stop.is_set():
                    log.exception("log runner: LISTEN for progress failed; polling meanwhile")
            finally:
                self._hearing = False
                with self._progress:
                    self._wake_waiters(everyone=True)  # the waiters poll meanwhile
            self._stop.wait(1.0)

    def _hear_positions(self, positions: dict[str, int]) -> None:
        """Merge positions read or announced (they only grow); wake the waiters."""
        with self._progress:
            for name, position in positions.items():
                if position > self._heard.get(name, 0):
                    self._heard[name] = position
            self._wake_waiters()

    def _heard_reach(self, position: int, names: set[str]) -> bool:
        return all(self._heard.get(n, 0) >= position for n in names)

    def _reached(self, position: int, names: set[str]) -> bool:
        lanes = [lane for lane in self._lanes if lane.name in names]
        return len(lanes) == len(names) and all(
            lane.position is not None and lane.position >= position for lane in lanes
        )
