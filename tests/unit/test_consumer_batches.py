"""How the acks consumer handles one poll's records of a partition, with a fake broker on
the in-memory backend: one ``apply_acks`` per batch, the DLQ in offset order before the
commit, one commit past the batch, and a database outage retried on the same batch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from kafka.structs import OffsetAndMetadata, TopicPartition

from debtcases.bootstrap import utc_now
from debtcases.commands.acks import AckInput, AckResult
from debtcases.commands.app import Admission, DunningCases
from debtcases.config import Settings
from debtcases.consumers.consumer import AckConsumer
from debtcases.domain.actors import Actor
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
SUPPORT = Actor.support("anna")
TP = TopicPartition("diagonal.acks", 1)


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = b"A"
    topic: str = TP.topic
    partition: int = TP.partition


@dataclass
class Delivered:
    def get(self, timeout: float) -> None:
        return None


@dataclass
class Journal:
    """What the fake broker saw, in order: DLQ sends and commits."""

    entries: list[tuple[str, Any]] = field(default_factory=list)

    def send(self, topic: str, *, key: Any, value: bytes, headers: Any) -> Delivered:
        self.entries.append(("dlq", dict(headers)["reason"].decode()))
        return Delivered()

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.entries.append(("commit", offsets[TP].offset))


def ack(offset: int, order_id: str, kind: str, message_id: str) -> Record:
    body = {"message_id": message_id, "type": kind, "order_id": order_id, "at": NOW.isoformat()}
    return Record(offset, json.dumps(body).encode())


@pytest.fixture
def app() -> DunningCases:
    app = DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)
    debtor = DEBTOR
    for order_id in ("A", "B"):
        app.admit(Admission(order_id, 100, Decimal("9.90"), "EUR", debtor), SUPPORT, now=NOW)
        app.start_dunning(order_id, SUPPORT, now=NOW)
    return app


def consumer_for(app: DunningCases) -> tuple[AckConsumer, Journal]:
    settings = Settings(database_url="memory://", kafka_bootstrap_servers="unused:9092")
    consumer = AckConsumer(app, settings, max_backoff=0.01)
    journal = Journal()
    consumer.consumer = journal  # type: ignore[assignment]
    consumer.dlq = journal  # type: ignore[assignment]
    return consumer, journal


def test_a_batch_is_applied_in_one_call_dead_letters_in_offset_order_and_commits_past_it(
    app: DunningCases, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, journal = consumer_for(app)
    calls: list[list[str]] = []
    real = app.apply_acks

    def apply_acks(acks: list[AckInput], now: datetime | None = None) -> list[AckResult]:
        calls.append([a.message_id for a in acks])
        return real(acks, now)

    monkeypatch.setattr(app, "apply_acks", apply_acks)
    records = [
        ack(10, "A", "received", "m1"),
        Record(11, b"{not json"),
        ack(12, "NO-SUCH", "received", "m2"),
        ack(13, "B", "received", "m3"),
        ack(14, "A", "received", "m1"),  # re-delivered
        ack(15, "A", "acknowledged", "m4"),
    ]
    assert consumer._handle_partition(TP, records)

    assert calls == [["m1", "m2", "m3", "m1"]]  # the valid ones, in one call
    assert journal.entries == [
        ("dlq", "invalid_json"),
        ("dlq", "unknown_order"),
        ("dlq", "unknown_type"),
        ("commit", 16),
    ]
    assert consumer.processed == len(records)
    assert app.get_case("A", SUPPORT).status is Status.HANDED_OVER
    assert app.get_case("B", SUPPORT).status is Status.HANDED_OVER


def test_a_database_outage_retries_the_same_batch_and_commits_only_after_it_is_stored(
    app: DunningCases, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    consumer, journal = consumer_for(app)
    real = app.apply_acks
    outages = [OperationalError("connection refused")] * 3

    def apply_acks(acks: list[AckInput], now: datetime | None = None) -> list[AckResult]:
        if outages:
            assert journal.entries == []  # nothing committed meanwhile
            raise outages.pop()
        return real(acks, now)

    monkeypatch.setattr(app, "apply_acks", apply_acks)
    records = [ack(0, "A", "received", "m1"), ack(1, "B", "rejected", "m2")]
    assert consumer._handle_partition(TP, records)

    assert sum("not applied yet" in r.getMessage() for r in caplog.records) == 3
    assert journal.entries == [("commit", 2)]
    assert consumer.processed == 2
    assert app.get_case("B", SUPPORT).status is Status.FAILED


def test_stopping_during_an_outage_commits_nothing(
    app: DunningCases, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, journal = consumer_for(app)

    def apply_acks(acks: list[AckInput], now: datetime | None = None) -> list[AckResult]:
        consumer.request_stop()
        raise OperationalError("connection refused")

    monkeypatch.setattr(app, "apply_acks", apply_acks)
    assert not consumer._handle_partition(TP, [ack(0, "A", "received", "m1")])
    assert journal.entries == []
    assert consumer.processed == 0


def test_a_poll_of_several_partitions_is_one_transaction_and_one_commit_past_each(
    app: DunningCases, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, _journal = consumer_for(app)
    other = TopicPartition(TP.topic, 2)
    calls: list[list[str]] = []
    commits: list[dict[TopicPartition, int]] = []
    dead: list[tuple[int, int]] = []
    real = app.apply_acks

    def apply_acks(acks: list[AckInput], now: datetime | None = None) -> list[AckResult]:
        calls.append([a.message_id for a in acks])
        return real(acks, now)

    class Broker:
        def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
            commits.append({tp: o.offset for tp, o in offsets.items()})

        def send(self, topic: str, *, key: Any, value: bytes, headers: Any) -> Delivered:
            h = dict(headers)
            dead.append((int(h["original_partition"]), int(h["original_offset"])))
            return Delivered()

    monkeypatch.setattr(app, "apply_acks", apply_acks)
    consumer.consumer = consumer.dlq = Broker()  # type: ignore[assignment]
    on_other = [
        Record(5, ack(5, "B", "received", "m3").value, b"B", partition=2),
        Record(6, b"[]", b"B", partition=2),
        Record(7, ack(7, "B", "rejected", "m4").value, b"B", partition=2),
    ]
    batch = {
        TP: [ack(20, "A", "received", "m1"), Record(21, b"{"), ack(22, "A", "rejected", "m2")],
        other: on_other,
    }
    assert consumer._handle_batch(batch)

    assert calls == [["m1", "m2", "m3", "m4"]]  # one transaction, each partition in order
    assert dead == [(1, 21), (2, 6)]
    assert commits == [{TP: 23, other: 8}]
    assert consumer.processed == 6
    assert app.get_case("A", SUPPORT).status is Status.FAILED  # received, then rejected
    assert app.get_case("B", SUPPORT).status is Status.FAILED
