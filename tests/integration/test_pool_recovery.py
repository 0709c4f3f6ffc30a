"""A PostgreSQL server that closed every connection (a restart, a failover, an
administrator's ``pg_terminate_backend``) costs the next request one reconnect, not a
timeout: the first broken connection a pool's pre-ping meets has every idle one checked at
once (``check_all_on_first_broken``). Before, psycopg_pool met the broken connections one
checkout at a time, backing off 0, 1, 2, 4 s between them, so with a few pooled
connections the first request waited out the whole connect timeout and failed."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse, urlunparse

import psycopg

from debtcases.bootstrap import Container
from debtcases.domain.actors import Role
from debtcases.projections.queries import CaseFilter
from tests.builders import INTAKE, SUPPORT, admission

POOLED = 4  # idle connections per pool when the server closes them


def _fill(datastore: object) -> None:
    pool = datastore.pool  # type: ignore[attr-defined]
    held = [pool.getconn() for _ in range(POOLED)]
    for conn in held:
        pool.putconn(conn)


def _close_every_connection(pg_url: str) -> None:
    name = urlparse(pg_url).path.lstrip("/")
    admin = urlunparse(urlparse(pg_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        closed = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert closed is not None and closed[0] >= 2 * POOLED


def test_the_first_requests_after_the_server_closed_every_connection_are_answered(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    # A short timeout: the old behaviour fails within it (the back-off alone is 0+1+2 s).
    container = make_container(pg_url, run_workers=False, db_connect_timeout=3)
    container.cases.admit_many([admission(f"R-{i}", 10001) for i in range(3)], INTAKE)
    while container.runner.step():
        pass
    before = container.views.list_cases(CaseFilter(), Role.SUPPORT, None, 10).total
    for recorder in (container.cases.recorder, container.views.recorder):
        _fill(recorder.datastore)  # type: ignore[attr-defined]

    _close_every_connection(pg_url)

    # Each the first try, no retry loop: a list, a case, a command.
    assert container.views.list_cases(CaseFilter(), Role.SUPPORT, None, 10).total == before
    assert container.cases.get_case("R-1", SUPPORT).order_id == "R-1"
    container.cases.start_dunning("R-2", SUPPORT, "los")
    assert container.cases.get_case("R-2", SUPPORT).state.status.value == "RUNNING"
