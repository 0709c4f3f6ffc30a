"""Concurrent saves written together (adapters/group_commit.py): each save keeps its own
notification ids and its own failure."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from debtcases.adapters.group_commit import GroupedInserts


def _events(n: int, case: uuid.UUID | None = None, version: int = 1) -> list[StoredEvent]:
    case = case or uuid.uuid4()
    return [StoredEvent(case, version + i, "topic", b"{}") for i in range(n)]


class FakeTable:
    """An events table: a unique (case, version) key and gap-free notification ids. The
    first insert blocks until released, so the saves made meanwhile queue."""

    def __init__(self) -> None:
        self.rows: dict[tuple[uuid.UUID | str, int], int] = {}
        self.inserts: list[int] = []  # events per insert call
        self.first = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None

    def insert(self, events: Sequence[StoredEvent], **_: object) -> list[int]:
        if not self.first.is_set():
            self.first.set()
            self.release.wait(5)
        if self.fail is not None:
            raise self.fail
        keys = [(e.originator_id, e.originator_version) for e in events]
        if len(set(keys)) != len(keys) or any(k in self.rows for k in keys):
            raise IntegrityError("duplicate (originator_id, originator_version)")
        self.inserts.append(len(events))
        ids = []
        for key in keys:
            self.rows[key] = len(self.rows) + 1
            ids.append(self.rows[key])
        return ids


def _save_concurrently(
    grouped: GroupedInserts, table: FakeTable, saves: list[list[StoredEvent]]
) -> list[object]:
    """The first save is written while the others queue behind it."""
    results: list[object] = [None] * len(saves)

    def run(i: int) -> None:
        try:
            results[i] = grouped(saves[i], tracking=None)
        except Exception as exc:
            results[i] = exc

    first = threading.Thread(target=run, args=(0,))
    first.start()
    assert table.first.wait(5)
    others = [threading.Thread(target=run, args=(i,)) for i in range(1, len(saves))]
    for t in others:
        t.start()
    while len(grouped._queue) < len(saves) - 1:  # every other save queued
        threading.Event().wait(0.001)
    table.release.set()
    for t in [first, *others]:
        t.join(5)
    return results


def test_saves_queued_behind_a_write_go_out_together_each_with_its_own_ids() -> None:
    table = FakeTable()
    grouped = GroupedInserts(table.insert)
    saves = [_events(1), _events(2), _events(1), _events(3)]
    results = _save_concurrently(grouped, table, saves)
    assert table.inserts == [1, 6]  # the first alone, the three queued behind it together
    for save, ids in zip(saves, results, strict=True):
        assert ids == [table.rows[(e.originator_id, e.originator_version)] for e in save]
    assert grouped.grouped == 3


def test_a_stale_save_in_a_group_fails_alone() -> None:
    table = FakeTable()
    grouped = GroupedInserts(table.insert)
    case = uuid.uuid4()
    saves = [_events(1), _events(1, case), _events(1), _events(1, case)]  # same version twice
    results = _save_concurrently(grouped, table, saves)
    assert isinstance(results[3], IntegrityError)
    assert all(isinstance(r, list) for r in results[:3])
    assert (case, 1) in table.rows and len(table.rows) == 3


def test_a_failure_of_the_database_is_every_members_own() -> None:
    table = FakeTable()
    grouped = GroupedInserts(table.insert)
    table.fail = OperationalError("server closed the connection")
    results = _save_concurrently(grouped, table, [_events(1) for _ in range(3)])
    assert all(isinstance(r, OperationalError) for r in results)
    assert len({id(r) for r in results}) == 3  # each thread raises its own


def test_a_large_save_or_one_with_tracking_is_written_by_itself() -> None:
    table = FakeTable()
    table.first.set()
    grouped = GroupedInserts(table.insert, alone_above=5)
    big = _events(6)
    assert grouped(big) == [1, 2, 3, 4, 5, 6]
    assert grouped(_events(1), tracking=object()) == [7]
    assert table.inserts == [6, 1] and grouped.groups == 0


def test_many_threads_lose_no_save_and_share_no_id() -> None:
    threads = 8
    table = FakeTable()
    table.first.set()
    grouped = GroupedInserts(table.insert)
    out: list[Sequence[int] | None] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            ids = grouped(_events(2))
            with lock:
                out.append(ids)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    ids = [i for got in out for i in (got or [])]
    assert len(out) == threads * 50 and sorted(ids) == list(range(1, threads * 100 + 1))
