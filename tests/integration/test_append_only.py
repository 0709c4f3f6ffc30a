"""Stored events are append-only, in the database itself: what each backend refuses, tried
with the statements an operator (or an attacker holding the service's connection) would use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor
from debtcases.domain.statuses import Status

GOOD = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
SUPPORT = Actor.support("anna")
INTAKE = Actor.system("intake")


def _admission(order_id: str = "B-1", amount: str = "49.90") -> Admission:
    return Admission(order_id, 79424, Decimal(amount), "EUR", GOOD, "Rücklastschrift")


def _table(container: Container) -> str:
    name: str = container.cases.recorder.events_table_name  # type: ignore[attr-defined]
    return name


# ------------------------------------------------------------------------- SQLite

SQLITE_REWRITES = [
    # REPLACE resolves the key conflict by deleting the stored row without firing the
    # DELETE trigger: the forged state would be read back as the stored event.
    "INSERT OR REPLACE INTO {t} (originator_id, originator_version, topic, state) "
    "SELECT originator_id, originator_version, topic, X'00' FROM {t} WHERE rowid = 1",
    "REPLACE INTO {t} (originator_id, originator_version, topic, state) "
    "SELECT originator_id, originator_version, topic, X'00' FROM {t} WHERE rowid = 1",
    # the same through the rowid (the notification id) with a fresh key
    "INSERT OR REPLACE INTO {t} (rowid, originator_id, originator_version, topic, state) "
    "SELECT rowid, originator_id, originator_version + 100, topic, X'00' FROM {t} "
    "WHERE rowid = 1",
    "INSERT INTO {t} (originator_id, originator_version, topic, state) "
    "SELECT originator_id, originator_version, topic, X'00' FROM {t} WHERE rowid = 1 "
    "ON CONFLICT DO UPDATE SET state = excluded.state",
    "UPDATE OR REPLACE {t} SET state = X'00'",
    "UPDATE {t} SET state = X'00'",
    "DELETE FROM {t}",
]


@pytest.mark.parametrize("statement", SQLITE_REWRITES)
@pytest.mark.parametrize("recursive_triggers", [False, True])
def test_sqlite_refuses_to_replace_rewrite_or_delete_a_stored_event(
    tmp_path: object,
    make_container: Callable[..., Container],
    statement: str,
    recursive_triggers: bool,
) -> None:
    path = f"{tmp_path}/cases.sqlite"
    container = make_container(f"sqlite:///{path}")
    container.cases.admit(_admission(), INTAKE)
    container.cases.cancel("B-1", SUPPORT, "storniert")
    table = _table(container)
    select_all = f"SELECT rowid, * FROM {table} ORDER BY rowid"
    with sqlite3.connect(path) as conn:
        before = conn.execute(select_all).fetchall()
    conn = sqlite3.connect(path)
    try:
        if recursive_triggers:
            conn.execute("PRAGMA recursive_triggers = ON")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement.format(t=table))
        conn.commit()
        assert conn.execute(select_all).fetchall() == before
    finally:
        conn.close()

    # A new process reads the events as they were stored, and appending still works.
    again = make_container(f"sqlite:///{path}")
    assert again.cases.get_case("B-1", SUPPORT).status is Status.CANCELLED
    again.cases.admit(_admission("B-2"), INTAKE)
    again.cases.start_dunning("B-2", SUPPORT)
    assert [e.event for e in again.cases.history("B-2", SUPPORT)] == ["Locked", "DunningStarted"]
