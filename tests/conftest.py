"""Shared fixtures: real backends (SQLite file, PostgreSQL server) and ready containers.

PostgreSQL comes from DEBTCASES_TEST_DATABASE_URL (``make test`` starts a throwaway server
and sets it). Each test that asks for it gets a database of its own, created from scratch.
Without the variable, PostgreSQL tests are skipped locally, but fail under CI=true: CI must
never pass by skipping the real database.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlparse, urlunparse

import pytest

from debtcases.bootstrap import Container, build_container
from debtcases.config import Settings


def _require(var: str, what: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    if os.environ.get("CI"):
        pytest.fail(f"{var} is not set under CI: {what} tests must run against the real thing")
    pytest.skip(f"{var} not set (run via `make test`, which starts {what})")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return _require("DEBTCASES_TEST_DATABASE_URL", "PostgreSQL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _require("DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS", "Kafka")


def _with_db(url: str, dbname: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path="/" + dbname))


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A brand-new PostgreSQL database for this test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    admin = _with_db(pg_server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_db(pg_server_url, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The two roles a production PostgreSQL runs with (scripts/services.sh creates them too):
# the owner of the events table, and the service's role, which may only read and append.
OWNER_ROLE = "debtcases_events_owner"
SERVICE_ROLE = "debtcases_service"


def _ensure_role(conn: object, role: str) -> None:
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    # It may exist already (or a parallel test created it just now).
    with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")


def _with_role(url: str, role: str) -> str:
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    netloc = f"{role}@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


@pytest.fixture
def pg_owner_and_service_urls(pg_server_url: str) -> Iterator[tuple[str, str]]:
    """A brand-new PostgreSQL database owned by the owner role: (owner URL, service URL).
    The test server trusts 127.0.0.1, so the roles need no password."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    admin = _with_db(pg_server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        _ensure_role(conn, OWNER_ROLE)
        _ensure_role(conn, SERVICE_ROLE)
        conn.execute(f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}')
    url = _with_db(pg_server_url, name)
    yield _with_role(url, OWNER_ROLE), _with_role(url, SERVICE_ROLE)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cases.sqlite"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_container() -> Iterator[Callable[..., Container]]:
    made: list[Container] = []

    def make(database_url: str = "memory://", **overrides: object) -> Container:
        settings = Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]
        container = build_container(settings)
        made.append(container)
        return container

    yield make
    for container in made:
        container.close()


@pytest.fixture
def container(database_url: str, make_container: Callable[..., Container]) -> Container:
    return make_container(database_url)
