"""The CSV export's read-ahead (projections.cases_export): the batches in order, a failed
read raised where they are consumed, and a thread that stops when the download does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from debtcases.projections.cases_export import _read_ahead


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "csv-export-read-ahead"]


def _gone() -> bool:
    deadline = time.monotonic() + 10
    while _threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _threads()


def test_read_ahead_hands_over_every_batch_in_order() -> None:
    batches = [[(i, j) for j in range(3)] for i in range(50)]
    assert list(_read_ahead(iter(batches))) == batches
    assert _gone()


def test_a_failed_read_is_raised_where_the_batches_are_consumed() -> None:
    def failing() -> Iterator[list[int]]:
        yield [1]
        raise RuntimeError("the database went away")

    reader = _read_ahead(failing())
    assert next(reader) == [1]
    with pytest.raises(RuntimeError, match="went away"):
        next(reader)
    assert _gone()


def test_closing_the_reader_stops_the_thread_however_much_is_left() -> None:
    read = 0

    def endless() -> Iterator[list[int]]:
        nonlocal read
        while True:
            read += 1
            yield [read]

    reader = _read_ahead(endless())
    assert next(reader) == [1]
    assert _threads()
    reader.close()
    assert _gone()
    assert read <= 4  # one handed over, one waiting, at most one more read meanwhile
