"""Stopping the background workers together (adapters.threads.stop_together): every worker
is asked before any is waited for, the work in hand finishes while waiting can help, and a
worker that waits for a database that is gone is interrupted instead of waited out."""

from __future__ import annotations

import threading

import pytest

from debtcases.adapters.threads import BackgroundThread, stop_together


class Batch(BackgroundThread):
    """Works on one batch at a time; a stop is seen between batches. ``release`` ends the
    batch in hand (the database answering); ``interrupted`` ends it with an error (the
    pools closed under it)."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.release = threading.Event()
        self.interrupted = threading.Event()
        self.in_batch = threading.Event()
        self.committed = 0

    def _thread_main(self) -> None:
        while not self.stopping:
            self.in_batch.set()
            while not (self.release.is_set() or self.interrupted.is_set()):
                self.release.wait(0.01)
            if self.interrupted.is_set():
                self.log.append(f"{self.name} failed its batch")
                return
            self.committed += 1

    def request_stop(self) -> None:
        self.log.append(f"stop {self.name}")
        super().request_stop()

    def join(self, timeout: float) -> bool:
        self.log.append(f"join {self.name}")
        return super().join(timeout)


def started(*names: str) -> tuple[list[Batch], list[str]]:
    log: list[str] = []
    workers = [Batch(name, log) for name in names]
    for worker in workers:
        worker.start()
        assert worker.in_batch.wait(10)
    return workers, log


@pytest.mark.timeout(60)
def test_every_worker_is_asked_to_stop_before_any_is_waited_for() -> None:
    workers, log = started("runner", "consumer", "publisher")
    for worker in workers:
        worker.release.set()
    assert stop_together(workers, grace=30) == []
    asked = [i for i, line in enumerate(log) if line.startswith("stop ")]
    waited = [i for i, line in enumerate(log) if line.startswith("join ")]
    assert len(asked) == 3 and max(asked) < min(waited)


@pytest.mark.timeout(60)
def test_the_batch_in_hand_finishes_while_the_database_answers() -> None:
    workers, log = started("runner", "consumer")
    interrupts: list[str] = []
    asked: list[bool] = []

    def database_gone() -> bool:
        asked.append(True)
        for worker in workers:  # the batches finish now that they were looked at
            worker.release.set()
        return False

    left = stop_together(
        workers,
        grace=30,
        hopeless=database_gone,
        interrupt=lambda: interrupts.append("pools closed"),
        look_after=0.05,
    )
    assert left == []
    assert asked and interrupts == []
    assert all(w.committed == 1 for w in workers)
    assert not any("failed" in line for line in log)


@pytest.mark.timeout(60)
def test_workers_waiting_for_a_database_that_is_gone_are_interrupted_not_waited_out() -> None:
    workers, log = started("runner", "simulator", "consumer")

    def close_the_pools() -> None:
        for worker in workers:
            worker.interrupted.set()

    # A grace far above the test's timeout: only the interruption can end this in time.
    left = stop_together(
        workers,
        grace=3600,
        hopeless=lambda: True,
        interrupt=close_the_pools,
        look_after=0.05,
    )
    assert left == []
    assert sorted(line for line in log if "failed" in line) == [
        "consumer failed its batch",
        "runner failed its batch",
        "simulator failed its batch",
    ]


@pytest.mark.timeout(60)
def test_a_worker_that_does_not_end_even_when_interrupted_is_left_to_the_process() -> None:
    (stuck, ending), _ = started("stuck", "ending")
    ending.release.set()
    left = stop_together(
        [stuck, ending], grace=0.2, interrupt=lambda: None, after=0.2, look_after=0.05
    )
    assert left == [stuck]
    stuck.release.set()
    assert stuck.join(10)
