"""As-of benchmark (standalone): an ``as_of`` list page (the temporal view) beside today's
list page, measured in the same run over the same data, p50/p99 per list shape.

    BENCH_CASES=20000 BENCH_BACKENDS=postgres,sqlite .venv/bin/python bench/bench_as_of.py

Seeds BENCH_CASES cases (default 20,000; 100+ vendors) through the application over a year
of admissions, then three rounds of changes at later moments (a third started, some
blocked, some unblocked), so cases have several versions; fills the views with a rebuild
(which writes the versions too) and then times BENCH_QUERIES (default 200) pages per shape,
each ``as_of`` at a random moment within the seeded history. PostgreSQL: a throwaway
database on the server of BENCH_PG_URL / DEBTCASES_TEST_DATABASE_URL, dropped after.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse, urlunparse

from debtcases.bootstrap import build_container
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import case_id_for
from debtcases.domain.debtor import Debtor
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild

CASES = int(os.environ.get("BENCH_CASES", "20000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
VENDORS = max(100, CASES // 200)
DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
START = datetime(2024, 1, 1, tzinfo=UTC)
# The changes after the admissions: (day, which cases (every n-th), what)
ROUNDS = ((400, 3, "start"), (430, 9, "block"), (460, 18, "unblock"))


def seed(container: Any) -> int:
    app = container.cases
    rnd = random.Random(7)
    batch = 2000
    for i in range(0, CASES, batch):
        at = START + timedelta(days=(i * 365) // CASES, seconds=i % 86400)
        app.admit_many(
            [
                Admission(
                    f"O-{n:08d}", 10000 + rnd.randrange(VENDORS), Decimal("49.90"), "EUR", DEBTOR
                )
                for n in range(i, min(i + batch, CASES))
            ],
            Actor.system("bench"),
            now=at,
        )
    support = Actor.support("bench")
    for day, every, what in ROUNDS:
        chosen = list(range(0, CASES, every))
        for i in range(0, len(chosen), 1000):
            cases = []
            for k, n in enumerate(chosen[i : i + 1000]):
                now = START + timedelta(days=day, seconds=i + k)
                case = app.repository.get(case_id_for(f"O-{n:08d}"))
                if what == "start":
                    case.start_dunning(support, now, "los", app.served_countries)
                elif what == "block":
                    case.block(support, now, "Pause")
                else:
                    case.unblock(support, now, "weiter")
                cases.append(case)
            app.save(*cases)
    return app.recorder.max_notification_id() or 0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def timed(query: Callable[[], Any]) -> tuple[float, float]:
    query()  # warm
    times = []
    for _ in range(QUERIES):
        t0 = time.perf_counter()
        query()
        times.append((time.perf_counter() - t0) * 1000)
    return pct(times, 50), pct(times, 99)


def run(label: str, url: str) -> None:
    container = build_container(Settings(database_url=url, run_workers=False))
    try:
        t0 = time.perf_counter()
        events = seed(container)
        print(
            f"[{label}] seeded {CASES:,} cases, {events:,} events "
            f"in {time.perf_counter() - t0:.0f}s"
        )
        t0 = time.perf_counter()
        rebuild(container.views, container.cases, ["cases"])
        print(f"[{label}] rebuild cases (rows + versions): {time.perf_counter() - t0:.1f}s")
        views: Any = container.views
        rnd = random.Random(1)
        vendor = lambda: 10000 + rnd.randrange(VENDORS)  # noqa: E731
        # A moment within the history: during the admissions or the rounds of changes.
        moment = lambda: START + timedelta(days=rnd.randrange(30, 480))  # noqa: E731
        shapes: list[tuple[str, Callable[[datetime | None], Any]]] = [
            (
                "support: all, page 1",
                lambda at: views.page_cases(CaseFilter(), Role.SUPPORT, None, as_of=at),
            ),
            (
                "support: status=RUNNING",
                lambda at: views.page_cases(
                    CaseFilter(statuses=(Status.RUNNING,)), Role.SUPPORT, None, as_of=at
                ),
            ),
            (
                "support: user_id",
                lambda at: views.page_cases(
                    CaseFilter(user_id=vendor()), Role.SUPPORT, None, as_of=at
                ),
            ),
            (
                "vendor: own",
                lambda at: views.page_cases(CaseFilter(), Role.VENDOR, vendor(), as_of=at),
            ),
            (
                "vendor: own, status=LOCKED",
                lambda at: views.page_cases(
                    CaseFilter(statuses=(Status.LOCKED,)), Role.VENDOR, vendor(), as_of=at
                ),
            ),
        ]
        print(f"| {label}, {CASES:,} cases | today p50 / p99 | as_of p50 / p99 | p99 ratio |")
        print("| --- | --- | --- | ---: |")
        for name, query in shapes:
            now50, now99 = timed(lambda q=query: q(None))  # type: ignore[misc]
            at50, at99 = timed(lambda q=query: q(moment()))  # type: ignore[misc]
            print(
                f"| {name} | {now50:.2f} / {now99:.2f} ms | {at50:.2f} / {at99:.2f} ms "
                f"| {at99 / now99:.1f}x |",
                flush=True,
            )
    finally:
        container.close()


def main() -> None:
    backends = os.environ.get("BENCH_BACKENDS", "postgres,sqlite").split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.sqlite")
    if "postgres" in backends:
        import psycopg

        server = os.environ.get("BENCH_PG_URL") or os.environ.get("DEBTCASES_TEST_DATABASE_URL")
        if not server:
            print("PostgreSQL skipped: set BENCH_PG_URL or DEBTCASES_TEST_DATABASE_URL")
            return
        name = "bench_asof_" + uuid.uuid4().hex[:8]
        admin = urlunparse(urlparse(server)._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run("PostgreSQL", urlunparse(urlparse(server)._replace(path="/" + name)))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
