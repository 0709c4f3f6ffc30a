"""Helpers of the Kafka integration tests: unique topics per test, a test-side producer
playing Diagonal, reading a topic from the beginning, waiting with a bound."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from debtcases.config import Settings
from debtcases.consumers.topics import ensure_topics, service_topics


def kafka_overrides(bootstrap: str) -> dict[str, Any]:
    """Settings fields giving this test its own topics and consumer group."""
    suffix = uuid.uuid4().hex[:10]
    overrides: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic_handover": f"t-{suffix}.handover",
        "kafka_topic_acks": f"t-{suffix}.acks",
        "kafka_topic_acks_dlq": f"t-{suffix}.acks.dlq",
        "kafka_topic_portal_access": f"t-{suffix}.portal-access",
        "kafka_consumer_group": f"t-{suffix}.group",
    }
    ensure_topics(bootstrap, service_topics(Settings(**overrides)))
    return overrides


def env_for(database_url: str, overrides: dict[str, Any]) -> dict[str, str]:
    env = {"DEBTCASES_DATABASE_URL": database_url}
    env.update({f"DEBTCASES_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def ack(order_id: str, kind: str, message_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message_id or str(uuid.uuid4()),
        "type": kind,
        "order_id": order_id,
        "at": datetime.now(tz=UTC).isoformat(),
        **extra,
    }


class Diagonal:
    """The test's stand-in for Diagonal's side of the acks topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", max_in_flight_requests_per_connection=1
        )

    def send(self, message: dict[str, Any] | bytes, key: str | None = None) -> None:
        value = message if isinstance(message, bytes) else json.dumps(message).encode()
        if key is None and isinstance(message, dict):
            key = str(message.get("order_id", ""))
        self.producer.send(self.topic, key=key.encode() if key else None, value=value)

    def flush(self) -> None:
        self.producer.flush(timeout=30)

    def close(self) -> None:
        self.producer.close(timeout=5)


def read_topic(
    bootstrap: str, topic: str, *, until: Callable[[list[Any]], bool], timeout: float = 30.0
) -> list[Any]:
    """All records of ``topic`` from the beginning, reading until ``until(records)`` holds
    (or the timeout passes). Records in partition order, partitions in turn."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if until(records):
                break
        return records
    finally:
        consumer.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
