"""Concurrent saves of one process in one transaction (group commit), PostgreSQL.

Every insert into the events table takes the table's exclusive lock (that is what keeps the
notification ids gap-safe for the runner), so saves are serialised however many threads
or processes make them: under 32 clients issuing status commands, a command's time was
92 % its save, most of it queued for the lock or for a pooled connection. Here a save that
arrives while another is being written waits for it, then the first waiting thread writes
every save that queued meanwhile with one insert: one lock, one NOTIFY, one commit, the
notification ids handed back to each save in its order.

A save stays atomic on its own: when the combined insert fails on a stored version (an
``IntegrityError``: some command raced another on the same case), each save of the group
is written again by itself, so only the stale one fails, as it would have alone. Any other
failure (the database down or busy) is every member's. A large save (a batch, an import)
is written by itself, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

Insert = Callable[..., Sequence[int] | None]

# A save of more events than this (an intake batch, an import) is written by itself ...
ALONE_ABOVE = 100
# ... and one group writes at most this many events (the rest wait for the next one).
GROUP_EVENTS = 1000


class _Save:
    __slots__ = ("done", "error", "events", "ids")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.ids: Sequence[int] | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupedInserts:
    """``insert_events`` for concurrent callers: one writer at a time, writing every save
    that queued while the one before was written."""

    def __init__(self, insert: Insert, *, alone_above: int = ALONE_ABOVE) -> None:
        self._insert = insert
        self._alone_above = alone_above
        self._ready = threading.Condition()
        self._queue: list[_Save] = []
        self._writing = False
        self.groups = 0  # inserts written (for tests and profiles)
        self.grouped = 0  # saves written in a group of more than one

    def __call__(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        # The library passes tracking=None with every save; a real tracking record (a
        # processing application) or a large save is written by itself.
        alone = any(v is not None for v in kwargs.values())
        if alone or not stored_events or len(stored_events) > self._alone_above:
            return self._insert(stored_events, **kwargs)
        save = _Save(stored_events)
        with self._ready:
            self._queue.append(save)
        while True:
            with self._ready:
                while self._writing and not save.done:
                    self._ready.wait()
                if save.done:
                    break
                # Nobody writes: this thread writes what queued (its own save, unless the
                # queue ahead of it fills a whole group; then it goes round again).
                self._writing = True
                group = self._take_group()
            try:
                self._write(group)
            finally:
                with self._ready:
                    self._writing = False
                    self._ready.notify_all()
        if save.error is not None:
            raise _own_copy(save.error)
        return save.ids

    def _take_group(self) -> list[_Save]:
        taken, size = 0, 0
        for taken, queued in enumerate(self._queue, start=1):  # noqa: B007
            size += len(queued.events)
            if size >= GROUP_EVENTS:
                break
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    def _write(self, group: list[_Save]) -> None:
        try:
            if len(group) == 1:
                self._alone(group[0])
                return
            try:
                ids = self._insert([e for save in group for e in save.events])
            except IntegrityError:
                for save in group:  # which one was stale: each by itself
                    self._alone(save)
                return
            except BaseException as exc:
                for save in group:
                    save.error = exc
                return
            self.groups += 1
            self.grouped += len(group)
            start = 0
            for save in group:
                end = start + len(save.events)
                save.ids = list(ids[start:end]) if ids is not None else None
                start = end
        finally:
            for save in group:
                save.done = True

    def _alone(self, save: _Save) -> None:
        try:
            save.ids = self._insert(save.events)
            self.groups += 1
        except BaseException as exc:
            save.error = exc


def _own_copy(error: BaseException) -> BaseException:
    """One exception per member of a failed group (they raise it in their own threads),
    with the same cause, which is what tells "busy" from "down" (``database_busy``)."""
    try:
        copy = type(error)(*error.args)
    except Exception:
        return error
    copy.__cause__ = error.__cause__
    return copy


def group_event_writes(recorder: Any) -> GroupedInserts | None:
    """Make ``recorder`` (the application's, PostgreSQL) write concurrent small saves
    together; other recorders are left alone (SQLite and memory serialise in-process)."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return None
    grouped = GroupedInserts(recorder.insert_events)
    recorder.insert_events = grouped
    return grouped
