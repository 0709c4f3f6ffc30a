"""The one background-thread lifecycle: start()/stop() of a daemon thread (Container.workers),
and a loop around it with back-off."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


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

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
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
