"""As-of benchmark: an ``as_of`` list page (the temporal view) beside today's list page,
measured in the same run over the same data, p50/p99 per list shape; issue 11's target is
an as_of page p99 <= 3x today's page p99.

    BENCH_CASES=100000 BENCH_BACKENDS=postgres,sqlite .venv/bin/python -m bench.bench_as_of

``make bench`` runs it after ``bench/run.py`` on PostgreSQL with the same BENCH_CASES
(``scripts/bench.sh``) and writes its figures as JSON under bench/results/ (BENCH_RESULTS),
``*-as_of.json``.

Seeds BENCH_CASES cases (default 100,000; ~200 per vendor) over a year of admissions
(``admit_many``, batches of 1,000, as ``bench/run.py`` does), then three rounds of changes
at later moments, one a second (a third started, a ninth blocked, an eighteenth
unblocked; loaded 1,000 cases a query, saved 1,000 a transaction), so cases have several
versions; fills the cases view with a rebuild (rows, versions, as-of counts) and then
times BENCH_QUERIES (default 200) pages per shape, today's and the as_of page alternately,
each ``as_of`` at a random moment (to the second) within the seeded history. PostgreSQL:
a throwaway database on the server of BENCH_PG_URL / DEBTCASES_TEST_DATABASE_URL, dropped
after. 1,000,000 cases: ~1.5 M events, seeding + rebuild about 25 minutes here.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from bench.report import Figure, Target, markdown_table, result_document, result_filename
from debtcases.bootstrap import build_container
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild

ROOT = Path(__file__).resolve().parent.parent
CASES = int(os.environ.get("BENCH_CASES", "100000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
VENDORS = max(100, CASES // 200)
BATCH = 1000
DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
START = datetime(2024, 1, 1, tzinfo=UTC)
# The changes after the admissions: (day, which cases (every n-th), what)
ROUNDS = ((400, 3, "start"), (430, 9, "block"), (460, 18, "unblock"))
T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[as_of {time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def seed(container: Any, label: str) -> int:
    app = container.cases
    rnd = random.Random(7)
    for i in range(0, CASES, BATCH):
        at = START + timedelta(days=(i * 365) // CASES, seconds=i % 86400)
        app.admit_many(
            [
                Admission(
                    f"O-{n:08d}", 10000 + rnd.randrange(VENDORS), Decimal("49.90"), "EUR", DEBTOR
                )
                for n in range(i, min(i + BATCH, CASES))
            ],
            Actor.system("bench"),
            now=at,
        )
        if i % (BATCH * 100) == 0:
            log(f"[{label}] admitted {i + BATCH:,} of {CASES:,}")
    support = Actor.support("bench")
    for day, every, what in ROUNDS:
        chosen = [f"O-{n:08d}" for n in range(0, CASES, every)]
        for i in range(0, len(chosen), BATCH):
            # The bulk read of the intake and the ack batches: 1,000 streams a query.
            loaded = app._load_many(chosen[i : i + BATCH])
            cases = []
            for k, order_id in enumerate(chosen[i : i + BATCH]):
                now = START + timedelta(days=day, seconds=i + k)
                case = loaded[order_id]
                if what == "start":
                    case.start_dunning(support, now, "los", app.served_countries)
                elif what == "block":
                    case.block(support, now, "Pause")
                else:
                    case.unblock(support, now, "weiter")
                cases.append(case)
            app._save(*cases)
        log(f"[{label}] round {what}: {len(chosen):,} cases")
    return app.recorder.max_notification_id() or 0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def timed(today: Callable[[], Any], as_of: Callable[[], Any]) -> tuple[list[float], list[float]]:
    """QUERIES pages of each, alternately (which goes first alternates too), so both see
    the same load on the shared machine."""
    today()  # warm
    as_of()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(QUERIES):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            query = (today, as_of)[which]
            t0 = time.perf_counter()
            query()
            times[which].append((time.perf_counter() - t0) * 1000)
    return times


def run(label: str, url: str) -> tuple[list[Figure], dict[str, float]]:
    container = build_container(Settings(database_url=url, run_workers=False))
    phases: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        events = seed(container, label)
        phases[f"{label}: seed"] = round(time.perf_counter() - t0, 1)
        log(f"[{label}] seeded {CASES:,} cases, {events:,} events in {phases[f'{label}: seed']}s")
        t0 = time.perf_counter()
        rebuild(container.views, container.cases, ["cases"])
        phases[f"{label}: rebuild cases"] = round(time.perf_counter() - t0, 1)
        took = phases[f"{label}: rebuild cases"]
        log(f"[{label}] rebuild cases (rows, versions, as-of counts): {took}s")
        views: Any = container.views
        rnd = random.Random(1)

        def vendor() -> int:
            return 10000 + rnd.randrange(VENDORS)

        def moment() -> datetime:
            """Within the history (to the second): the admissions or the rounds."""
            return START + timedelta(seconds=rnd.randrange(30 * 86400, 480 * 86400))

        def month() -> str:
            return f"2024-{rnd.randrange(1, 13):02d}"

        shapes: list[tuple[str, str, Callable[[datetime | None], Any]]] = [
            (
                "all",
                "support: all, page 1",
                lambda at: views.page_cases(CaseFilter(), Role.SUPPORT, None, as_of=at),
            ),
            (
                "status",
                "support: status=RUNNING",
                lambda at: views.page_cases(
                    CaseFilter(statuses=(Status.RUNNING,)), Role.SUPPORT, None, as_of=at
                ),
            ),
            (
                "period",
                "support: period (a month of 2024)",
                lambda at: views.page_cases(
                    CaseFilter(period=month()), Role.SUPPORT, None, as_of=at
                ),
            ),
            (
                "user",
                "support: user_id",
                lambda at: views.page_cases(
                    CaseFilter(user_id=vendor()), Role.SUPPORT, None, as_of=at
                ),
            ),
            (
                "vendor",
                "vendor: own",
                lambda at: views.page_cases(CaseFilter(), Role.VENDOR, vendor(), as_of=at),
            ),
            (
                "vendor_status",
                "vendor: own, status=LOCKED",
                lambda at: views.page_cases(
                    CaseFilter(statuses=(Status.LOCKED,)), Role.VENDOR, vendor(), as_of=at
                ),
            ),
        ]
        figures = []
        print(f"| {label}, {CASES:,} cases | today p50 / p99 | as_of p50 / p99 | p99 ratio |")
        print("| --- | --- | --- | ---: |")
        for key, name, query in shapes:
            today, as_of = timed(partial(query, None), lambda q=query: q(moment()))  # type: ignore[misc]
            now50, now99 = pct(today, 50), pct(today, 99)
            at50, at99 = pct(as_of, 50), pct(as_of, 99)
            print(
                f"| {name} | {now50:.2f} / {now99:.2f} ms | {at50:.2f} / {at99:.2f} ms "
                f"| {at99 / now99:.1f}x |",
                flush=True,
            )
            figures.append(
                Figure(
                    f"as_of_{label.lower()}_{key}",
                    f"{label}: as_of page p99, {name}",
                    at99,
                    "ms",
                    now99,
                    "today's page p99",
                    target=Target("ratio_max", 3.0, "≤ 3x today's list page"),
                    rounds=QUERIES,
                    detail={"as_of_p50_ms": at50, "today_p50_ms": now50},
                )
            )
        return figures, phases
    finally:
        container.close()


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    backends = os.environ.get("BENCH_BACKENDS", "postgres,sqlite").split(",")
    date = datetime.now(tz=UTC).isoformat(timespec="seconds")
    load_at_start = os.getloadavg()
    figures: list[Figure] = []
    phases: dict[str, float] = {}
    notes: list[str] = []
    log(f"BENCH_CASES={CASES:,}, {VENDORS} vendors, queries {QUERIES}, backends {backends}")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            found, took = run("SQLite", f"sqlite:///{tmp}/bench.sqlite")
            figures += found
            phases.update(took)
    if "postgres" in backends:
        import psycopg

        server = os.environ.get("BENCH_PG_URL") or os.environ.get("DEBTCASES_TEST_DATABASE_URL")
        if not server:
            notes.append("PostgreSQL skipped: set BENCH_PG_URL or DEBTCASES_TEST_DATABASE_URL")
        else:
            name = "bench_asof_" + uuid.uuid4().hex[:8]
            admin = urlunparse(urlparse(server)._replace(path="/postgres"))
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                found, took = run(
                    "PostgreSQL", urlunparse(urlparse(server)._replace(path="/" + name))
                )
                figures += found
                phases.update(took)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
    }
    document = result_document(
        date=date,
        machine=machine,
        commit=git_commit(),
        bench_cases=CASES,
        figures=figures,
        notes=notes,
        phases=phases,
    )
    directory = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
    directory.mkdir(parents=True, exist_ok=True)
    name = result_filename(date, CASES, document["git_commit"]).replace(".json", "-as_of.json")
    path = directory / name
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(
        f"as_of, BENCH_CASES={CASES:,} · {date} · load {load_at_start[0]:.1f} → "
        f"{machine['load_average_at_end'][0]:.1f}"  # type: ignore[index]
    )
    print(markdown_table(figures))
    print(f"JSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
