"""What docker/compose.yml gives a developer with Docker: its init script creates the
service's role, `debtcases db setup` (as the image's superuser, the owner) guards the events,
and the service then runs as that role and may only read and append. Docker is not needed
to check it: the script is run the way the postgres image runs it, on a fresh database."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor

DOCKER = Path(__file__).resolve().parents[2] / "docker"
INIT_SQL = DOCKER / "initdb" / "10-service-role.sql"


def _as(url: str, role: str) -> str:
    parsed = urlparse(url)
    netloc = f"{role}@{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


def test_compose_mounts_the_init_script_and_names_both_roles() -> None:
    compose = (DOCKER / "compose.yml").read_text()
    assert "./initdb:/docker-entrypoint-initdb.d:ro" in compose
    assert "DEBTCASES_DATABASE_OWNER_URL=postgresql://debtcases:debtcases@" in compose
    assert "DEBTCASES_DATABASE_URL=postgresql://debtcases_service:debtcases_service@" in compose


def test_the_compose_service_role_may_only_read_and_append(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(INIT_SQL.read_text())  # type: ignore[arg-type]
        conn.execute(INIT_SQL.read_text())  # type: ignore[arg-type]  # idempotent
    service_url = _as(pg_url, "debtcases_service")

    from debtcases.bootstrap import setup_database
    from debtcases.config import Settings

    tables = setup_database(Settings(database_url=service_url, database_owner_url=pg_url))
    container = make_container(service_url, database_owner_url=pg_url)
    debtor = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
    admission = Admission("C-1", 79424, Decimal("49.90"), "EUR", debtor, "Rücklastschrift")
    container.cases.admit(admission, Actor.system("intake"))

    for table in tables:
        with (
            psycopg.connect(service_url) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(f"DELETE FROM {table}")  # type: ignore[arg-type]
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute(f"SELECT count(*) FROM {tables[0]}").fetchone()  # type: ignore[arg-type]
    assert stored == (1,)
