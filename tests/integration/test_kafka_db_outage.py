"""The database briefly unreachable while acks arrive: the consumer retries with back-off
on the same record, skips nothing, and applies every ack once when the database is back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.consumers.consumer import AckConsumer
from debtcases.domain.actors import Actor
from debtcases.domain.case import case_id_for
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR
from tests.integration.kafka_helpers import Diagonal, ack, kafka_overrides, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(180)]

ORDERS = [f"O-{n}" for n in range(6)]


def _admin(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def _set_reachable(url: str, reachable: bool) -> None:
    """Refuse (or allow again) every connection to the test's database."""
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(reachable).lower()}')
        if not reachable:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


@pytest.fixture
def outage_db(pg_url: str) -> Iterator[str]:
    yield pg_url
    _set_reachable(pg_url, True)  # whatever happened, let the fixture drop it


def test_acks_arriving_while_the_database_is_down_are_applied_once_it_is_back(
    outage_db: str,
    kafka_bootstrap: str,
    make_container: Callable[..., Container],
    caplog: pytest.LogCaptureFixture,
) -> None:
    overrides = kafka_overrides(kafka_bootstrap)
    # A short connect timeout, so the outage outlasts it and the consumer's own retry runs.
    container = make_container(outage_db, run_workers=False, db_connect_timeout=1, **overrides)
    caplog.set_level(logging.WARNING, logger="debtcases.consumers.consumer")
    intake, support = Actor.system("intake"), Actor.support("anna")
    debtor = DEBTOR
    for order_id in ORDERS:
        container.cases.admit(Admission(order_id, 79424, Decimal("9.90"), "EUR", debtor), intake)
        container.cases.start_dunning(order_id, support)
    consumer = AckConsumer(container.cases, container.settings, max_backoff=0.5)
    consumer.start()
    diagonal = Diagonal(kafka_bootstrap, overrides["kafka_topic_acks"])
    try:
        diagonal.send(ack(ORDERS[0], "received"))
        diagonal.flush()
        wait_until(
            lambda: container.cases.get_case(ORDERS[0], support).status is Status.HANDED_OVER,
            30,
            "the first ack to be applied",
        )
        _set_reachable(outage_db, False)
        for order_id in ORDERS[1:]:
            diagonal.send(ack(order_id, "received"))
        diagonal.flush()
        # The consumer meets the outage and retries the same record with back-off.
        wait_until(
            lambda: sum("not applied yet" in r.getMessage() for r in caplog.records) >= 2,
            30,
            "the consumer to retry during the outage",
        )
        assert consumer.processed == 1
        _set_reachable(outage_db, True)
        wait_until(lambda: consumer.processed == len(ORDERS), 60, "every ack to be applied")
    finally:
        consumer.stop()
        diagonal.close()
    for order_id in ORDERS:
        case = container.cases.get_case(order_id, support)
        assert case.status is Status.HANDED_OVER, order_id
        events = list(container.cases.events.get(case_id_for(order_id)))
        assert [type(e).__name__ for e in events] == [
            "Locked",
            "DunningStarted",
            "HandedToCollection",
        ]
