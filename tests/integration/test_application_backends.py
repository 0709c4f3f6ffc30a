"""The application on the embedded default (SQLite file) and on real PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest

from debtcases.bootstrap import Container
from debtcases.commands.acks import AckInput
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import ConcurrentModification, OrderConflict
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR as GOOD

SUPPORT = Actor.support("anna")
VENDOR = Actor.vendor(79424)
INTAKE = Actor.system("intake")


def _admission(order_id: str = "B-1", amount: str = "49.90") -> Admission:
    return Admission(order_id, 79424, Decimal(amount), "EUR", GOOD, "Rücklastschrift")


def test_a_case_survives_a_restart_with_its_whole_history(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    first = make_container(database_url)
    first.cases.admit(_admission(), INTAKE)
    first.cases.start_dunning("B-1", VENDOR)
    first.cases.block("B-1", SUPPORT, "Vendor unsicher")
    first.close()

    second = make_container(database_url)
    case = second.cases.get_case("B-1", SUPPORT)
    assert case.status is Status.BLOCKED
    assert case.status_for(VENDOR.role) is Status.RUNNING
    assert case.debtor == GOOD and case.amount == Decimal("49.90")
    events = [e.event for e in second.cases.history("B-1", SUPPORT)]
    assert events == ["Locked", "DunningStarted", "Blocked"]
    assert [e.actor["role"] for e in second.cases.history("B-1", SUPPORT)] == [
        "system",
        "vendor",
        "support",
    ]


def test_admitting_the_same_order_twice_is_idempotent_and_different_data_conflicts(
    container: Container,
) -> None:
    first = container.cases.admit(_admission(), INTAKE)
    again = container.cases.admit(_admission(), INTAKE)
    assert first.created and not again.created
    assert again.case.version == 1
    with pytest.raises(OrderConflict) as conflict:
        container.cases.admit(_admission(amount="50.00"), INTAKE)
    assert conflict.value.fields == ["amount"]


def test_a_batch_is_admitted_in_one_transaction_or_not_at_all(container: Container) -> None:
    container.cases.admit(_admission("B-1"), INTAKE)
    batch = [_admission("B-2"), _admission("B-3"), _admission("B-1", amount="1.00")]
    with pytest.raises(OrderConflict):
        container.cases.admit_many(batch, INTAKE)
    assert not container.cases.has_case("B-2") and not container.cases.has_case("B-3")
    outcomes = container.cases.admit_many([*batch[:2], _admission("B-1")], INTAKE)
    assert [o.created for o in outcomes] == [True, True, False]
    positions = {o.position for o in outcomes if o.created}
    assert len(positions) == 1  # one commit


def test_a_batch_reads_its_cases_together_and_answers_as_one_by_one(
    container: Container,
) -> None:
    """admit_many and apply_acks read a batch's cases in one query: the answers are those
    of loading each case on its own (its whole history, its corrected address)."""
    cases = container.cases
    cases.admit(_admission("B-1"), INTAKE)
    cases.admit(_admission("B-2"), INTAKE)
    cases.start_dunning("B-2", VENDOR)
    moved = Debtor("Jana Schäfer", "Neue Straße 1", "10115", "Berlin", "DE")
    cases.correct_address("B-2", SUPPORT, moved, "Umzug")
    as_corrected = Admission("B-2", 79424, Decimal("49.90"), "EUR", moved, "Rücklastschrift")
    outcomes = cases.admit_many([_admission("B-1"), as_corrected, _admission("B-3")], INTAKE)
    assert [(o.created, o.changed) for o in outcomes] == [
        (False, False),
        (False, False),
        (True, True),
    ]
    assert outcomes[1].case.version == 3 and outcomes[1].case.debtor == moved
    assert outcomes[0].position is None and outcomes[2].position is not None
    with pytest.raises(OrderConflict) as conflict:
        cases.admit_many([_admission("B-4"), _admission("B-2", amount="1.00")], INTAKE)
    assert conflict.value.order_id == "B-2" and conflict.value.fields == ["amount"]
    assert not cases.has_case("B-4")

    results = cases.apply_acks(
        [
            AckInput("B-2", "received", "m-1"),
            AckInput("B-9", "received", "m-2"),
            AckInput("B-2", "received", "m-1"),
        ]
    )
    assert [r.result for r in results] == ["applied", "unknown_order", "duplicate"]
    again = cases.apply_acks([AckInput("B-2", "received", "m-1"), AckInput("B-1", "closed", "m-3")])
    assert [r.result for r in again] == ["duplicate", "applied"]
    assert cases.get_case("B-2", SUPPORT).status is Status.HANDED_OVER  # received


def _table(container: Container) -> str:
    name: str = container.cases.recorder.events_table_name  # type: ignore[attr-defined]
    return name


def _count_events(database_url: str, table: str) -> int:
    if database_url.startswith("sqlite"):
        path = database_url.split("sqlite:///", 1)[1]
        with sqlite3.connect(path) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.parametrize("statement", ["DELETE FROM {table}", "UPDATE {table} SET state = state"])
def test_the_database_refuses_to_delete_or_rewrite_stored_events(
    database_url: str, make_container: Callable[..., Container], statement: str
) -> None:
    container = make_container(database_url)
    container.cases.admit(_admission(), INTAKE)
    container.cases.cancel("B-1", SUPPORT, "storniert")
    table = _table(container)
    statement = statement.format(table=table)
    before = _count_events(database_url, table)
    if database_url.startswith("sqlite"):
        path = database_url.split("sqlite:///", 1)[1]
        with (
            sqlite3.connect(path) as conn,
            pytest.raises(sqlite3.DatabaseError, match="append-only"),
        ):
            conn.execute(statement)
    else:
        with (
            psycopg.connect(database_url) as conn,
            pytest.raises(psycopg.Error, match="append-only"),
        ):
            conn.execute(statement)
    assert _count_events(database_url, table) == before == 2
    assert container.cases.get_case("B-1", SUPPORT).status is Status.CANCELLED


def test_postgres_refuses_truncate_of_the_stored_events(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(pg_url)
    container.cases.admit(_admission(), INTAKE)
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute(f"TRUNCATE {_table(container)}")
    assert _count_events(pg_url, _table(container)) == 1


def test_a_conflict_that_outlasts_the_retries_is_a_concurrent_modification(
    database_url: str,
    make_container: Callable[..., Container],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = make_container(database_url, max_command_attempts=3)
    container.cases.admit(_admission(), INTAKE)
    other = make_container(database_url)
    real_save = container.cases._save
    calls = {"n": 0}

    def save_after_someone_else(*cases: object) -> int | None:
        # Another process changes the case between our load and our save, every time.
        calls["n"] += 1
        other.cases.correct_address("B-1", SUPPORT, GOOD, f"race {calls['n']}")
        return real_save(*cases)  # type: ignore[arg-type]

    monkeypatch.setattr(container.cases, "_save", save_after_someone_else)
    with pytest.raises(ConcurrentModification):
        container.cases.block("B-1", SUPPORT, "pausiert")
    assert calls["n"] == 3
    assert other.cases.get_case("B-1", SUPPORT).status is Status.LOCKED
