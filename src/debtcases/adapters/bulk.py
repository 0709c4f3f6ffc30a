"""Large saves on PostgreSQL: all of a save's events in ONE transaction, inserted in
bounded statements.

The library inserts a save's events as one ``INSERT ... SELECT FROM unnest(%s)`` in psycopg
pipeline mode. With ~13,000 events or more that never returns: the client sits in the
pipeline sync while the backend holds the events table's exclusive lock, and every other
writer queues behind it. For a large save this inserts the events in chunks of
``CHUNK_EVENTS`` within one ordinary transaction (same lock, same NOTIFY, same
notification ids; all or nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder

CHUNK_EVENTS = 1000


def chunk_large_inserts(recorder: Any, chunk: int = CHUNK_EVENTS) -> None:
    """Make ``recorder`` (the application's) insert a large save in chunks (PostgreSQL
    only; other recorders are left alone)."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return
    pipelined = recorder.insert_events
    if recorder.datastore.enable_db_functions:
        return

    def insert_events(stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if len(stored_events) <= chunk:
            small: Sequence[int] | None = pipelined(stored_events, **kwargs)
            return small
        ids: list[int] = []
        with recorder.datastore.transaction(commit=True) as curs:
            recorder._lock_table(curs)
            recorder._notify_channel(curs)
            for i in range(0, len(stored_events), chunk):
                part = stored_events[i : i + chunk]
                PostgresAggregateRecorder._insert_stored_events(recorder, curs, part)
                ids.extend(recorder._fetch_ids_after_insert_events(curs, part) or [])
        return ids

    recorder.insert_events = insert_events
