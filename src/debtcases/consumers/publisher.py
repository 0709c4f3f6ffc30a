"""Delivers the outbox to Kafka: unsent rows in outbox order, marked sent only after the
broker acknowledged them (acks='all'). During a broker outage the rows stay unsent (the
backlog) and are retried with back-off; they drain in order when the broker returns.

Order per order: rows are sent oldest first, one request in flight per connection
(idempotent producer), and a batch is only marked sent up to its first failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from debtcases.adapters.threads import LoopWorker
from debtcases.config import Settings
from debtcases.consumers import metrics
from debtcases.consumers.messages import PORTAL_ACCESS_TOPIC
from debtcases.consumers.outbox_store import OutboxStoreMixin
from debtcases.consumers.topics import ensure_topics, service_topics

log = logging.getLogger(__name__)


class KafkaPublisher(LoopWorker):
    name = "diagonal-publisher"

    def __init__(
        self,
        store: OutboxStoreMixin,
        settings: Settings,
        *,
        batch_size: int = 500,
        interval: float = 0.2,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(interval=interval, max_backoff=3.0)
        assert settings.kafka_bootstrap_servers, "KafkaPublisher needs kafka_bootstrap_servers"
        self.store = store
        self.settings = settings
        self.batch_size = batch_size
        self.clock = clock
        self.producer: KafkaProducer | None = None
        self.published = 0
        # Rows handed to the producer and not yet acknowledged, in outbox order.
        self._pending: list[tuple[Any, Any]] = []

    def topic_for(self, logical: str) -> str:
        if logical == PORTAL_ACCESS_TOPIC:
            return self.settings.kafka_topic_portal_access
        return self.settings.kafka_topic_handover

    def _producer(self) -> KafkaProducer:
        if self.producer is None:
            servers = self.settings.kafka_bootstrap_servers
            assert servers
            ensure_topics(servers, service_topics(self.settings))
            self.producer = KafkaProducer(
                bootstrap_servers=servers,
                client_id="debtcases-outbox",
                acks="all",
                enable_idempotence=True,
                retries=2**31 - 1,
                max_in_flight_requests_per_connection=1,
                linger_ms=5,
                request_timeout_ms=10000,
                # Never expire a message while the broker is away: an expired one would be
                # re-sent after later ones of the same order had gone through.
                delivery_timeout_ms=2**31 - 1,
                max_block_ms=10000,
                reconnect_backoff_ms=100,
                reconnect_backoff_max_ms=1000,
            )
        return self.producer

    def run_once(self) -> int:
        if not self._pending:
            rows = self.store.unsent(limit=self.batch_size)
            metrics.OUTBOX_BACKLOG.set(
                len(rows) if len(rows) < self.batch_size else self.store.backlog()
            )
            if not rows:
                return 0
            refused = self._send(rows)
            if not self._pending and refused is not None:
                raise RuntimeError(f"broker did not take the outbox: {refused}")
        return self._settle()

    def _send(self, rows: list[Any]) -> str | None:
        """Hand rows to the producer in order; stop at the first it refuses (and say why)."""
        producer = self._producer()
        for row in rows:
            try:
                future = producer.send(
                    self.topic_for(row.topic),
                    key=row.key.encode(),
                    value=row.body(),
                    headers=[
                        ("type", row.type.encode()),
                        ("message_id", row.message_id.encode()),
                    ],
                )
            except Exception as exc:  # e.g. no metadata while the broker is down
                return f"{type(exc).__name__}: {exc}"
            self._pending.append((row, future))
        return None

    def _settle(self) -> int:
        """Mark sent the acknowledged prefix of what is in flight. While the broker is away
        the rest stays in flight inside the producer (it retries in order and never expires
        a message), so nothing is sent twice behind itself and no later message of an
        order overtakes an earlier one."""
        assert self.producer is not None
        self._wait_for(self.producer, [f for _, f in self._pending])
        done: list[int] = []
        failure: Exception | None = None
        for row, future in self._pending:
            if not future.is_done:
                break
            try:
                future.get(timeout=0)
            except Exception as exc:  # not retriable (e.g. too large): start over
                failure = exc
                break
            done.append(row.position)
            metrics.MESSAGES_PUBLISHED.labels(type=row.type).inc()
        self.store.mark_sent(done, self.clock())
        self.published += len(done)
        self._pending = self._pending[len(done) :]
        if failure is not None:
            # Drop everything in flight (it may only be re-sent after the failed row) and
            # begin again from the first unsent row with a fresh producer.
            self._pending = []
            self.close(timeout=0)
            raise RuntimeError(
                f"broker refused an outbox message: {type(failure).__name__}: {failure}"
            )
        if self._pending:
            raise RuntimeError(
                f"broker has not acknowledged {len(self._pending)} outbox messages yet "
                f"({len(done)} sent); they stay in flight"
            )
        return len(done)

    flush_timeout = 10.0

    def _wait_for(self, producer: KafkaProducer, futures: list[Any]) -> None:
        """Wait (bounded, interruptible by stop) until the broker answered every send."""
        deadline = time.monotonic() + self.flush_timeout
        while not all(f.is_done for f in futures):
            if self.stopping or time.monotonic() > deadline:
                return
            try:
                producer.flush(timeout=1)
            except KafkaTimeoutError:
                continue

    def close(self, timeout: float = 2) -> None:
        if self.producer is not None:
            try:
                self.producer.close(timeout=timeout)
            except Exception:  # pragma: no cover - closing a broken producer
                log.debug("producer close failed", exc_info=True)
            self.producer = None
