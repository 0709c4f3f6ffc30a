"""A backlog of acks on a real broker and real PostgreSQL: the consumer applies each poll's
records of a partition in one transaction, and every ack still once and in order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.consumers.consumer import AckConsumer
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR
from tests.integration.kafka_helpers import Diagonal, ack, kafka_overrides, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(120)]

SUPPORT = Actor.support("anna")


def test_a_backlog_is_applied_in_a_few_transactions_each_ack_once_and_in_order(
    pg_url: str,
    kafka_bootstrap: str,
    make_container: Callable[..., Container],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overrides = kafka_overrides(kafka_bootstrap)
    container = make_container(pg_url, run_workers=False, **overrides)
    cases = container.cases
    orders = [f"BATCH-{i:03d}" for i in range(60)]
    debtor = DEBTOR
    cases.admit_many(
        [Admission(o, 79424, Decimal("9.90"), "EUR", debtor) for o in orders],
        Actor.system("intake"),
    )
    for o in orders:
        cases.start_dunning(o, SUPPORT)

    expected: dict[str, list[str]] = defaultdict(list)
    diagonal = Diagonal(kafka_bootstrap, overrides["kafka_topic_acks"])
    previous: list[dict[str, Any]] = []
    for kind in ("received", "rejected", "closed", "received", "closed"):
        current = [ack(o, kind) for o in orders]
        for message in current + previous:  # each round re-sends the one before
            diagonal.send(message)
        for message in current:
            expected[message["order_id"]].append(message["message_id"])
        previous = current
    diagonal.send(b"{not json", key=orders[0])
    diagonal.send(ack("NO-SUCH-ORDER", "received"))
    diagonal.flush()
    diagonal.close()

    saves: list[int] = []
    real_save = cases.save

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        saves.append(len(aggregates))
        return real_save(*aggregates, **kwargs)

    monkeypatch.setattr(cases, "save", save)
    consumer = AckConsumer(cases, container.settings, poll_timeout_ms=500)
    consumer.run(max_idle_polls=4)

    records = 60 * 5 + 60 * 4 + 2
    assert consumer.processed == records
    assert len(saves) <= 12, saves  # a handful of batches, not one transaction per ack
    for o in orders:
        events = [
            e
            for e in cases.events.get(case_id_for(o))
            if isinstance(e, DunningCase.Event) and e.actor.role is Role.DIAGONAL
        ]
        assert [e.actor.id for e in events] == expected[o], o
        assert [type(e).__name__ for e in events] == [
            "HandedToCollection",
            "HandoverFailed",
            "AckRecorded",  # closed: the case was neither withdrawn nor paid
            "AckRecorded",  # received after the rejection
            "AckRecorded",
        ]
        assert cases.get_case(o, SUPPORT).status is Status.FAILED
    dlq = read_topic(
        kafka_bootstrap, overrides["kafka_topic_acks_dlq"], until=lambda rs: len(rs) >= 2
    )
    assert sorted(dict(r.headers)["reason"].decode() for r in dlq) == [
        "invalid_json",
        "unknown_order",
    ]
