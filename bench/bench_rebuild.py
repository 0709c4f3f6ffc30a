"""The rebuild of all views alone (issue 10), before/after in ONE run: `make bench`'s rebuild
figure (``rebuild``: every view into fresh generations, then the switch) beside reading and
decoding the whole log, on the same seeded database, for this checkout's code and, with
BENCH_REBUILD_BEFORE, for another checkout's (e.g. ``git archive main src | tar -x -C
/tmp/before``), rounds alternating. Each round runs in its own process (read+decode,
rebuild, read+decode), so each rebuild stands beside its own baseline; the rebuilt tables
of the two are compared (a digest of every table's rows).

    DEBTCASES_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:54329/debtcases_test \
    BENCH_CASES=100000 BENCH_REBUILD_BEFORE=/tmp/before/src .venv/bin/python -m bench.bench_rebuild

Environment: BENCH_CASES (seeded as `make bench` seeds them), BENCH_REBUILD_ROUNDS
(default 4), BENCH_REBUILD_BEFORE (the other checkout's ``src``), BENCH_REBUILD_DB (an
already seeded database on that server to reuse; otherwise a throwaway one),
BENCH_REBUILD_KEEP=1 (keep the throwaway database and print its name), BENCH_PROFILE (a
py-spy profile of the second round of each). Besides the wall time, each round reports the
CPU time of its process and of the database's backends on that database (PostgreSQL on
this machine, read from /proc; parallel workers that exited are not counted): on a loaded
machine the work done says more than the wall time.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_export import database, seed
from bench.report import median
from bench.run import CASES, log, read_and_decode

ROUNDS = int(os.environ.get("BENCH_REBUILD_ROUNDS", "4"))
BEFORE = os.environ.get("BENCH_REBUILD_BEFORE")
ROOT = Path(__file__).resolve().parent.parent


def digest(url: str) -> dict[str, str]:
    """Every live view table: its row count and a digest of its rows (sorted as text)."""
    out: dict[str, str] = {}
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT view, live FROM projection_generations").fetchall()
        live: dict[str, int] = {str(v): int(g) for v, g in rows}
        from debtcases.projections.tables import tables_of

        for view, gen in sorted(live.items()):
            for table in tables_of(view, int(gen)):
                n, md5 = conn.execute(
                    f"SELECT COUNT(*), md5(string_agg(x, E'\\n' ORDER BY x)) "
                    f"FROM (SELECT t::text AS x FROM {table} t) s"
                ).fetchone()  # type: ignore[misc]
                out[table.rsplit("_g", 1)[0]] = f"{n} rows {md5}"
    return out


def backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds (user + system) of every PostgreSQL backend on ``url``'s database, by
    pid (the server runs on this machine: its /proc). Under load the wall times of the
    rounds mostly tell how busy the two cores are; this tells the database's work."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
    for (pid,) in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def one_round(url: str) -> dict[str, Any]:
    """In this process: read+decode, rebuild, read+decode (the code on sys.path)."""
    from debtcases.bootstrap import build_container
    from debtcases.config import Settings
    from debtcases.projections.rebuild import rebuild

    c = build_container(Settings(database_url=url, run_workers=False))
    try:
        head = c.cases.recorder.max_notification_id() or 0
        decode = [read_and_decode(c)[1]]
        pg_before = backends_cpu(url)
        cpu = time.process_time()
        t = time.perf_counter()
        rebuild(c.views, c.cases)
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
        pg_after = backends_cpu(url)
        pg_cpu = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
        decode.append(read_and_decode(c)[1])
    finally:
        c.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "events": head,
        "seconds": seconds,
        "cpu": cpu,
        "pg_cpu": pg_cpu,
        "decode": decode,
        "rss_mb": rss,
    }


def run_round(url: str, src: str | None, profile: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, "-m", "bench.bench_rebuild", "--round", url]
    if profile:
        cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "67", "-f", "raw"]
        cmd += ["-o", profile, "--", sys.executable, "-m", "bench.bench_rebuild", "--round", url]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for line in done.stderr.splitlines():
        if "rebuild cases" in line:
            result["log"] = line.split("rebuild ", 1)[-1]
    return result


def main() -> None:
    if sys.argv[1:2] == ["--round"]:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        print(json.dumps(one_round(sys.argv[2])))
        return
    server = os.environ.get("DEBTCASES_TEST_DATABASE_URL")
    if not server:
        raise SystemExit("set DEBTCASES_TEST_DATABASE_URL")
    profile_dir = os.environ.get("BENCH_PROFILE")
    with database(server, "rebuild") as (url, fresh):
        if fresh:
            t = time.perf_counter()
            seed(url)
            log(f"seeded {CASES:,} cases in {time.perf_counter() - t:.0f} s")
        names = (["before"] if BEFORE else []) + ["after"]
        results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        digests: dict[str, dict[str, str]] = {}
        for r in range(ROUNDS):
            for name in names if r % 2 == 0 else names[::-1]:
                profile = None
                if profile_dir and r == 1:
                    Path(profile_dir).mkdir(parents=True, exist_ok=True)
                    profile = str(Path(profile_dir) / f"rebuild-{name}.txt")
                x = run_round(url, BEFORE if name == "before" else None, profile)
                results[name].append(x)
                digests[name] = digest(url)
                rate = x["events"] / x["seconds"]
                base = median(x["decode"])
                log(
                    f"round {r + 1} {name}: {rate:,.0f} events/s beside read+decode "
                    f"{base:,.0f} ({rate / base:.3f}); {x['seconds']:.2f} s, CPU {x['cpu']:.2f} s "
                    f"+ PostgreSQL {x['pg_cpu']:.2f} s, "
                    f"peak RSS {x['rss_mb']:.0f} MB; {x.get('log', '')}"
                )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nBENCH_CASES={CASES:,}, {ROUNDS} rounds, load now {load}")
    print(
        "| rebuild | events/s | read+decode (same process) | ratio | s | CPU s "
        "| PostgreSQL CPU s | peak RSS |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        for x in results[name]:
            rate, base = x["events"] / x["seconds"], median(x["decode"])
            print(
                f"| {name} | {rate:,.0f} | {base:,.0f} | {rate / base:.3f} | {x['seconds']:.2f} "
                f"| {x['cpu']:.2f} | {x['pg_cpu']:.2f} | {x['rss_mb']:.0f} MB |"
            )
    if BEFORE:
        same = digests["before"] == digests["after"]
        print(f"rebuilt tables identical: {'yes' if same else 'NO'}")
        if not same:
            for table in sorted(digests["after"]):
                a, b = digests["before"].get(table), digests["after"][table]
                if a != b:
                    print(f"  {table}: before {a}, after {b}")


if __name__ == "__main__":
    main()
