"""The consumer's pause of the cyclic GC around a batch: restored as it was, counted across
nested (and concurrent) batches."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from debtcases.consumers.consumer import gc_paused


@pytest.fixture(autouse=True)
def _gc_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_off_during_the_batch_and_on_again_after() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer batch still runs
    assert gc.isenabled()


def test_stays_off_when_it_was_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_on_again_after_a_failing_batch() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("the batch failed")
    assert gc.isenabled()
