"""Delivers the outbox to Kafka: unsent rows in outbox order, marked sent only after the
broker acknowledged them (acks='all'). During a broker outage the rows stay unsent (the
backlog) and are retried with back-off; they drain in order when the broker returns.

Order per order: rows are sent oldest first, one request in flight per connection
(idempotent producer), and a batch is only marked sent up to its first failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from debtcases.config import Settings
from debtcases.consumers import metrics
from debtcases.consumers.messages import PORTAL_ACCESS_TOPIC
from debtcases.consumers.outbox import OutboxStoreMixin
from debtcases.consumers.topics import ensure_topics, service_topics
from debtcases.consumers.worker import LoopWorker

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(tz=UTC)


class KafkaPublisher(LoopWorker):
    name = "diagonal-publisher"

    def __init__(
        self,
        store: OutboxStoreMixin,
        settings: Settings,
        *,
        batch_size: int = 500,
        interval: float = 0.2,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(interval=interval, max_backoff=3.0)
        assert settings.kafka_bootstrap_servers, "KafkaPublisher needs kafka_bootstrap_servers"
        self.store = store
        self.settings = settings
        self.batch_size = batch_size
        self.clock = clock
        self.producer: KafkaProducer | None = None
        self.published = 0

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
                delivery_timeout_ms=120000,
                max_block_ms=10000,
                reconnect_backoff_ms=100,
                reconnect_backoff_max_ms=1000,
            )
        return self.producer

    def run_once(self) -> int:
        rows = self.store.unsent(limit=self.batch_size)
        metrics.OUTBOX_BACKLOG.set(
            len(rows) if len(rows) < self.batch_size else self.store.backlog()
        )
        if not rows:
            return 0
        producer = self._producer()
        futures: list[Any] = []
        error: Exception | None = None
        for row in rows:
            try:
                futures.append(
                    producer.send(
                        self.topic_for(row.topic),
                        key=row.key.encode(),
                        value=row.body(),
                        headers=[
                            ("type", row.type.encode()),
                            ("message_id", row.message_id.encode()),
                        ],
                    )
                )
            except Exception as exc:  # e.g. no metadata while the broker is down
                error = exc
                break
        self._wait_for(producer, futures)
        done: list[int] = []
        for row, future in zip(rows, futures, strict=False):
            if not future.is_done:
                error = error or TimeoutError("no broker acknowledgement yet")
                break
            try:
                future.get(timeout=0)
            except Exception as exc:
                error = error or exc
                break
            done.append(row.position)
            metrics.MESSAGES_PUBLISHED.labels(type=row.type).inc()
        self.store.mark_sent(done, self.clock())
        self.published += len(done)
        if error is not None:
            raise RuntimeError(
                f"broker did not take the outbox ({len(done)} of {len(rows)} "
                f"sent): {type(error).__name__}: {error}"
            )
        return len(done)

    flush_timeout = 130.0

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

    def close(self) -> None:
        if self.producer is not None:
            try:
                self.producer.close(timeout=2)
            except Exception:  # pragma: no cover - closing a broken producer
                log.debug("producer close failed", exc_info=True)
            self.producer = None
