"""Builds the Diagonal edge from settings: the outbox always; with Kafka configured the
publisher and the acks consumer; without Kafka, optionally the built-in simulator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from debtcases.commands.app import DunningCases
from debtcases.config import Settings
from debtcases.consumers.outbox import OutboxProcessor
from debtcases.consumers.outbox_store import OutboxStoreMixin, outbox_store_for


@dataclass
class DiagonalEdge:
    outbox: OutboxStoreMixin
    processor: OutboxProcessor
    workers: list[Any] = field(default_factory=list)  # start()/stop(): publisher, consumer


def build_diagonal(
    settings: Settings,
    app: DunningCases,
    db_kind: str,
    *,
    clock: Callable[[], datetime] | None = None,
) -> DiagonalEdge:
    """``clock`` (default: the application's, which bootstrap gives it) stamps what the
    publisher and the simulator record."""
    clock = clock or app.clock
    store = outbox_store_for(app, db_kind)
    processor = OutboxProcessor(app, store)  # runs on the log runner (bootstrap wires it)
    edge = DiagonalEdge(store, processor, [])
    if settings.kafka_bootstrap_servers:
        from debtcases.consumers.consumer import AckConsumer
        from debtcases.consumers.publisher import KafkaPublisher

        edge.workers += [KafkaPublisher(store, settings, clock=clock), AckConsumer(app, settings)]
    elif settings.diagonal_simulator:
        from debtcases.consumers.simulator import DiagonalSimulator

        edge.workers.append(
            DiagonalSimulator(
                app,
                store,
                delay_seconds=settings.diagonal_simulator_delay_seconds,
                clock=clock,
            )
        )
    return edge
