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


# --------------------------------------------------------------------- PostgreSQL


def _rows(url: str, table: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY notification_id").fetchall()


def _service_container(
    make_container: Callable[..., Container], urls: tuple[str, str], **overrides: object
) -> Container:
    owner_url, service_url = urls
    return make_container(service_url, database_owner_url=owner_url, **overrides)


SERVICE_MAY_NOT = {
    "delete": "DELETE FROM {t}",
    "update": "UPDATE {t} SET state = state",
    "upsert": "INSERT INTO {t} (originator_id, originator_version, topic, state) "
    "SELECT originator_id, originator_version, topic, 'x'::bytea FROM {t} "
    "ON CONFLICT (originator_id, originator_version) DO UPDATE SET state = excluded.state",
    "truncate": "TRUNCATE {t}",
    "disable the trigger": "ALTER TABLE {t} DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER {t}_no_update_delete ON {t}",
    "replace the guard": "CREATE OR REPLACE FUNCTION {t}_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "take the table": "ALTER TABLE {t} OWNER TO CURRENT_USER",
    "drop the table": "DROP TABLE {t}",
}


@pytest.mark.parametrize("statement", SERVICE_MAY_NOT.values(), ids=SERVICE_MAY_NOT.keys())
def test_the_service_role_cannot_delete_rewrite_or_unguard_the_stored_events(
    pg_owner_and_service_urls: tuple[str, str],
    make_container: Callable[..., Container],
    statement: str,
) -> None:
    import psycopg

    owner_url, service_url = pg_owner_and_service_urls
    container = _service_container(make_container, pg_owner_and_service_urls)
    container.cases.admit(_admission(), INTAKE)
    container.cases.cancel("B-1", SUPPORT, "storniert")
    table = _table(container)
    before = _rows(owner_url, table)
    assert len(before) == 2

    # Refused by the role's privileges, before the append-only trigger is even asked.
    with (
        psycopg.connect(service_url) as conn,
        pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"permission denied|must be owner"
        ),
    ):
        conn.execute(statement.format(t=table))

    assert _rows(owner_url, table) == before
    with psycopg.connect(owner_url) as conn:
        enabled = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled <> 'D'"
            " AND NOT tgisinternal",
            (table,),
        ).fetchone()
    assert enabled == (2,)
    # The service itself still appends.
    container.cases.admit(_admission("B-2"), INTAKE)
    assert len(_rows(owner_url, table)) == 3


@pytest.mark.parametrize(
    "statement",
    [SERVICE_MAY_NOT[k] for k in ("delete", "update", "disable the trigger", "drop the table")],
    ids=["delete", "update", "disable the trigger", "drop the table"],
)
def test_the_order_facts_are_guarded_like_the_cases(
    pg_owner_and_service_urls: tuple[str, str],
    make_container: Callable[..., Container],
    statement: str,
) -> None:
    """The order facts are an event store too (every upsert kept): the owner owns that
    table as well, and the service role may only read and append facts."""
    import psycopg

    from debtcases.commands.demo import seed_demo_orders

    owner_url, service_url = pg_owner_and_service_urls
    container = _service_container(make_container, pg_owner_and_service_urls)
    assert seed_demo_orders(container.orders, container.clock())  # appends as the service
    before = _rows(owner_url, "orderfacts_events")
    assert before
    with (
        psycopg.connect(service_url) as conn,
        pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"permission denied|must be owner"
        ),
    ):
        conn.execute(statement.format(t="orderfacts_events"))
    assert _rows(owner_url, "orderfacts_events") == before


