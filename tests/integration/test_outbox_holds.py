"""A blocked case's messages to Diagonal are held: released on unblock, dropped (never
deleted) when the case is cancelled or paid meanwhile. SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from debtcases.bootstrap import Container
from debtcases.consumers.simulator import DiagonalSimulator
from debtcases.domain.actors import Actor
from debtcases.domain.statuses import Status
from tests.unit.test_outbox import SUPPORT, admit

VENDOR = Actor.vendor(79424)


def simulate(c: Container) -> None:
    """Diagonal (the embedded simulator) answers everything that may be delivered now."""
    sim = DiagonalSimulator(c.cases, c.diagonal.outbox, delay_seconds=0, clock=c.clock)
    for _ in range(3):
        c.runner.catch_up()
        sim.run_once()


def test_blocking_a_running_case_holds_its_handover_until_unblocked(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    c = make_container(database_url)
    admit(c, "B-5001")
    c.cases.start_dunning("B-5001", VENDOR)
    c.cases.block("B-5001", SUPPORT, "Vendor unsicher")  # before anything was delivered
    simulate(c)
    [handover] = c.diagonal.outbox.messages("B-5001")
    assert handover.sent_at is None, "the handover of a blocked case went out"
    case = c.cases.get_case("B-5001", SUPPORT)
    assert (case.status, case.status_before_block) == (Status.BLOCKED, Status.RUNNING)
    assert c.cases.unblock("B-5001", SUPPORT, "Vendor will mahnen").case.status is Status.RUNNING
    simulate(c)
    assert c.diagonal.outbox.messages("B-5001")[0].sent_at is not None
    assert c.cases.get_case("B-5001", SUPPORT).status is Status.HANDED_OVER


def test_cancelling_a_blocked_case_drops_its_held_handover(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    c = make_container(database_url)
    admit(c, "B-5002")
    admit(c, "B-5003")
    for order_id in ("B-5002", "B-5003"):
        c.cases.start_dunning(order_id, VENDOR)
        c.cases.block(order_id, SUPPORT, "Vendor unsicher")
    c.cases.cancel("B-5002", SUPPORT, "storniert")
    c.cases.mark_paid("B-5003", SUPPORT, "bezahlt", "ZE-1")
    simulate(c)
    for order_id, follow_up in (("B-5002", "withdrawal"), ("B-5003", "payment")):
        handover, after = c.diagonal.outbox.messages(order_id)
        assert handover.type == "handover" and handover.sent_at is None
        assert handover.dropped_at is not None and "while blocked" in (
            handover.dropped_reason or ""
        )
        # Diagonal is still told, so it can confirm it has nothing open for the order.
        assert after.type == follow_up and after.sent_at is not None
    assert c.diagonal.outbox.backlog() == 0


def test_a_hold_on_one_case_does_not_stop_the_others(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    c = make_container(database_url)
    admit(c, "B-5004")
    admit(c, "B-5005")
    c.cases.start_dunning("B-5004", VENDOR)
    c.cases.start_dunning("B-5005", VENDOR)
    c.cases.block("B-5004", SUPPORT, "Vendor unsicher")
    simulate(c)
    assert c.cases.get_case("B-5005", SUPPORT).status is Status.HANDED_OVER
    assert c.cases.get_case("B-5004", SUPPORT).status_before_block is Status.RUNNING


def test_an_outbox_from_the_earlier_release_gets_the_new_columns(
    database_url: str, make_container: Callable[..., Container], tmp_path: object
) -> None:
    old_ddl = """CREATE TABLE outbox (
        position {serial} PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
        topic TEXT NOT NULL, msg_key TEXT NOT NULL, order_id TEXT NOT NULL,
        payload TEXT NOT NULL, notification_id BIGINT NOT NULL, created_at TEXT NOT NULL,
        sent_at TEXT)"""
    if database_url.startswith("sqlite"):
        path = database_url.split("sqlite:///", 1)[1]
        with sqlite3.connect(path) as conn:
            conn.execute(old_ddl.format(serial="INTEGER"))
    else:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(old_ddl.format(serial="BIGSERIAL"))
    c = make_container(database_url)
    admit(c, "B-5006")
    c.cases.start_dunning("B-5006", VENDOR)
    c.cases.block("B-5006", SUPPORT, "Vendor unsicher")
    c.cases.cancel("B-5006", SUPPORT, "storniert")
    simulate(c)
    handover, _withdrawal = c.diagonal.outbox.messages("B-5006")
    assert handover.dropped_at is not None and handover.sent_at is None
