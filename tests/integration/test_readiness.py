"""/readyz: ready only while the database answers and every view is within its lag bound;
/healthz only says the process is up."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from tests.builders import DEBTOR


def _admit(container: Container, prefix: str, n: int) -> None:
    container.cases.admit_many(
        [Admission(f"{prefix}-{i}", 79424, Decimal("5.00"), "EUR", DEBTOR) for i in range(n)],
        Actor.system("intake"),
    )


def test_readyz_fails_while_a_view_lags_beyond_the_bound_and_recovers(
    tmp_path: Path, make_container: Callable[..., Container]
) -> None:
    # Another process is meant to project (no workers here), and it is behind.
    container = make_container(f"sqlite:///{tmp_path}/r.sqlite", run_workers=False, ready_max_lag=3)
    client = TestClient(create_app(container))
    _admit(container, "R", 2)
    assert client.get("/readyz").status_code == 200
    _admit(container, "S", 5)
    lagging = client.get("/readyz")
    assert lagging.status_code == 503
    assert lagging.json()["checks"]["view:cases"] == {"ok": False, "lag": 7, "bound": 3}
    assert client.get("/healthz").status_code == 200
    while container.runner.step():
        pass
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["view:cases"]["lag"] == 0


def test_readyz_fails_while_postgres_refuses_connections(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(pg_url, run_workers=False, db_connect_timeout=1)
    client = TestClient(create_app(container))
    assert client.get("/readyz").status_code == 200
    name = urlparse(pg_url).path.lstrip("/")
    admin = urlunparse(urlparse(pg_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    try:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["database"]["ok"] is False
        assert client.get("/healthz").status_code == 200
        # Nothing a client sends gives a 500, not even while the database is away.
        refused = client.get("/api/v1/cases/R-1", headers={"Authorization": "Bearer dc_x"})
        assert refused.status_code == 503
        assert refused.json()["code"] == "unavailable"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # The connection pool reconnects by itself, with back-off: ready again within a bound.
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again a minute after the outage"
        time.sleep(0.5)
