"""A list page on PostgreSQL reads its rows and its total in one round trip, from the
generation the last page came from, checking the live one in the same round trip: a
rebuild's switch (and the old generation dropped) never shows a page of a generation that
is not live, and the lists recover from a database that closed their connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg

from debtcases.bootstrap import Container
from debtcases.domain.actors import Role
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild
from debtcases.projections.tables import CASES
from tests.builders import INTAKE, SUPPORT, admission

ALL = CaseFilter()


def _seeded(make_container: Callable[..., Container], pg_url: str) -> Container:
    container = make_container(pg_url, run_workers=False)
    container.cases.admit_many([admission(f"P-{i:02d}", 10000 + i % 3) for i in range(12)], INTAKE)
    container.cases.start_dunning("P-03", SUPPORT, "los")
    while container.runner.step():
        pass
    return container


def _page(container: Container, role: Role = Role.SUPPORT, vendor: int | None = None) -> Any:
    found = container.views.list_cases(ALL, role, vendor, 5)
    return [(i["order_id"], i["debtor"]["name"]) for i in found.items], found.total


def test_a_page_after_a_rebuild_switched_is_read_from_the_live_generation(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    container = _seeded(make_container, pg_url)
    before = _page(container)
    old = container.views.recorder.live_generation(CASES)
    rebuild(container.views, container.cases)
    assert container.views.recorder.live_generation(CASES) == old + 1
    # The old generation is kept after the switch: make it say something else.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"UPDATE view_cases_g{old} SET debtor_name = 'stale'")
        conn.execute(f"UPDATE view_case_totals_g{old} SET n = n + 1000")

    assert _page(container) == before
    assert _page(container, Role.VENDOR, 10001)[1] == 4


def test_a_page_after_the_generation_it_last_came_from_was_dropped_is_read(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    container = _seeded(make_container, pg_url)
    before = _page(container)
    old = container.views.recorder.live_generation(CASES)
    rebuild(container.views, container.cases)
    rebuild(container.views, container.cases)  # drops the generations before the last
    with psycopg.connect(pg_url, autocommit=True) as conn:
        gone = conn.execute("SELECT to_regclass(%s)", (f"view_cases_g{old}",)).fetchone()
    assert gone == (None,)

    assert _page(container) == before
    assert _page(container) == before


def test_the_lists_answer_again_after_the_database_closed_their_connections(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    container = _seeded(make_container, pg_url)
    before = _page(container)
    name = urlparse(pg_url).path.lstrip("/")
    admin = urlunparse(urlparse(pg_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )

    # The first broken connection has the pool check every idle one (test_pool_recovery).
    again = _page(container)
    assert again == before
    assert _page(container, Role.VENDOR, 10001)[1] == 4
