"""What real brokers and processes do: consumer processes SIGKILLed mid-stream, two
consumers sharing the partitions, the broker itself going away and coming back.
Real Kafka, real PostgreSQL, the real `debtcases consume` process."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.consumers.publisher import KafkaPublisher
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.debtor import Debtor
from tests.integration.kafka_helpers import (
    Diagonal,
    ack,
    env_for,
    kafka_overrides,
    read_topic,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SERVICES_SH = os.environ.get("DEBTCASES_TEST_SERVICES_SH", str(ROOT / "scripts" / "services.sh"))
INTAKE = Actor.system("intake")
SUPPORT = Actor.support("anna")


def debtor(i: int) -> Debtor:
    return Debtor(f"Kunde {i}", f"Hauptstraße {i + 1}", "10115", "Berlin", "DE")


def admit(container: Container, order_ids: list[str]) -> None:
    container.cases.admit_many(
        [
            Admission(o, 1000 + i % 7, Decimal("10.00"), "EUR", debtor(i))
            for i, o in enumerate(order_ids)
        ],
        INTAKE,
    )


def applied_acks(container: Container, order_ids: list[str]) -> dict[str, list[str]]:
    """Per order, the message ids of the acks stored in its event stream, in order."""
    return {
        o: [
            e.actor.id
            for e in container.cases.events.get(case_id_for(o))
            if isinstance(e, DunningCase.Event) and e.actor.role is Role.DIAGONAL
        ]
        for o in order_ids
    }


def count_applied(container: Container, order_ids: list[str]) -> int:
    return sum(len(v) for v in applied_acks(container, order_ids).values())


def start_consumer(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "debtcases.cli", "consume", *extra],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class AckStream(threading.Thread):
    """Sends ``per_order`` unique acks per order in rounds, re-sending the previous round
    as duplicates (what a broker's redelivery looks like)."""

    def __init__(
        self, bootstrap: str, topic: str, order_ids: list[str], per_order: int, pause: float
    ) -> None:
        super().__init__(daemon=True)
        self.diagonal = Diagonal(bootstrap, topic)
        self.order_ids, self.per_order, self.pause = order_ids, per_order, pause
        self.expected: dict[str, list[str]] = defaultdict(list)
        self.sent = 0

    def run(self) -> None:
        previous: list[dict[str, Any]] = []
        for _round in range(self.per_order):
            current = [ack(o, "closed") for o in self.order_ids]
            for message in current:
                self.expected[message["order_id"]].append(message["message_id"])
            for message in current + previous:
                self.diagonal.send(message)
            self.sent += len(current) + len(previous)
            self.diagonal.flush()
            previous = current
            time.sleep(self.pause)
        self.diagonal.close()


@pytest.mark.timeout(240)
def test_a_consumer_killed_at_random_moments_applies_every_ack_exactly_once(
    pg_url: str, kafka_bootstrap: str, make_container: Callable[..., Container]
) -> None:
    overrides = kafka_overrides(kafka_bootstrap)
    container = make_container(pg_url, run_workers=False, **overrides)
    orders = [f"KILL-{i:04d}" for i in range(200)]
    admit(container, orders)
    env = env_for(pg_url, overrides)

    stream = AckStream(
        kafka_bootstrap, overrides["kafka_topic_acks"], orders, per_order=10, pause=2.5
    )  # a ~25 s stream: every kill lands mid-stream
    stream.start()
    rng = random.Random(4)
    progress = []
    for _kill in range(10):
        consumer = start_consumer(env, "--instance-id", "kill-test")
        time.sleep(rng.uniform(1.5, 3.5))
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(10)
        progress.append(count_applied(container, orders))
    stream.join(60)
    assert not stream.is_alive()

    consumer = start_consumer(env, "--instance-id", "kill-test")
    try:
        wait_until(
            lambda: count_applied(container, orders) >= 2000,
            120,
            f"all 2000 acks applied (progress across kills: {progress})",
        )
        time.sleep(2)  # anything doubled would show up now
    finally:
        stop_process(consumer)

    applied = applied_acks(container, orders)
    assert stream.sent == 2000 + 1800  # unique acks plus re-sent duplicates
    for order_id in orders:
        assert applied[order_id] == stream.expected[order_id], order_id  # once, in order
    print(f"applied after each kill: {progress}")
    assert progress[-1] > 0, "the killed consumers applied nothing: no kill was mid-stream"


@pytest.mark.timeout(180)
def test_when_one_of_two_consumers_dies_the_other_takes_over_its_partitions(
    pg_url: str, kafka_bootstrap: str, make_container: Callable[..., Container]
) -> None:
    overrides = kafka_overrides(kafka_bootstrap)
    container = make_container(pg_url, run_workers=False, **overrides)
    orders = [f"PAIR-{i:04d}" for i in range(150)]
    admit(container, orders)
    env = env_for(pg_url, overrides)

    first = start_consumer(env, "--client-id", "first")
    second = start_consumer(env, "--client-id", "second")
    stream = AckStream(
        kafka_bootstrap, overrides["kafka_topic_acks"], orders, per_order=10, pause=0.8
    )
    try:
        stream.start()
        wait_until(
            lambda: count_applied(container, orders) >= 300, 60, "both consumers to be under way"
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        stream.join(60)
        wait_until(
            lambda: count_applied(container, orders) >= 1500, 90, "the survivor to apply the rest"
        )
        time.sleep(2)
        assert second.poll() is None, "the surviving consumer died"
    finally:
        stop_process(first, signal.SIGKILL)
        stop_process(second)

    applied = applied_acks(container, orders)
    for order_id in orders:
        assert applied[order_id] == stream.expected[order_id], order_id


# ------------------------------------------------------------------ broker outage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    """A second Kafka broker of this test's own (the shared one is never stopped)."""

    def __init__(self, state_dir: Path) -> None:
        port = _free_port()
        while True:
            controller = _free_port()
            if controller != port:
                break
        self.env = {
            **os.environ,
            "DEBTCASES_TEST_KAFKA_PORT": str(port),
            "DEBTCASES_TEST_KAFKA_CONTROLLER_PORT": str(controller),
            "DEBTCASES_TEST_SERVICES_STATE_DIR": str(state_dir),
            "DEBTCASES_KAFKA_HEAP": "384m",
        }
        self.bootstrap = f"127.0.0.1:{port}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            ["bash", SERVICES_SH, *args],
            env=self.env,
            check=True,
            timeout=150,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._run("kafka-start")

    def stop(self, keep_data: bool = True) -> None:
        self._run("kafka-stop", *(["--keep-data"] if keep_data else []))


@pytest.fixture
def private_broker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path / "services")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop(keep_data=False)


@pytest.mark.timeout(240)
def test_a_broker_outage_loses_no_outgoing_message_and_keeps_each_orders_order(
    pg_url: str, private_broker: PrivateBroker, make_container: Callable[..., Container]
) -> None:
    overrides = kafka_overrides(private_broker.bootstrap)
    container = make_container(pg_url, run_workers=False, **overrides)
    processor = container.runner  # the log runner feeding the outbox (and the views)
    outbox = container.diagonal.outbox
    publisher = KafkaPublisher(outbox, container.settings, clock=container.clock)
    # Shorter than the outage: messages stay in flight across several publisher rounds.
    publisher.flush_timeout = 1.0
    orders = [f"OUT-{i:03d}" for i in range(40)]
    admit(container, orders)
    processor.start()
    publisher.start()
    try:
        for o in orders:
            container.cases.start_dunning(
                o, Actor.vendor(container.cases.get_case(o, SUPPORT).user_id)
            )
        wait_until(lambda: publisher.published >= 10, 30, "publishing to be under way")

        private_broker.stop(keep_data=True)
        for i, o in enumerate(orders):  # the stream goes on while the broker is away
            container.cases.correct_address(o, SUPPORT, debtor(i + 100), "Umzug")
            container.cases.cancel(o, SUPPORT, "storniert")
        wait_until(
            lambda: outbox.backlog() > 0 and container.diagonal.processor.position() > 0,
            30,
            "a backlog to build up",
        )
        time.sleep(2)
        backlog_during_outage = outbox.backlog()
        private_broker.start()

        wait_until(lambda: outbox.backlog() == 0, 120, "the backlog to drain")
    finally:
        publisher.stop()
        processor.stop()

    assert backlog_during_outage > 0
    recorded = outbox.messages(limit=10000)
    expected: dict[str, list[str]] = defaultdict(list)
    for row in recorded:
        if row.topic == "handover":
            expected[row.order_id].append(row.message_id)
    assert sum(len(v) for v in expected.values()) == 3 * len(orders)

    wanted = {m for ids in expected.values() for m in ids}
    records = read_topic(
        private_broker.bootstrap,
        overrides["kafka_topic_handover"],
        until=lambda rs: wanted <= {json.loads(r.value)["message_id"] for r in rs},
        timeout=60,
    )
    seen: dict[str, list[str]] = defaultdict(list)
    for record in records:  # per partition in offset order; an order lives in one partition
        body = json.loads(record.value)
        if body["message_id"] not in seen[body["order_id"]]:
            seen[body["order_id"]].append(body["message_id"])
    assert dict(seen) == dict(expected)  # nothing lost, first deliveries in event order
    # In flight is not re-sent: each message reached the topic once despite the outage.
    delivered = Counter(json.loads(r.value)["message_id"] for r in records)
    assert delivered.most_common(1)[0][1] == 1
    types = Counter(json.loads(r.value)["type"] for r in records)
    assert set(types) == {"handover", "address_update", "withdrawal"}
