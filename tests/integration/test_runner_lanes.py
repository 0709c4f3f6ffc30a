"""The views and the outbox follow the log on lanes of their own: a slow or blocked outbox
never delays the views, so a command's read-your-writes (which waits for the views only)
does not wait for the outbox; the outbox catches up once it can."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor

DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")


def test_a_blocked_outbox_does_not_delay_the_views_read_your_writes(
    database_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(database_url)
    outbox = container.diagonal.processor
    gate = threading.Event()
    blocked = threading.Event()
    real = outbox.process

    def held(items: Any) -> int:
        blocked.set()
        gate.wait(60)  # bounded: an old single-lane runner fails the test, never hangs it
        return real(items)

    monkeypatch.setattr(outbox, "process", held)
    container.runner.start()
    try:
        (outcome,) = container.cases.admit_many(
            [Admission("L-1", 79424, Decimal("5.00"), "EUR", DEBTOR)], Actor.system("intake")
        )
        position = outcome.position
        assert position is not None
        assert blocked.wait(20), "the outbox was never handed the batch"
        # The outbox holds its batch; the views are not held with it.
        assert container.wait_for_views(position, timeout=20)
        assert container.runner.positions()[outbox.name] < position
    finally:
        gate.set()
    assert container.runner.wait_for(position, timeout=20, only=(outbox.name,))
    assert container.runner.parked() == []


def test_an_outbox_failing_every_batch_never_stalls_the_views(
    database_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient fault the outbox retries for ever (not a poison event: those are
    parked) used to pin the one runner's batch window at the outbox's position: the views
    got to the end of that window and no further. On their own lane they go on."""
    container = make_container(database_url)
    outbox = container.diagonal.processor
    runner = container.runner
    runner.batch_size = 3

    def failing(items: Any) -> int:
        raise OSError("outbox store unreachable")

    monkeypatch.setattr(outbox, "process", failing)
    intake = Actor.system("intake")
    positions = []
    for n in range(10):
        (outcome,) = container.cases.admit_many(
            [Admission(f"F-{n}", 79424, Decimal("5.00"), "EUR", DEBTOR)], intake
        )
        assert outcome.position is not None
        positions.append(outcome.position)
    runner.start()
    try:
        assert container.wait_for_views(positions[-1], timeout=30)
        assert runner.positions()[outbox.name] == 0
        assert runner.errors > 0
    finally:
        runner.stop()
