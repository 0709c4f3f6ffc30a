"""Read-model benchmark: seeds BENCH_CASES cases (default 20000), measures rebuild speed
(events/s) and list-page latency (p50/p99) for typical filters, on PostgreSQL and SQLite.

    BENCH_CASES=20000 BENCH_PG_URL=postgresql://postgres@127.0.0.1:54329/postgres \
        .venv/bin/python bench/bench_views.py

BENCH_BACKENDS=postgres,sqlite chooses the backends (PostgreSQL: a throwaway database is
created on the server of BENCH_PG_URL / DEBTCASES_TEST_DATABASE_URL and dropped after).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
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
VENDORS = max(10, CASES // 200)
DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
START = datetime(2024, 1, 1, tzinfo=UTC)


def seed(container: Any, log: Any = None) -> int:
    """Seed through the application: admit_many in batches (BENCH_ADMIT_BATCH), then every
    tenth case started (every fiftieth also blocked), BENCH_SAVE_BATCH aggregates per
    transaction (the aggregate decides, the application saves: the same events as the
    commands, without one transaction per command, which would take hours at 1M cases)."""
    app = container.cases
    rnd = random.Random(7)
    # One admission time per batch: at least 200 batches, so the months fill evenly.
    batch = int(os.environ.get("BENCH_ADMIT_BATCH", str(min(5000, max(1000, CASES // 200)))))
    save_batch = int(os.environ.get("BENCH_SAVE_BATCH", "1000"))
    t0 = time.perf_counter()
    for i in range(0, CASES, batch):
        at = START + timedelta(days=(i * 365) // max(CASES, 1))
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
        if log is not None and (i // batch) % 20 == 0:
            log(f"admitted {i + batch:,} of {CASES:,} ({time.perf_counter() - t0:.0f}s)")
    support = Actor.support("bench")
    started = list(range(0, CASES, 10))
    for i in range(0, len(started), save_batch):
        now = datetime.now(tz=UTC)
        cases = []
        for n in started[i : i + save_batch]:
            case = app.repository.get(case_id_for(f"O-{n:08d}"))
            case.start_dunning(support, now, "los", app.served_countries)
            if n % 50 == 0:
                case.block(support, now, "Pause")
            cases.append(case)
        app.save(*cases)
        if log is not None and (i // save_batch) % 20 == 0:
            log(f"started {i + save_batch:,} of {len(started):,} ({time.perf_counter() - t0:.0f}s)")
    return app.recorder.max_notification_id() or 0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def run(label: str, url: str) -> list[tuple[str, ...]]:
    class Rows(list[tuple[str, ...]]):
        def append(self, row: tuple[str, ...]) -> None:
            super().append(row)
            print("  ".join(row), flush=True)  # partial results survive an interrupted run

    rows = Rows()
    container = build_container(Settings(database_url=url, run_workers=False))
    try:
        t0 = time.perf_counter()
        events = seed(container, lambda m: print(f"[{label}] {m}", flush=True))
        seeded = time.perf_counter() - t0
        rows.append((label, "seed (commands)", f"{events} events", f"{seeded:.1f}s", ""))
        views: Any = container.views
        step = max(100_000, events // 10)

        def progress(view: str, done: int, head: int) -> None:
            if done // step != (done - 5000) // step or done >= head:
                print(f"[{label}] rebuild {view}: {done:,} of {head:,}", flush=True)

        results = rebuild(views, container.cases, progress=progress)
        for r in results:
            rows.append(
                (
                    label,
                    f"rebuild {r.view}",
                    f"{r.events_per_second:,.0f} events/s",
                    f"{r.seconds:.1f}s",
                    "",
                )
            )
        rnd = random.Random(1)
        vendor = lambda: 10000 + rnd.randrange(VENDORS)  # noqa: E731
        filters: list[tuple[str, Any]] = [
            ("support: all, page 1", lambda: (CaseFilter(), Role.SUPPORT, None, 1)),
            ("support: all, page 20", lambda: (CaseFilter(), Role.SUPPORT, None, 20)),
            (
                "support: order_id",
                lambda: (
                    CaseFilter(order_id=f"O-{rnd.randrange(CASES):08d}"),
                    Role.SUPPORT,
                    None,
                    1,
                ),
            ),
            ("support: user_id", lambda: (CaseFilter(user_id=vendor()), Role.SUPPORT, None, 1)),
            (
                "support: status=RUNNING",
                lambda: (CaseFilter(statuses=(Status.RUNNING,)), Role.SUPPORT, None, 1),
            ),
            (
                "support: period=2024-06",
                lambda: (CaseFilter(period="2024-06"), Role.SUPPORT, None, 1),
            ),
            ("vendor: own", lambda: (CaseFilter(), Role.VENDOR, vendor(), 1)),
            (
                "vendor: own, status=LOCKED",
                lambda: (CaseFilter(statuses=(Status.LOCKED,)), Role.VENDOR, vendor(), 1),
            ),
        ]
        for name, make in filters:
            times = []
            for _ in range(QUERIES):
                f, role, vid, page = make()
                t = time.perf_counter()
                views.page_cases(f, role, vid, page, 50)
                times.append((time.perf_counter() - t) * 1000)
            rows.append(
                (
                    label,
                    f"page {name}",
                    f"p50 {statistics.median(times):.2f} ms",
                    f"p99 {pct(times, 99):.2f} ms",
                    "",
                )
            )
        # History by replay (no history view): a 10-event case.
        app = container.cases
        app.admit(Admission("H-1", 10000, Decimal("1.00"), "EUR", DEBTOR), Actor.system("b"))
        s = Actor.support("b")
        app.start_dunning("H-1", s)
        for _ in range(4):
            app.block("H-1", s, "p")
            app.unblock("H-1", s, "w")
        app.hand_over("H-1", s, "h")
        times = []
        for _ in range(QUERIES):
            t = time.perf_counter()
            assert len(app.history("H-1", s)) == 11
            times.append((time.perf_counter() - t) * 1000)
        rows.append(
            (
                label,
                "history by replay (11 events)",
                f"p50 {statistics.median(times):.2f} ms",
                f"p99 {pct(times, 99):.2f} ms",
                "",
            )
        )
    finally:
        container.close()
    return rows


def main() -> None:
    backends = os.environ.get("BENCH_BACKENDS", "postgres,sqlite").split(",")
    table: list[tuple[str, ...]] = []
    if "postgres" in backends:
        import psycopg

        server = os.environ.get("BENCH_PG_URL") or os.environ.get(
            "DEBTCASES_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:54329/postgres"
        )
        parsed = urlparse(server)
        name = "bench_" + uuid.uuid4().hex[:10]
        admin = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            table += run("postgres", urlunparse(parsed._replace(path="/" + name)))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            table += run("sqlite", f"sqlite:///{tmp}/bench.sqlite")
    print(f"\nBENCH_CASES={CASES} vendors={VENDORS} queries/filter={QUERIES}")
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)))


if __name__ == "__main__":
    main()