def test_the_whole_service_runs_as_the_service_role(
    pg_owner_and_service_urls: tuple[str, str],
    make_container: Callable[..., Container],
) -> None:
    from debtcases.domain.actors import Role
    from debtcases.projections.queries import CaseFilter
    from debtcases.projections.rebuild import rebuild

    owner_url, service_url = pg_owner_and_service_urls
    container = _service_container(make_container, pg_owner_and_service_urls)
    cases = container.cases
    cases.admit_many([_admission("B-1"), _admission("B-2"), _admission("B-3")], INTAKE)
    cases.start_dunning("B-1", SUPPORT)
    cases.hand_over("B-1", SUPPORT, "übergeben")
    cases.block("B-2", SUPPORT, "Vendor unsicher")
    cases.cancel("B-3", SUPPORT, "storniert")
    assert container.wait_for_views(cases.recorder.max_notification_id(), 30)

    rows, total = container.views.page_cases(CaseFilter(), Role.SUPPORT, None)
    statuses = {r["order_id"]: r["status"] for r in rows}
    assert total == 3
    assert statuses == {"B-1": "HANDED_OVER", "B-2": "BLOCKED", "B-3": "CANCELLED"}
    container.runner.catch_up()
    assert [m.type for m in container.diagonal.outbox.messages("B-1")][:1] == ["handover"]

    token = container.keys.create(Role.SUPPORT, name="anna")
    key = container.keys.lookup(token)
    assert key is not None and container.keys.revoke(key.token_hash[:12]) == 1

    before = container.views.recorder.generations()
    rebuild(container.views, cases)
    after = container.views.recorder.generations()
    assert all(after[v] == before[v] + 1 for v in before)
    rows, total = container.views.page_cases(CaseFilter(), Role.SUPPORT, None)
    assert total == 3 and {r["order_id"]: r["status"] for r in rows} == statuses

    # The tables the service writes are its own; the events table is the owner's.
    import psycopg

    with psycopg.connect(owner_url) as conn:
        owners = dict(
            conn.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        )
    # Both event stores (the cases and the order facts) belong to the owner; the read
    # models, outbox and keys to the service.
    owner = owner_url.split("//")[1].split("@")[0]
    assert owners.pop(_table(container)) == owner
    assert owners.pop("orderfacts_events") == owner
    assert set(owners.values()) == {service_url.split("//")[1].split("@")[0]}


def test_the_insert_lock_is_taken_through_the_owners_function_until_commit(
    pg_owner_and_service_urls: tuple[str, str],
    make_container: Callable[..., Container],
) -> None:
    """Without UPDATE/DELETE/TRUNCATE a role may not LOCK ... IN EXCLUSIVE MODE; the owner's
    function takes that lock for the service, and it holds until the transaction ends (that
    lock is what keeps notification ids gap-safe for the projections)."""
    import psycopg

    owner_url, service_url = pg_owner_and_service_urls
    table = _table(_service_container(make_container, pg_owner_and_service_urls))
    held = (
        "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass"
        " AND mode = 'ExclusiveLock' AND granted"
    )
    with psycopg.connect(service_url) as service, psycopg.connect(owner_url) as watcher:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        service.rollback()
        service.execute(f"SELECT {table}_lock()")
        assert watcher.execute(held, (table,)).fetchone() == (1,)
        watcher.rollback()
        service.commit()
        assert watcher.execute(held, (table,)).fetchone() == (0,)


def test_a_service_started_without_the_owner_url_uses_the_store_the_owner_set_up(
    pg_owner_and_service_urls: tuple[str, str],
    make_container: Callable[..., Container],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Operators run `debtcases db setup` with the owner's credentials once; the service
    then never holds them."""
    from typer.testing import CliRunner

    from debtcases.cli import app

    owner_url, service_url = pg_owner_and_service_urls
    monkeypatch.setenv("DEBTCASES_DATABASE_URL", service_url)
    monkeypatch.delenv("DEBTCASES_DATABASE_OWNER_URL", raising=False)
    refused = CliRunner().invoke(app, ["db", "setup"])
    assert refused.exit_code == 2 and "DEBTCASES_DATABASE_OWNER_URL" in refused.output
    monkeypatch.setenv("DEBTCASES_DATABASE_OWNER_URL", owner_url)
    result = CliRunner().invoke(app, ["db", "setup"])
    assert result.exit_code == 0, result.output

    with caplog.at_level("WARNING", logger="debtcases.bootstrap"):
        container = make_container(service_url)
    assert not [r for r in caplog.records if "append-only guard" in r.message]
    container.cases.admit(_admission(), INTAKE)
    container.cases.start_dunning("B-1", SUPPORT)
    assert container.cases.get_case("B-1", SUPPORT).status is Status.RUNNING
    assert len(_rows(owner_url, _table(container))) == 2


def test_a_service_that_owns_the_events_table_is_warned_that_it_can_lift_the_guard(
    pg_url: str, make_container: Callable[..., Container], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="debtcases.bootstrap"):
        make_container(pg_url)
    assert [r for r in caplog.records if "append-only guard" in r.message]
