"""Kafka topic set-up: the service's topics with 3 partitions, created when missing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from debtcases.config import Settings

PARTITIONS = 3


def service_topics(settings: Settings) -> list[str]:
    return [
        settings.kafka_topic_handover,
        settings.kafka_topic_acks,
        settings.kafka_topic_acks_dlq,
        settings.kafka_topic_portal_access,
    ]


def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int = PARTITIONS,
    timeout_ms: int = 15000,
) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="debtcases-admin",
        request_timeout_ms=timeout_ms,
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        for topic in missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=timeout_ms)
    finally:
        admin.close()
