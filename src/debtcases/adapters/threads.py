"""The one background-thread lifecycle: start()/stop() of a daemon thread (Container.workers),
a loop around it with back-off, and stopping several of them together (``stop_together``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """What ``stop_together`` needs of a worker (BackgroundThread, the log runner)."""

    name: str

    def request_stop(self) -> None:
        """Ask the thread(s) to end after the work in hand; return at once."""
        ...

    def join(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the thread(s) to end; True when ended."""
        ...


def stop_together(
    workers: Sequence[Stoppable],
    *,
    grace: float,
    hopeless: Callable[[], bool] | None = None,
    interrupt: Callable[[], None] | None = None,
    after: float = 5.0,
    look_after: float = 0.5,
    look_every: float = 1.0,
) -> list[Stoppable]:
    """Stop ``workers`` together: ask every one to stop first, then wait for all of them
    against one deadline of ``grace`` seconds (not one bounded join after the other, which
    added the bounds up). The work in hand finishes within the grace.

    Those still running ``look_after`` seconds into it are asked about (``hopeless``, then
    every ``look_every`` seconds): when waiting cannot help (the database does not answer,
    so they wait for a connection that will not come), or when the grace is over,
    ``interrupt()`` (the pools closed: a wait for a connection fails at once) and wait
    ``after`` seconds more. Returns the workers still running then (daemon threads: they
    end with the process)."""
    for worker in workers:
        worker.request_stop()
    started = time.monotonic()
    deadline = started + grace
    next_look = started + look_after
    left = list(workers)
    while left:
        now = time.monotonic()
        if now >= deadline:
            break
        wait = deadline - now
        if hopeless is not None:
            if now >= next_look:
                if hopeless():
                    log.warning(
                        "shutdown: %s still running, and waiting cannot help: interrupting",
                        ", ".join(w.name for w in left),
                    )
                    break
                next_look = time.monotonic() + look_every
                continue
            wait = min(wait, next_look - now)
        left[0].join(min(0.1, wait))
        left = [w for w in left if not w.join(0)]
    if left and interrupt is not None:
        interrupt()
        until = time.monotonic() + after
        for worker in left:
            worker.join(max(0.0, until - time.monotonic()))
        left = [w for w in left if not w.join(0)]
    return left


class BackgroundThread:
    """start()/stop() of one daemon thread running ``_thread_main`` (Container.workers)."""

    name = "worker"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _thread_main(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        return True

    def stop(self, timeout: float = 15.0) -> None:
        self.request_stop()
        self.join(timeout)
        self.close()

    def close(self) -> None:
        """Release clients (override)."""

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


class LoopWorker(BackgroundThread):
    """Calls ``run_once`` until stopped: again at once when it did work, after ``interval``
    when idle, and with exponential back-off (up to ``max_backoff``) after an error."""

    def __init__(self, interval: float = 0.2, max_backoff: float = 5.0) -> None:
        super().__init__()
        self.interval = interval
        self.max_backoff = max_backoff
        self.last_error: str | None = None

    def run_once(self) -> int:
        raise NotImplementedError

    def _thread_main(self) -> None:
        self.run_forever()

    def run_forever(self) -> None:
        backoff = self.interval
        while not self._stopping.is_set():
            try:
                done = self.run_once()
            except Exception as exc:  # keep the loop alive; the work is retried
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: %s (retrying in %.1fs)", self.name, self.last_error, backoff)
                self._stopping.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            self.last_error = None
            backoff = self.interval
            if not done:
                self._stopping.wait(self.interval)
