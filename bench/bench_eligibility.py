"""Eligibility benchmark: BENCH_ORDERS order facts (default 100,000) reported through the
application, then

- the explainer's latency (p50/p99 over BENCH_QUERIES orders) beside two baselines measured
  in the same run: one raw case read (``DunningCases.get_case``) and one raw facts read;
- the scheduler's rate: one ``admit_due`` round admitting every due order (orders/s) beside
  ``admit_many`` of as many orders directly, and a second round with nothing due (it reads
  the due index only, never every order).

    BENCH_ORDERS=100000 BENCH_BACKENDS=sqlite,postgres .venv/bin/python bench/bench_eligibility.py

PostgreSQL: a throwaway database on the server of BENCH_PG_URL / DEBTCASES_TEST_DATABASE_URL.
No assertions: numbers to read (the target is an explainer p99 <= 20 ms).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.facts_builders import random_facts

from debtcases.bootstrap import build_container
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.domain.actors import Actor

ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "500"))
RECORDED = datetime(2024, 2, 1, tzinfo=UTC)
NOW = datetime(2024, 12, 1, tzinfo=UTC)
INTAKE = Actor.system("bench")
SUPPORT = Actor.support("bench")


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))] * 1000


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def run(url: str, label: str) -> None:
    settings = Settings(database_url=url, run_workers=False, db_pool_size=3)
    c = build_container(settings)
    try:
        rng = random.Random(11)
        t0 = time.perf_counter()
        for i in range(0, ORDERS, 1000):
            batch = [random_facts(rng, f"E-{n:07d}") for n in range(i, min(i + 1000, ORDERS))]
            c.orders.report(batch, INTAKE, RECORDED)
        intake = time.perf_counter() - t0
        print(f"[{label}] intake: {ORDERS} orders in {intake:.1f}s ({ORDERS / intake:.0f}/s)")
        t0 = time.perf_counter()
        c.orders.due_index.catch_up()  # type: ignore[union-attr]
        print(f"[{label}] due index built in {time.perf_counter() - t0:.1f}s")

        t0 = time.perf_counter()
        report = c.orders.admit_due(NOW)
        took = time.perf_counter() - t0
        n = len(report.admitted)
        scheduler = n / took
        print(
            f"[{label}] scheduler: admitted {n} of {ORDERS} orders in {took:.2f}s "
            f"({scheduler:.0f} admissions/s; {ORDERS / took:.0f} orders/s overall; looked at "
            f"{report.looked_at}, not due by the facts known then {report.not_due}, "
            f"had a case {report.existing})"
        )
        t0 = time.perf_counter()
        again = c.orders.admit_due(NOW)
        print(
            f"[{label}] scheduler, second round (nothing due): {len(again.admitted)} admitted "
            f"in {(time.perf_counter() - t0) * 1000:.1f} ms"
        )
        base = [
            Admission(f"X-{i:07d}", 1000, f.amount or 1, "EUR", f.debtor)  # type: ignore[arg-type]
            for i, f in enumerate(random_facts(rng, "x") for _ in range(n))
        ]
        t0 = time.perf_counter()
        for i in range(0, len(base), c.orders.batch_size):
            c.cases.admit_many(base[i : i + c.orders.batch_size], INTAKE, NOW)
        took = time.perf_counter() - t0
        baseline = n / max(took, 1e-9)
        print(
            f"[{label}] baseline admit_many: {n} cases in {took:.2f}s ({baseline:.0f}/s); "
            f"the scheduler's round {scheduler / baseline:.2f} of it"
        )

        ids = [f"E-{rng.randrange(ORDERS):07d}" for _ in range(QUERIES)]
        admitted = report.admitted or ["X-0000000"]
        explain = timed(lambda i: c.orders.explain(ids[i], SUPPORT, NOW), QUERIES)
        raw_case = timed(lambda i: c.cases.get_case(admitted[i % len(admitted)], SUPPORT), QUERIES)
        raw_facts = timed(lambda i: c.orders.facts.get(ids[i]), QUERIES)
        for name, s in (
            ("explainer", explain),
            ("baseline: raw case read", raw_case),
            ("baseline: raw facts read", raw_facts),
        ):
            print(
                f"[{label}] {name}: p50 {pct(s, 0.5):.2f} ms, p99 {pct(s, 0.99):.2f} ms, "
                f"mean {statistics.mean(s) * 1000:.2f} ms ({QUERIES} samples)"
            )
    finally:
        c.close()


def main() -> None:
    backends = os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as d:
            run(f"sqlite:///{d}/bench.sqlite", "sqlite")
    pg = os.environ.get("BENCH_PG_URL") or os.environ.get("DEBTCASES_TEST_DATABASE_URL")
    if "postgres" in backends and pg:
        import psycopg

        name = "bench_elig_" + uuid.uuid4().hex[:8]
        parsed = urlparse(pg)
        admin = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run(urlunparse(parsed._replace(path="/" + name)), "postgres")
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
