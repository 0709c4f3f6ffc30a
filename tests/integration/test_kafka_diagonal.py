"""Diagonal over a real Kafka broker and real PostgreSQL, in one process: the service's
outbox publisher and acks consumer run as workers, the test plays Diagonal."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR
from tests.integration.kafka_helpers import Diagonal, ack, kafka_overrides, read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(120)]

INTAKE = Actor.system("intake")
SUPPORT = Actor.support("anna")


@pytest.fixture
def service(
    pg_url: str, kafka_bootstrap: str, make_container: Callable[..., Container]
) -> Iterator[Container]:
    container = make_container(pg_url, **kafka_overrides(kafka_bootstrap))
    container.start_workers()
    yield container


@pytest.fixture
def diagonal(service: Container, kafka_bootstrap: str) -> Iterator[Diagonal]:
    d = Diagonal(kafka_bootstrap, service.settings.kafka_topic_acks)
    yield d
    d.close()


def admit_running(container: Container, order_id: str, user_id: int = 79424) -> None:
    container.cases.admit(
        Admission(
            order_id,
            user_id,
            Decimal("49.90"),
            "EUR",
            DEBTOR,
        ),
        INTAKE,
    )
    container.cases.start_dunning(order_id, Actor.vendor(user_id))


def status(container: Container, order_id: str) -> Status:
    return container.cases.get_case(order_id, SUPPORT).status


def diagonal_events(container: Container, order_id: str) -> list[Any]:
    return [
        e
        for e in container.cases.events.get(case_id_for(order_id))
        if isinstance(e, DunningCase.Event) and e.actor.role is Role.DIAGONAL
    ]


def test_started_case_is_handed_over_when_diagonal_answers_received(
    service: Container, diagonal: Diagonal, kafka_bootstrap: str
) -> None:
    admit_running(service, "K-1001")

    def handover_for(records: list[Any]) -> list[dict[str, Any]]:
        bodies = [json.loads(r.value) for r in records]
        return [b for b in bodies if b["order_id"] == "K-1001" and b["type"] == "handover"]

    records = read_topic(
        kafka_bootstrap,
        service.settings.kafka_topic_handover,
        until=lambda rs: bool(handover_for(rs)),
    )
    [handover] = handover_for(records)
    assert handover["debtor"]["postal_code"] == "10969"
    assert handover["amount"] == "49.90" and handover["user_id"] == 79424
    assert records[0].key == b"K-1001"

    diagonal.send(ack("K-1001", "received", in_reply_to=handover["message_id"]))
    diagonal.flush()
    wait_until(
        lambda: status(service, "K-1001") == Status.HANDED_OVER, 30, "the case to be HANDED_OVER"
    )

    # ... and in both views (read through the public API).
    support = service.keys.create(Role.SUPPORT, name="t")
    vendor = service.keys.create(Role.VENDOR, user_id=79424)
    client = TestClient(create_app(service))

    def listed_status(path: str, token: str) -> str | None:
        body = client.get(
            path, params={"order_id": "K-1001"}, headers={"Authorization": f"Bearer {token}"}
        ).json()
        return body["items"][0]["status"] if body.get("items") else None

    wait_until(
        lambda: listed_status("/api/v1/support/cases", support) == "HANDED_OVER",
        15,
        "the support view to show HANDED_OVER",
    )
    wait_until(
        lambda: listed_status("/api/v1/vendor/cases", vendor) == "HANDED_OVER",
        15,
        "the vendor view to show HANDED_OVER",
    )

    # The vendor's first case at Diagonal opens portal access: exactly one message.
    portal = read_topic(
        kafka_bootstrap,
        service.settings.kafka_topic_portal_access,
        until=lambda rs: len(rs) >= 1,
        timeout=15,
    )
    assert [json.loads(r.value)["user_id"] for r in portal] == [79424]
    access_path = "/api/v1/support/vendors/79424/collection-access"

    def access() -> dict[str, Any]:
        body: dict[str, Any] = client.get(
            access_path, headers={"Authorization": f"Bearer {support}"}
        ).json()
        return body

    wait_until(
        lambda: (access().get("portal_access_message") or {}).get("sent_at") is not None,
        15,
        "collection access to show the sent portal-access message",
    )
    shown = access()
    assert shown["portal_access"] and shown["since"] is not None
    assert shown["portal_access_message"]["order_id"] == "K-1001"
    assert shown["portal_access_message"]["message_id"] == json.loads(portal[0].value)["message_id"]


def test_the_same_ack_a_hundred_times_is_applied_once(
    service: Container, diagonal: Diagonal
) -> None:
    admit_running(service, "K-2001")
    same = ack("K-2001", "received")
    for _ in range(100):
        diagonal.send(same)
    diagonal.send(ack("K-2001", "received", message_id="marker"))  # the end of the stream
    diagonal.flush()
    wait_until(
        lambda: len(diagonal_events(service, "K-2001")) >= 2, 30, "the marker ack to be recorded"
    )
    events = diagonal_events(service, "K-2001")
    assert [e.actor.id for e in events] == [same["message_id"], "marker"]
    assert isinstance(events[0], DunningCase.HandedToCollection)
    assert isinstance(events[1], DunningCase.AckRecorded)  # received again: no change
    assert status(service, "K-2001") == Status.HANDED_OVER


def test_received_after_cancellation_is_recorded_and_the_case_stays_cancelled(
    service: Container, diagonal: Diagonal
) -> None:
    admit_running(service, "K-3001")
    service.cases.cancel("K-3001", SUPPORT, "Bestellung storniert")
    diagonal.send(ack("K-3001", "received"))
    diagonal.flush()
    wait_until(
        lambda: len(diagonal_events(service, "K-3001")) == 1, 30, "the late ack to be recorded"
    )
    [late] = diagonal_events(service, "K-3001")
    assert isinstance(late, DunningCase.AckRecorded)
    assert status(service, "K-3001") == Status.CANCELLED


def test_malformed_and_unknown_acks_go_to_the_dlq_and_the_consumer_goes_on(
    service: Container, diagonal: Diagonal, kafka_bootstrap: str
) -> None:
    admit_running(service, "K-4001")
    diagonal.send(b"{not json", key="K-4001")
    diagonal.send({"type": "received", "order_id": "K-4001"})  # no message_id, no at
    diagonal.send(ack("NO-SUCH-ORDER", "received"))
    diagonal.send(ack("K-4001", "acknowledged"))  # a type Diagonal does not send
    diagonal.send(ack("K-4001", "received"))
    diagonal.flush()

    dlq = read_topic(
        kafka_bootstrap, service.settings.kafka_topic_acks_dlq, until=lambda rs: len(rs) >= 4
    )
    reasons = sorted(dict(r.headers)["reason"].decode() for r in dlq)
    assert reasons == ["invalid_json", "missing_field", "unknown_order", "unknown_type"]
    assert b"{not json" in [r.value for r in dlq]  # the original value is kept
    wait_until(
        lambda: status(service, "K-4001") == Status.HANDED_OVER,
        30,
        "the valid ack after the bad ones to be applied",
    )
