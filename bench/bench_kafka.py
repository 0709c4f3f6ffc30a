"""Acks applied per second by the service's consumer vs raw kafka-python consumption of
the same topic (same number of messages). Needs a broker and a database:

    DEBTCASES_BENCH_KAFKA=127.0.0.1:19092 \
    DEBTCASES_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:54329/debtcases_test \
    .venv/bin/python bench/bench_kafka.py [N_ACKS] [N_CASES]

(DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS / DEBTCASES_TEST_DATABASE_URL, as ``make test`` sets
them, are used when the DEBTCASES_BENCH_* variables are not set.) The consumer applies each
poll's records of a partition in one transaction, so the figure depends on how many acks
share a case: the default (10 acks per case) loads each case about once per batch; with
``5000 5000`` (one ack per case, closer to production) every ack costs a load.
The database URL's database is used as a server: a fresh database is created for the run
(PostgreSQL); a sqlite:/// URL is used as given.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlparse, urlunparse

from kafka import KafkaConsumer, KafkaProducer

from debtcases.bootstrap import build_cases_app
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.consumers.consumer import AckConsumer
from debtcases.consumers.topics import ensure_topics, service_topics
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor


def fresh_database(url: str) -> str:
    if not url.startswith("postgres"):
        return url
    import psycopg

    name = "bench_" + uuid.uuid4().hex[:10]
    parsed = urlparse(url)
    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path="/" + name))


def main() -> None:
    n_acks = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    n_cases = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    env = os.environ.get
    bootstrap = (
        env("DEBTCASES_BENCH_KAFKA")
        or env("DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS")
        or "127.0.0.1:19092"
    )
    db_url = fresh_database(
        env("DEBTCASES_BENCH_DATABASE_URL")
        or env("DEBTCASES_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:54329/debtcases_test"
    )
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=db_url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_handover=f"bench-{suffix}.handover",
        kafka_topic_acks=f"bench-{suffix}.acks",
        kafka_topic_acks_dlq=f"bench-{suffix}.acks.dlq",
        kafka_topic_portal_access=f"bench-{suffix}.portal",
        kafka_consumer_group=f"bench-{suffix}",
    )
    ensure_topics(bootstrap, service_topics(settings))
    cases = build_cases_app(settings)
    orders = [f"BENCH-{i:05d}" for i in range(n_cases)]
    cases.admit_many(
        [
            Admission(
                o,
                1000 + i % 50,
                Decimal("10.00"),
                "EUR",
                Debtor(f"Kunde {i}", "Hauptstraße 1", "10115", "Berlin", "DE"),
            )
            for i, o in enumerate(orders)
        ],
        Actor.system("bench"),
    )

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    now = datetime.now(tz=UTC).isoformat()
    for i in range(n_acks):
        order = orders[i % n_cases]
        producer.send(
            settings.kafka_topic_acks,
            key=order.encode(),
            value=json.dumps(
                {"message_id": str(uuid.uuid4()), "type": "closed", "order_id": order, "at": now}
            ).encode(),
        )
    producer.flush()
    producer.close()

    # Raw kafka-python: read and JSON-decode the same records, no effects.
    raw = KafkaConsumer(
        settings.kafka_topic_acks,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{suffix}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen, started = 0, None
    deadline = time.monotonic() + 120
    while seen < n_acks and time.monotonic() < deadline:
        for records in raw.poll(timeout_ms=500).values():
            started = started or time.perf_counter()
            for r in records:
                json.loads(r.value)
                seen += 1
    raw_seconds = time.perf_counter() - (started or time.perf_counter())
    raw.close()

    # The service's consumer: parse, apply_acks per partition batch (load each case once,
    # decide, save all in one transaction), commit.
    consumer = AckConsumer(cases, settings, client_id="bench")
    t0 = time.perf_counter()
    consumer.run(max_idle_polls=4)  # stops after ~2 s without records
    consumer_seconds = time.perf_counter() - t0 - 4 * consumer.poll_timeout_ms / 1000
    applied = consumer.processed
    cases.close()
    if db_url.startswith("postgres"):
        import psycopg

        parsed = urlparse(db_url)
        with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')

    print(
        f"database: {settings.database_url.split('@')[-1]}; {n_acks} acks over "
        f"{n_cases} cases, 3 partitions"
    )
    print(
        f"raw kafka-python consumption:  {seen} msgs in {raw_seconds:6.2f}s = "
        f"{seen / max(raw_seconds, 1e-9):10,.0f} msgs/s"
    )
    print(
        f"debtcases consumer (applied):  {applied} acks in {consumer_seconds:6.2f}s = "
        f"{applied / max(consumer_seconds, 1e-9):10,.0f} acks/s  (incl. group join)"
    )


if __name__ == "__main__":
    main()
