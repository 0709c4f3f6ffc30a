"""The CSV export alone (issue 10), before/after in ONE run: `make bench`'s CSV figure
(``GET /api/v1/support/cases.csv`` over HTTP against `debtcases serve`, serve's RSS
sampled every 10 ms, csv.writer writing the same rows in memory as the baseline) on the
same seeded database, for this checkout's code and, with BENCH_EXPORT_BEFORE, for another
checkout's (e.g. ``git archive main | tar -x -C /tmp/before``), rounds alternating. The
two servers' files are compared byte for byte.

    DEBTCASES_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:54329/debtcases_test \
    BENCH_CASES=100000 BENCH_EXPORT_BEFORE=/tmp/before/src .venv/bin/python -m bench.bench_export

Environment: BENCH_CASES (seeded as `make bench` seeds them), BENCH_EXPORT_ROUNDS
(default 5), BENCH_EXPORT_BEFORE (the other checkout's ``src``), BENCH_EXPORT_DB (an
already seeded database on that server to reuse; otherwise a throwaway one),
BENCH_EXPORT_KEEP=1 (keep the throwaway database and print its name), BENCH_PROFILE (a
py-spy profile of the second round of each server).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

from bench.load import Sequential
from bench.report import median
from bench.run import (
    ADMIT_BATCH,
    CASES,
    START,
    SYSTEM,
    RssSampler,
    Served,
    admission,
    bearer,
    log,
    profiled,
    start_some,
)
from debtcases.bootstrap import build_container
from debtcases.config import Settings
from debtcases.domain.actors import Role

ROUNDS = int(os.environ.get("BENCH_EXPORT_ROUNDS", "5"))
BEFORE = os.environ.get("BENCH_EXPORT_BEFORE")


@contextlib.contextmanager
def database(server_url: str, kind: str = "export") -> Iterator[tuple[str, bool]]:
    """(URL, whether it still needs seeding): a throwaway database ``bench_KIND_...`` on the
    server of ``server_url``, dropped after, or the one ``BENCH_KIND_DB`` names (reused as
    it is); ``BENCH_KIND_KEEP=1`` keeps the throwaway one. ``kind``: export, rebuild."""
    knob = f"BENCH_{kind.upper()}"
    parsed = urlparse(server_url)
    reuse = os.environ.get(f"{knob}_DB")
    if reuse:
        yield urlunparse(parsed._replace(path="/" + reuse)), False
        return
    admin = urlunparse(parsed._replace(path="/postgres"))
    name = f"bench_{kind}_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(parsed._replace(path="/" + name)), True
    finally:
        if os.environ.get(f"{knob}_KEEP") == "1":
            log(f"kept database {name} ({knob}_DB={name} reuses it)")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str) -> None:
    """As `make bench` seeds: CASES admitted in batches of 1,000, every tenth started,
    every fiftieth of those blocked; then the views caught up."""
    c = build_container(Settings(database_url=url, run_workers=False))
    try:
        for start in range(0, CASES, ADMIT_BATCH):
            at = START + timedelta(days=(start * 365) // max(CASES, 1))
            batch = [admission(n) for n in range(start, min(CASES, start + ADMIT_BATCH))]
            c.cases.admit_many(batch, SYSTEM, now=at)
            if start % 50_000 == 0:
                log(f"seed: {start + len(batch):,} of {CASES:,} admitted")
        start_some(c)
        c.runner.batch_size = 5000
        c.runner.catch_up()
    finally:
        c.close()


def token(url: str) -> str:
    c = build_container(Settings(database_url=url, run_workers=False))
    try:
        return c.keys.create(Role.SUPPORT, name="bench-export")
    finally:
        c.close()


def serve(url: str, workdir: Path, src: str | None) -> Served:
    old = os.environ.get("PYTHONPATH")
    try:
        if src:
            os.environ["PYTHONPATH"] = src
        return Served(url, workdir)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def main() -> None:
    server = os.environ.get("DEBTCASES_TEST_DATABASE_URL")
    if not server:
        raise SystemExit("set DEBTCASES_TEST_DATABASE_URL")
    with database(server) as (url, fresh), tempfile.TemporaryDirectory() as tmp:
        if fresh:
            t = time.perf_counter()
            seed(url)
            log(f"seeded {CASES:,} cases in {time.perf_counter() - t:.0f} s")
        headers = bearer(token(url))
        names = (["before"] if BEFORE else []) + ["after"]
        servers = {}
        for name in names:
            workdir = Path(tmp) / name
            workdir.mkdir()
            servers[name] = serve(url, workdir, BEFORE if name == "before" else None)
        export_s: dict[str, list[float]] = {n: [] for n in names}
        writer_s: list[float] = []
        growth: dict[str, list[float]] = {n: [] for n in names}
        bodies: dict[str, bytes] = {}
        rows_exported = 0
        try:
            for r in range(ROUNDS):
                order = names if r % 2 == 0 else names[::-1]
                for name in order:
                    s = servers[name]
                    client = Sequential(s.port)
                    try:
                        before = s.rss_mb()
                        sampler = RssSampler(s)
                        ctx = profiled(f"export-{name}", s.pid) if r == 1 else None
                        with ctx or contextlib.nullcontext():
                            status, body, ms = client.request(
                                "GET", "/api/v1/support/cases.csv", headers
                            )
                        peak = sampler.stop()
                    finally:
                        client.close()
                    if status != 200:
                        raise RuntimeError(f"{name}: {status} {body[:300]!r}")
                    export_s[name].append(ms / 1000)
                    growth[name].append(peak - before)
                    bodies[name] = body
                    log(f"round {r + 1} {name}: {ms / 1000:.2f} s, RSS +{peak - before:.1f} MB")
                rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
                rows_exported = len(rows) - 1
                buffer = io.StringIO()
                t = time.perf_counter()
                csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
                writer_s.append(time.perf_counter() - t)
                if BEFORE:
                    # Every case's updated_at is the same in both files (no writes meanwhile).
                    assert bodies["before"] == bodies["after"], "the files differ"
        finally:
            for s in servers.values():
                s.stop()
    scale = 100_000 / max(rows_exported, 1)
    base = median(writer_s) * scale
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nBENCH_CASES={CASES:,}, {rows_exported:,} rows, {ROUNDS} rounds, load {load}")
    print("| export | s per 100,000 rows | csv.writer in memory (same run) | ratio | RSS growth |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        value = median(export_s[name]) * scale
        print(
            f"| {name} | {value:.2f} s | {base:.2f} s | {value / base:.1f} "
            f"| {max(growth[name]):.1f} MB |"
        )
    print(f"raw: {export_s} writer {writer_s} growth {growth}")
    if BEFORE:
        print("files byte-identical: yes")


if __name__ == "__main__":
    main()
