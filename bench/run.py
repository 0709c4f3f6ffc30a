"""`make bench`: every figure of issue 10 beside a baseline measured in the same run, on
PostgreSQL (and Kafka), printed as one table and written as JSON under bench/results/.

    DEBTCASES_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:54329/debtcases_test \
    DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 \
    BENCH_CASES=100000 .venv/bin/python -m bench.run

(``scripts/bench.sh`` starts PostgreSQL and Kafka when those variables are unset.)

A throwaway database is created on the server of DEBTCASES_TEST_DATABASE_URL and dropped
after; Kafka topics get a unique prefix and are deleted after. Everything talks to
127.0.0.1. The machine is shared and noisy, so every figure is measured in rounds
interleaved with its baseline, and the medians are reported.

Environment:
  BENCH_CASES          cases seeded (default 100000, as in issue 10: the deep page is
                       page 1,000; about 3.5 minutes; 1000000 works, see the README)
  BENCH_QUERIES        samples per latency figure (default 200)
  BENCH_LOAD_SECONDS   seconds per round of the 32-client load (default 4)
  BENCH_CLIENTS        concurrent HTTP clients (default 32)
  BENCH_ACKS           acks per Kafka round (default min(10000, BENCH_CASES // 3))
  BENCH_PROCESSES      `serve --processes` of the served deployment (default 2)
  BENCH_ONLY           `commands`: seed untimed, then only command → visible and the
                       32-client commands (with their reference rows); for comparing
                       versions of the command path quickly. `acks`: only seed
                       (admit_many, every tenth started) and the acks figure; for
                       comparing versions of the consumer alternately. `lists`: seed
                       untimed (as `commands`), then only the list pages beside the
                       single read; for comparing versions of the list path
  BENCH_PROFILE        a directory: record py-spy profiles (collapsed stacks) per phase
                       (the command figures: one per process of the deployment)
  BENCH_PROFILE_GIL    0: profile the deployment's every non-idle thread, not only the
                       one holding the GIL (default 1)
  BENCH_RESULTS        where the JSON goes (default bench/results)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg

from bench.load import Request, Sequential, closed_loop
from bench.report import (
    Figure,
    Target,
    markdown_table,
    median,
    percentile,
    result_document,
    summary_line,
    write_result,
)
from debtcases.bootstrap import Container, build_container
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.debtor import Debtor
from debtcases.projections.rebuild import rebuild

ROOT = Path(__file__).resolve().parent.parent
CASES = int(os.environ.get("BENCH_CASES", "100000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "2"))
ACKS = int(os.environ.get("BENCH_ACKS", str(max(100, min(10_000, CASES // 3)))))
PROFILE = os.environ.get("BENCH_PROFILE")
PROFILE_GIL = os.environ.get("BENCH_PROFILE_GIL", "1") != "0"
ONLY = os.environ.get("BENCH_ONLY", "")
if ONLY not in ("", "commands", "acks", "lists"):
    sys.exit(f"BENCH_ONLY={ONLY!r}: only 'commands', 'acks' and 'lists' are known")
VENDORS = max(10, CASES // 200)  # about 200 cases per vendor
ADMIT_BATCH = 1000
START = datetime(2024, 1, 1, tzinfo=UTC)
DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
SYSTEM, SUPPORT = Actor.system("bench"), Actor.support("bench")
T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def order_id(n: int) -> str:
    return f"O-{n:08d}"


def vendor_of(n: int) -> int:
    return 10000 + n % VENDORS


def admission(n: int) -> Admission:
    return Admission(order_id(n), vendor_of(n), Decimal("49.90"), "EUR", DEBTOR)


# Case n: every tenth is started (RUNNING), every fiftieth of those also blocked; the rest
# stay LOCKED. The 32-client load blocks and unblocks RUNNING cases; the visibility figure
# starts LOCKED cases of vendor 10001 (n % VENDORS == 1), its baseline those of 10002.
def running_cases() -> list[int]:
    return [n for n in range(0, CASES, 10) if n % 50 != 0]


# ------------------------------------------------------------------ infrastructure


@contextlib.contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    parsed = urlparse(server_url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    name = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(parsed._replace(path="/" + name))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def profiled(
    phase: str, pid: int | None = None, *, gil: bool = True, subprocesses: bool = True
) -> Iterator[None]:
    """With BENCH_PROFILE set: py-spy records ``pid`` meanwhile, as collapsed stacks in
    BENCH_PROFILE/<phase>.txt. This process (single-threaded loops): every sample, waits on
    PostgreSQL included, i.e. where the wall time goes. The `serve` process (many threads,
    bound to one core by the GIL): only the thread holding the GIL (``--gil``), i.e. where
    the one core goes."""
    if not PROFILE:
        yield
        return
    out = Path(PROFILE) / f"{phase}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    proc = subprocess.Popen(
        [
            *(str(spy), "record", "--pid", str(pid or os.getpid()), "--rate", "67"),
            *("--format", "raw", "--output", str(out), "--nonblocking"),
            *(("--gil",) if gil and pid not in (None, os.getpid()) else ()),
            *(("--subprocesses",) if subprocesses and pid not in (None, os.getpid()) else ()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log(f"profile of {phase}: {out}")


@contextlib.contextmanager
def profiled_each(phase: str, pids: list[int]) -> Iterator[None]:
    """With BENCH_PROFILE set: one py-spy per process of the deployment (py-spy's
    ``--subprocesses`` did not follow the spawned workers here), as
    BENCH_PROFILE/<phase>-<n>.txt (0: the supervisor with the runner; 1..: the workers).
    By the thread holding the GIL (``--gil``), or, with BENCH_PROFILE_GIL=0, every thread
    not idle (where the CPU goes, GIL waits included)."""
    if not PROFILE:
        yield
        return
    with contextlib.ExitStack() as stack:
        for n, pid in enumerate(pids):
            stack.enter_context(profiled(f"{phase}-{n}", pid, gil=PROFILE_GIL, subprocesses=False))
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(rest.split()[0])
    return out


def rss_mb(pid: int) -> float:
    return proc_status(pid)["VmRSS"] / 1024


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), 0.0 when it is gone."""
    try:
        user, system = cpu_split(pid)
    except (OSError, IndexError, ValueError):
        return 0.0
    return user + system


class CpuMeter:
    """CPU seconds of every process a served figure involves, by group: the deployment
    (its supervisor, its workers), PostgreSQL's backends connected to the bench's database
    (those of the deployment and of the bench; autovacuum workers of it too), the
    server's background processes (walwriter, checkpointer, background writer, ...:
    shared with whatever else uses the server), and this process (the HTTP clients).
    Everything runs on the same cores, so the sum per request is what the machine pays
    for one. PostgreSQL's processes are found by ``pg_stat_activity`` (its ``pid`` is
    the backend's process id) and read in ``/proc``: the server must run on this machine
    (as the bench's 127.0.0.1 does). A backend that exits during a round loses what it
    spent (the deployment's pools keep theirs)."""

    # The deployment in two: its supervisor (the log runner, the schedulers) and its
    # HTTP workers.
    GROUPS = (
        "serve_supervisor",
        "serve_workers",
        "postgres_backends",
        "postgres_background",
        "bench_client",
    )

    def __init__(self, served: Served, url: str) -> None:
        self.served = served
        self.conn = psycopg.connect(url, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def _postgres_pids(self) -> tuple[list[int], list[int]]:
        rows = self.conn.execute(
            "SELECT pid, datname IS NOT NULL AND datname = current_database()"
            " FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND (datname IS NULL OR datname = current_database())"
        ).fetchall()
        return [p for p, ours in rows if ours], [p for p, ours in rows if not ours]

    def snapshot(self) -> dict[str, dict[int, float]]:
        backends, background = self._postgres_pids()
        return {
            "serve_supervisor": {self.served.pid: cpu_seconds(self.served.pid)},
            "serve_workers": {
                p: cpu_seconds(p) for p in self.served.pids() if p != self.served.pid
            },
            "postgres_backends": {p: cpu_seconds(p) for p in backends},
            "postgres_background": {p: cpu_seconds(p) for p in background},
            "bench_client": {os.getpid(): cpu_seconds(os.getpid())},
        }

    def spent(self, before: dict[str, dict[int, float]]) -> dict[str, float]:
        """CPU seconds per group since ``before`` (a process that appeared since counts
        from zero: a backend's start-up is part of the round)."""
        after = self.snapshot()
        return {
            group: sum(max(0.0, t - before[group].get(p, 0.0)) for p, t in after[group].items())
            for group in self.GROUPS
        }


class Served:
    """The deployment a user runs on PostgreSQL, on 127.0.0.1: `debtcases serve --processes
    BENCH_PROCESSES` (default 2 worker processes answering HTTP; the log runner with the
    views and the outbox, and the schedulers, once, in the supervising process)."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEBTCASES_")}
        env["DEBTCASES_DATABASE_URL"] = database_url
        self.log_path = workdir / "serve.log"
        with self.log_path.open("w") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "debtcases.cli", "serve"),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                    *("--processes", str(PROCESSES)),
                ],
                env=env,
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        probe = Sequential(self.port)
        try:
            while True:
                try:
                    if probe.request("GET", "/healthz", {})[0] == 200:
                        break
                except OSError:
                    probe.close()
                    probe = Sequential(self.port)
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not come up: {self.log_path.read_text()}")
                time.sleep(0.2)
        finally:
            probe.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The supervisor and every process under it (the workers)."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo += [int(child) for child in f.read().split()]
        return found

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of all the deployment's processes."""
        user = system = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                u, s = cpu_split(pid)
                user, system = user + u, system + s
        return user, system

    def rss_mb(self) -> float:
        """VmRSS of all the deployment's processes together."""
        return sum(self.rss_per_process())

    def rss_per_process(self) -> list[float]:
        found = []
        for pid in self.pids():
            with contextlib.suppress(OSError, KeyError):
                found.append(rss_mb(pid))
        return found

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- intake


def intake(c: Container, url: str) -> list[Figure]:
    """admit_many in batches of 1,000 vs the same events built by the aggregate, encoded
    by the application's mapper and COPYed into a copy of the events table (and the
    already encoded rows COPYed alone), round by round. Seeds the database."""
    app = c.cases
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    chunk = max(ADMIT_BATCH, min(10_000, (CASES // 10) // ADMIT_BATCH * ADMIT_BATCH))
    admit_rates, encode_rates, copy_rates = [], [], []
    columns = "originator_id, originator_version, topic, state, notification_id"
    with psycopg.connect(url) as conn:
        for scratch in ("bench_encode_copy", "bench_copy_only"):
            conn.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING INDEXES)")
        conn.commit()
        next_id = 0

        def copy(scratch: str, rows: list[tuple[Any, ...]]) -> None:
            with conn.cursor() as cur, cur.copy(f"COPY {scratch} ({columns}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
            conn.commit()

        for start in range(0, CASES, chunk):
            batches = [
                [admission(n) for n in range(b, min(CASES, b + ADMIT_BATCH))]
                for b in range(start, min(CASES, start + chunk), ADMIT_BATCH)
            ]
            count = sum(map(len, batches))
            at = START + timedelta(days=(start * 365) // max(CASES, 1))
            t = time.perf_counter()
            for batch in batches:
                app.admit_many(batch, SYSTEM, now=at)
            admit_rates.append(count / (time.perf_counter() - t))
            encoded: list[list[tuple[Any, ...]]] = []
            t = time.perf_counter()
            for batch in batches:
                rows = []
                for a in batch:
                    case = DunningCase.admit(
                        order_id=a.order_id,
                        user_id=a.user_id,
                        amount=a.amount,
                        currency=a.currency,
                        debtor=a.debtor,
                        actor=SYSTEM,
                        reason=a.reason,
                        now=at,
                    )
                    for event in case.collect_events():
                        s = app.mapper.to_stored_event(event)
                        next_id += 1
                        rows.append(
                            (s.originator_id, s.originator_version, s.topic, s.state, next_id)
                        )
                copy("bench_encode_copy", rows)
                encoded.append(rows)
            encode_rates.append(count / (time.perf_counter() - t))
            t = time.perf_counter()
            for rows in encoded:
                copy("bench_copy_only", rows)
            copy_rates.append(count / (time.perf_counter() - t))
            if (start // chunk) % 10 == 0:
                log(f"intake: {start + count:,} of {CASES:,} admitted")
        for scratch in ("bench_encode_copy", "bench_copy_only"):
            conn.execute(f"DROP TABLE {scratch}")
        conn.commit()
    n = len(admit_rates)
    return [
        Figure(
            "intake",
            "intake: admit_many, batches of 1,000",
            median(admit_rates),
            "cases/s",
            median(encode_rates),
            "encode+COPY",
            target=Target("ratio_min", 0.5, "≥ 0.5 of encode+COPY"),
            rounds=n,
            detail={"chunk": chunk, "admit_rates": admit_rates, "encode_rates": encode_rates},
        ),
        Figure(
            "intake_copy_alone",
            "  (reference) COPY alone of the same rows",
            median(copy_rates),
            "rows/s",
            rounds=n,
            detail={"copy_rates": copy_rates},
        ),
    ]


def seed(c: Container) -> None:
    """The admissions of ``intake``, untimed and without its baselines (BENCH_ONLY)."""
    for b in range(0, CASES, ADMIT_BATCH):
        at = START + timedelta(days=(b * 365) // max(CASES, 1))
        batch = [admission(n) for n in range(b, min(CASES, b + ADMIT_BATCH))]
        c.cases.admit_many(batch, SYSTEM, now=at)


def start_some(c: Container) -> None:
    """Every tenth case started, every fiftieth also blocked (the aggregate decides, the
    application saves 1,000 per transaction: the events of the commands)."""
    app = c.cases
    started = list(range(0, CASES, 10))
    for i in range(0, len(started), 1000):
        now = datetime.now(tz=UTC)
        cases = []
        for n in started[i : i + 1000]:
            case: DunningCase = app.repository.get(case_id_for(order_id(n)))
            case.start_dunning(SUPPORT, now, "los", app.served_countries)
            if n % 50 == 0:
                case.block(SUPPORT, now, "Pause")
            cases.append(case)
        app.save(*cases)


# -------------------------------------------------------------------------- rebuild


def read_and_decode(c: Container) -> tuple[int, float]:
    app = c.cases
    position, events = 0, 0
    t = time.perf_counter()
    while True:
        found = app.recorder.select_notifications(position + 1, 5000)
        for n in found:
            app.mapper.to_domain_event(n)
        events += len(found)
        if len(found) < 5000:
            break
        position = found[-1].id
    return events, events / (time.perf_counter() - t)


def server_cpu_seconds(conn: Any) -> float:
    """CPU seconds the PostgreSQL server (on this machine) has spent so far: its live
    processes, plus what the backends it has reaped spent (the postmaster's cutime and
    cstime), so the difference of two readings counts connections that came and went in
    between (a rebuild's index-building connections)."""
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster:
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        elif int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rebuild_views(c: Container) -> list[Figure]:
    """Rebuilding every view vs reading and decoding the whole log, alternately; with the
    CPU each rebuild took (this process and the PostgreSQL server) and what that allows on
    this machine's cores."""
    head = c.cases.recorder.max_notification_id() or 0
    rounds = 2 if head < 300_000 else 1
    decode_rates = [read_and_decode(c)[1]]
    rebuild_rates, per_view, cpu = [], [], []
    conn = c.db.connect(autocommit=True) if c.db.is_postgres else None
    for r in range(rounds):
        with profiled(f"rebuild-{r}") if r == 0 else contextlib.nullcontext():
            server = server_cpu_seconds(conn) if conn is not None else 0.0
            own = time.process_time()
            t = time.perf_counter()
            results = rebuild(c.views, c.cases)
            # One pass feeds every view: the rebuild's wall time, not a sum per view.
            rebuild_rates.append(head / (time.perf_counter() - t))
            spent = {"bench_process": time.process_time() - own}
            if conn is not None:
                spent["postgres"] = server_cpu_seconds(conn) - server
            cpu.append(spent)
        per_view.append({x.view: x.events_per_second for x in results})
        decode_rates.append(read_and_decode(c)[1])
        log(
            f"rebuild round {r + 1}: {rebuild_rates[-1]:,.0f} events/s (all views in one pass);"
            " CPU s: " + ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
        )
    if conn is not None:
        conn.close()
    cores = os.cpu_count() or 1
    total_cpu = median([sum(x.values()) for x in cpu])
    # Were the rebuild's CPU spread perfectly over every core, its rate would be this.
    ceiling = head / (total_cpu / cores) / median(decode_rates) if total_cpu else 0.0
    return [
        Figure(
            "rebuild_cpu",
            "  (reference) rebuild's CPU, this process + PostgreSQL",
            total_cpu,
            "s",
            rounds=rounds,
            detail={"rounds": cpu},
        ),
        Figure(
            "rebuild_cpu_ceiling",
            f"  (reference) ceiling {cores} cores allow: that CPU spread over them",
            ceiling,
            "",
            rounds=rounds,
        ),
        Figure(
            "rebuild",
            "rebuild of all views",
            median(rebuild_rates),
            "events/s",
            median(decode_rates),
            "read+decode the log",
            target=Target("ratio_min", 0.5, "≥ 0.5 of read+decode"),
            rounds=rounds,
            detail={"events": head, "per_view_events_per_s": per_view},
        ),
    ]


# --------------------------------------------------------------------------- served


def list_pages(port: int, support: dict[str, str], vendors: list[dict[str, str]]) -> list[Figure]:
    """Sequential list pages vs one case by id, in random order within each round. The deep
    page is reached by its cursor (`after=`, the `next_after` of the page before it); the
    same page by `page=` (OFFSET) is a reference row without a target."""
    rnd = random.Random(3)
    deep = max(1, min(1000, CASES // 50))
    client = Sequential(port)
    cursor = ""
    if deep > 1:  # the cursor of the deep page: the page before it says where it starts
        status, body, _ = client.request("GET", f"/api/v1/support/cases?page={deep - 1}", support)
        if status != 200:
            raise RuntimeError(f"page {deep - 1}: {status} {body[:300]!r}")
        cursor = f"?after={json.loads(body)['next_after']}"
    queries: dict[str, Callable[[], tuple[str, dict[str, str]]]] = {
        "case": lambda: (f"/api/v1/cases/{order_id(rnd.randrange(CASES))}", support),
        "status": lambda: ("/api/v1/support/cases?status=RUNNING", support),
        "deep": lambda: (f"/api/v1/support/cases{cursor}", support),
        "deep_offset": lambda: (f"/api/v1/support/cases?page={deep}", support),
        "vendor": lambda: ("/api/v1/vendor/cases", rnd.choice(vendors)),
    }
    times: dict[str, list[float]] = {k: [] for k in queries}
    try:
        for i in range(QUERIES + 10):
            order = list(queries)
            rnd.shuffle(order)
            for k in order:
                path, headers = queries[k]()
                status, body, ms = client.request("GET", path, headers)
                if status != 200:
                    raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
                if k == "deep" and json.loads(body)["page"] != deep:
                    raise RuntimeError(f"GET {path}: not page {deep}")
                if i >= 10:  # the first rounds warm caches and connections
                    times[k].append(ms)
    finally:
        client.close()
    one = times["case"]
    labels = {
        "status": "list page p99: status filter (RUNNING)",
        "deep": f"list page p99: deep page {deep:,} by cursor (after=)",
        "deep_offset": f"list page p99: deep page {deep:,} by page= (OFFSET), reference",
        "vendor": "list page p99: vendor list",
    }
    return [
        Figure(
            f"list_{k}",
            labels[k],
            percentile(times[k], 99),
            "ms",
            percentile(one, 99),
            "one case by id",
            target=None
            if k == "deep_offset"
            else Target("ratio_max", 2.0, "p99 ≤ 2x one case by id"),
            rounds=QUERIES,
            detail={
                "p50_ms": median(times[k]),
                "baseline_p50_ms": median(one),
                "page": deep if k.startswith("deep") else 1,
            },
        )
        for k in labels
    ]


def explain_lists(url: str) -> None:
    """With BENCH_PROFILE: PostgreSQL's plans and timings of the list queries (what the
    list pages send, and the alternatives issue 10 names), in BENCH_PROFILE/explain.txt."""
    if not PROFILE:
        return
    with psycopg.connect(url) as conn:
        gen = conn.execute("SELECT live FROM projection_generations WHERE view = 'cases'")
        row = gen.fetchone()
        assert row is not None
        t = f"view_cases_g{row[0]}"
        order = "ORDER BY updated_at DESC, position DESC LIMIT 50"
        deep = max(0, min(1000, CASES // 50) - 1) * 50
        last = conn.execute(
            f"SELECT updated_at, position FROM {t} {order.replace('LIMIT 50', '')} "
            f"OFFSET {max(deep - 1, 0)} LIMIT 1"
        ).fetchone()
        key = list(last) if last is not None else [datetime.max.replace(tzinfo=UTC), 2**62]
        queries: list[tuple[str, str, list[Any]]] = [
            (
                "status = ANY (what the list sends)",
                f"WHERE status = ANY(%s) {order}",
                [["RUNNING"]],
            ),
            ("status = (one status)", f"WHERE status = %s {order}", ["RUNNING"]),
            (f"deep page, OFFSET {deep:,}", f"WHERE TRUE {order} OFFSET {deep}", []),
            (
                f"deep page by cursor (after= the {deep:,}th row's key)",
                f"WHERE (updated_at, position) < (%s, %s) {order}",
                key,
            ),
            ("vendor list", f"WHERE user_id = %s {order}", [10001]),
            (
                "vendor list, as the vendor's own list sends it",
                f"WHERE user_id = %s {order.replace('updated_at', 'vendor_updated_at')}",
                [10001],
            ),
        ]
        out = []
        for title, where, params in queries:
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM {t} {where}", params)
            out.append(f"-- {title}\n" + "\n".join(r[0] for r in plan.fetchall()))
        (Path(PROFILE) / "explain.txt").write_text("\n\n".join(out) + "\n")


class RssSampler:
    def __init__(self, served: Served, every: float = 0.01) -> None:
        self.served, self.every = served, every
        self.peak = served.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.served.rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def csv_export(served: Served, support: dict[str, str]) -> list[Figure]:
    """The whole Schulden list as CSV over HTTP vs csv.writer over the same rows in memory
    (normalised to 100,000 rows); the server's memory sampled meanwhile."""
    rounds = 3 if CASES <= 200_000 else 2
    export_s, writer_s, growth = [], [], []
    rows_exported = 0
    client = Sequential(served.port)
    try:
        for r in range(rounds):
            before = served.rss_mb()
            sampler = RssSampler(served)
            ctx = profiled("export", served.pid) if r == 1 else contextlib.nullcontext()
            with ctx:
                status, body, ms = client.request("GET", "/api/v1/support/cases.csv", support)
            peak = sampler.stop()
            if status != 200:
                raise RuntimeError(f"export: {status} {body[:300]!r}")
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
            rows_exported = len(rows) - 1
            buffer = io.StringIO()
            t = time.perf_counter()
            csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
            writer_s.append(time.perf_counter() - t)
            export_s.append(ms / 1000)
            growth.append(peak - before)
    finally:
        client.close()
    scale = 100_000 / max(rows_exported, 1)
    return [
        Figure(
            "csv_export",
            f"CSV export over HTTP, s per 100,000 rows ({rows_exported:,} rows)",
            median(export_s) * scale,
            "s",
            median(writer_s) * scale,
            "csv.writer in memory",
            target=Target("max", 1.0, "≤ 1 s"),
            rounds=rounds,
            detail={"rows": rows_exported, "export_s": export_s, "writer_s": writer_s},
        ),
        Figure(
            "csv_export_memory",
            "CSV export: serve RSS growth while exporting",
            max(growth),
            "MB",
            target=Target("max", 20.0, "flat (≤ 20 MB growth)"),
            rounds=rounds,
            detail={"growth_mb": growth},
        ),
    ]


def command_to_visible(
    c: Container, url: str, port: int, vendor_token: str, vendor_id: int
) -> list[Figure]:
    """The vendor's Play over HTTP until the vendor's list (page 1) shows the case
    RUNNING, vs saving one such decision in-process plus one database round trip."""
    app = c.cases
    mine = [n for n in range(0, CASES) if vendor_of(n) == vendor_id and n % 10 != 0]
    other = [n for n in range(0, CASES) if vendor_of(n) == vendor_id + 1 and n % 10 != 0]
    samples = min(QUERIES, len(mine), len(other))
    visible, floor = [], []
    # Its two parts alone: the Play request (with its read-your-writes wait) and every
    # vendor list request.
    plays, lists = [], []
    headers = bearer(vendor_token)
    client = Sequential(port)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(samples):
                oid = order_id(mine[i])
                t = time.perf_counter()
                status, body, took = client.request(
                    "POST", f"/api/v1/cases/{oid}/start", headers, {}
                )
                if status != 200:
                    raise RuntimeError(f"start {oid}: {status} {body[:300]!r}")
                plays.append(took)
                deadline = t + 10
                while time.perf_counter() < deadline:
                    _, page, took = client.request("GET", "/api/v1/vendor/cases", headers)
                    lists.append(took)
                    items = json.loads(page)["items"]
                    if any(x["order_id"] == oid and x["status"] == "RUNNING" for x in items):
                        break
                visible.append((time.perf_counter() - t) * 1000)
                case: DunningCase = app.repository.get(case_id_for(order_id(other[i])))
                case.start_dunning(SUPPORT, datetime.now(tz=UTC), "", app.served_countries)
                t = time.perf_counter()
                app.save(case)
                conn.execute("SELECT 1").fetchone()
                floor.append((time.perf_counter() - t) * 1000)
    finally:
        client.close()
    return [
        Figure(
            "command_visible",
            "command → visible in the vendor list, p99",
            percentile(visible, 99),
            "ms",
            percentile(floor, 99),
            "one save + one round trip",
            target=Target("ratio_max", 2.0, "p99 ≤ 2x save + round trip"),
            rounds=samples,
            detail={
                "p50_ms": median(visible),
                "baseline_p50_ms": median(floor),
                "list_requests_per_sample": len(lists) / samples,
            },
        ),
        Figure(
            "command_visible_play",
            "  (reference) the Play request alone (read-your-writes wait included), p99",
            percentile(plays, 99),
            "ms",
            percentile(floor, 99),
            "one save + one round trip",
            rounds=samples,
            detail={"p50_ms": median(plays)},
        ),
        Figure(
            "command_visible_list",
            "  (reference) the vendor list request alone, p99",
            percentile(lists, 99),
            "ms",
            percentile(floor, 99),
            "one save + one round trip",
            rounds=len(lists),
            detail={"p50_ms": median(lists)},
        ),
    ]


def commands_under_load(served: Served, support: dict[str, str], url: str) -> list[Figure]:
    """32 clients blocking and unblocking RUNNING cases vs the same 32 clients on
    /healthz, in alternating rounds; the server's CPU use measured per round, and the CPU
    of every process involved (``CpuMeter``) per request: what the cores allow."""
    running = running_cases()
    slices = [running[i::CLIENTS] for i in range(CLIENTS)]
    counters = [0] * CLIENTS  # carried across rounds: each case alternates block/unblock
    headers = {**support}

    def command(i: int, _n: int) -> Request:
        k = counters[i]
        counters[i] += 1
        oid = order_id(slices[i][(k // 2) % len(slices[i])])
        verb = "block" if k % 2 == 0 else "unblock"
        return ("POST", f"/api/v1/cases/{oid}/{verb}", headers, {"reason": "bench"})

    def health(_i: int, _n: int) -> Request:
        return ("GET", "/healthz", {}, None)

    cmd_rates, cmd_p99, cmd_p50, cmd_cores, cmd_kernel, errors = [], [], [], [], [], 0
    h_rates, h_p99, h_cores = [], [], []
    # Cores kept busy by every process involved (the deployment, PostgreSQL, the client).
    cmd_all_cores: list[float] = []
    h_all_cores: list[float] = []
    # CPU ms per request, every process involved, per group and round.
    cmd_cpu: list[dict[str, float]] = []
    h_cpu: list[dict[str, float]] = []
    meter = CpuMeter(served, url)
    for r in range(3):
        for kind in ("healthz", "commands"):
            everyone = meter.snapshot()
            (user, system), wall = served.cpu_split(), time.perf_counter()
            ctx = (
                profiled_each("commands", served.pids())
                if (r == 1 and kind == "commands")
                else contextlib.nullcontext()
            )
            with ctx:
                res = closed_loop(
                    served.port, CLIENTS, LOAD_SECONDS, command if kind == "commands" else health
                )
            user_after, system_after = served.cpu_split()
            spent = meter.spent(everyone)
            busy = (user_after - user) + (system_after - system)
            elapsed = time.perf_counter() - wall
            cores = busy / elapsed
            (cmd_all_cores if kind == "commands" else h_all_cores).append(
                sum(spent.values()) / elapsed
            )
            kernel = (system_after - system) / busy if busy else 0.0
            # The whole round (warm-up included) over every request it answered.
            answered = max(1, res.answered)
            per_request = {g: 1000 * v / answered for g, v in spent.items()}
            per_request["total"] = sum(per_request.values())
            (cmd_cpu if kind == "commands" else h_cpu).append(per_request)
            if kind == "commands":
                cmd_rates.append(res.rate)
                cmd_p99.append(percentile(res.latencies_ms, 99))
                cmd_p50.append(median(res.latencies_ms))
                cmd_cores.append(cores)
                cmd_kernel.append(kernel)
                errors += res.errors
            else:
                h_rates.append(res.rate)
                h_p99.append(percentile(res.latencies_ms, 99))
                h_cores.append(cores)
            log(
                f"{kind} round {r + 1}: {res.rate:,.0f}/s, {res.errors} errors, {cores:.2f}"
                " cores; CPU ms per request: "
                + ", ".join(f"{g} {v:.2f}" for g, v in per_request.items())
            )
    meter.close()
    cores_here = os.cpu_count() or 1

    def split(rounds: list[dict[str, float]]) -> dict[str, float]:
        return {g: median([x[g] for x in rounds]) for g in rounds[0]}

    cmd_split, h_split = split(cmd_cpu), split(h_cpu)
    return [
        Figure(
            "commands_http",
            f"status commands over HTTP, {CLIENTS} clients",
            median(cmd_rates),
            "cmds/s",
            median(h_rates),
            "GET /healthz, same load",
            baseline_unit="req/s",
            target=Target("ratio_min", 0.5, "≥ 0.5 of /healthz"),
            rounds=len(cmd_rates),
            detail={"rates": cmd_rates, "healthz_rates": h_rates, "errors": errors},
        ),
        Figure(
            "commands_http_p99",
            f"status commands over HTTP, {CLIENTS} clients, p99",
            median(cmd_p99),
            "ms",
            median(h_p99),
            "GET /healthz p99",
            target=Target("max", 50.0, "≤ 50 ms"),
            rounds=len(cmd_p99),
            detail={"p50_ms": median(cmd_p50), "p99_per_round": cmd_p99},
        ),
        Figure(
            "serve_cores",
            f"serve --processes {PROCESSES}: cores busy under the command load",
            median(cmd_cores),
            "cores",
            median(h_cores),
            "under /healthz load",
            target=Target("min", 1.5, "uses both cores (≥ 1.5)"),
            rounds=len(cmd_cores),
            detail={"kernel_share": median(cmd_kernel), "cores_per_round": cmd_cores},
        ),
        Figure(
            "all_cores",
            "  (reference) cores busy, every process (serve, PostgreSQL, client)",
            median(cmd_all_cores),
            "cores",
            median(h_all_cores),
            "under /healthz load",
            rounds=len(cmd_all_cores),
            detail={"commands_per_round": cmd_all_cores, "healthz_per_round": h_all_cores},
        ),
        Figure(
            "commands_cpu",
            "  (reference) CPU per command, every process (serve, PostgreSQL, client)",
            cmd_split["total"],
            "ms",
            h_split["total"],
            "per GET /healthz",
            rounds=len(cmd_cpu),
            detail={
                "command_ms": cmd_split,
                "healthz_ms": h_split,
                "command_rounds": cmd_cpu,
                "healthz_rounds": h_cpu,
            },
        ),
        Figure(
            "commands_cpu_ceiling",
            "  (reference) ceiling the cores allow: CPU per /healthz ÷ per command",
            h_split["total"] / cmd_split["total"],
            "",
            rounds=len(cmd_cpu),
        ),
        Figure(
            "commands_cpu_max_rate",
            f"  (reference) {cores_here} cores ÷ CPU per command",
            1000 * cores_here / cmd_split["total"],
            "cmds/s",
            median(cmd_rates),
            "commands measured",
            rounds=len(cmd_cpu),
            detail={"healthz_max_rate": 1000 * cores_here / h_split["total"]},
        ),
    ]


# ---------------------------------------------------------------------------- kafka


def acks(c: Container, bootstrap: str) -> list[Figure]:
    """Diagonal acks applied by the service's consumer vs a raw kafka-python consumer of
    the same topic (read and JSON-decode each record), a fresh topic per round. The
    service's consumer is timed from its first record to its last stored batch (its group
    join excluded); the raw one, assigned its partitions, from its first poll."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.structs import TopicPartition

    from debtcases.consumers.consumer import AckConsumer
    from debtcases.consumers.topics import ensure_topics, service_topics

    class TimedAckConsumer(AckConsumer):
        first: float | None = None
        last: float | None = None
        cpu = 0.0  # the process's CPU seconds from the first record to the last batch
        _cpu_at = 0.0

        def _handle_batch(self, batch: Any) -> bool:
            if self.first is None:
                self.first, self._cpu_at = time.perf_counter(), time.process_time()
            done = super()._handle_batch(batch)
            self.last = time.perf_counter()
            self.cpu = time.process_time() - self._cpu_at
            return done

    prefix = "bench-" + uuid.uuid4().hex[:8]
    topics: list[str] = []
    applied_rates: list[float] = []
    raw_rates: list[float] = []
    # CPU of the process per ack / message (µs), beside the rates: less at the mercy of
    # what else runs on the machine than the wall time.
    applied_cpu: list[float] = []
    raw_cpu: list[float] = []
    try:
        for r in range(3):
            settings = Settings(
                database_url="memory://",
                kafka_bootstrap_servers=bootstrap,
                kafka_topic_handover=f"{prefix}-{r}.handover",
                kafka_topic_acks=f"{prefix}-{r}.acks",
                kafka_topic_acks_dlq=f"{prefix}-{r}.acks.dlq",
                kafka_topic_portal_access=f"{prefix}-{r}.portal",
                kafka_consumer_group=f"{prefix}-{r}",
            )
            topics += service_topics(settings)
            ensure_topics(bootstrap, service_topics(settings))
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
            now = datetime.now(tz=UTC).isoformat()
            for k in range(ACKS):
                oid = order_id((r * ACKS + k) % CASES)
                value = {"message_id": str(uuid.uuid4()), "type": "received", "order_id": oid}
                producer.send(
                    settings.kafka_topic_acks,
                    key=oid.encode(),
                    value=json.dumps({**value, "at": now}).encode(),
                )
            producer.flush()
            producer.close()

            def raw_round(topic: str = settings.kafka_topic_acks) -> float:
                # Assigned (no group join) and timed from the first poll: it includes the
                # fetches, which a timer started at the first record would not see.
                raw = KafkaConsumer(
                    bootstrap_servers=bootstrap,
                    enable_auto_commit=False,
                    max_poll_records=1000,
                )
                parts = [TopicPartition(topic, p) for p in raw.partitions_for_topic(topic)]
                raw.assign(parts)
                raw.seek_to_beginning(*parts)
                seen = 0
                first, cpu = time.perf_counter(), time.process_time()
                deadline = time.monotonic() + 120
                while seen < ACKS and time.monotonic() < deadline:
                    for records in raw.poll(timeout_ms=500).values():
                        for record in records:
                            json.loads(record.value)
                            seen += 1
                rate = seen / (time.perf_counter() - first)
                raw_cpu.append((time.process_time() - cpu) / max(seen, 1) * 1e6)
                raw.close()
                return rate

            def consumer_round(s: Settings = settings, rr: int = r) -> float:
                consumer = TimedAckConsumer(c.cases, s, client_id="bench")
                with profiled(f"acks-{rr}") if rr == 1 else contextlib.nullcontext():
                    # Timed from the first record: idle polls only cost time at the end.
                    # Three (1.5 s) were sometimes over before a loaded machine's group
                    # join had assigned the partitions: a round without records.
                    consumer.run(max_idle_polls=10)
                assert consumer.first is not None and consumer.last is not None
                applied_cpu.append(consumer.cpu / max(consumer.processed, 1) * 1e6)
                return consumer.processed / (consumer.last - consumer.first)

            order = (raw_round, consumer_round) if r % 2 == 0 else (consumer_round, raw_round)
            for step in order:
                rate = step()
                (raw_rates if step is raw_round else applied_rates).append(rate)
            log(
                f"acks round {r + 1}: applied {applied_rates[-1]:,.0f}/s,"
                f" raw {raw_rates[-1]:,.0f}/s; CPU {applied_cpu[-1]:.1f} µs an ack,"
                f" raw {raw_cpu[-1]:.1f} µs a message"
            )
    finally:
        with contextlib.suppress(Exception):
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
            admin.delete_topics(topics)
            admin.close()
    return [
        Figure(
            "acks",
            f"Diagonal acks applied ({ACKS:,} per round)",
            median(applied_rates),
            "acks/s",
            median(raw_rates),
            "raw kafka-python consumer",
            baseline_unit="msgs/s",
            target=Target("ratio_min", 0.3, "≥ 0.3 of raw consumer"),
            rounds=len(applied_rates),
            detail={
                "applied_rates": applied_rates,
                "raw_rates": raw_rates,
                "applied_cpu_us_per_ack": applied_cpu,
                "raw_cpu_us_per_msg": raw_cpu,
            },
        )
    ]


# ----------------------------------------------------------------------------- main


def machine(url: str) -> dict[str, Any]:
    def cpu_model() -> str:
        with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        return platform.processor() or "unknown"

    def memory_gb() -> float:
        with contextlib.suppress(OSError), open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
        return 0.0

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "postgres": row[0] if row else "unknown",
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


class _OnlyDone(Exception):
    """BENCH_ONLY's figures are measured: on to the table."""


def main() -> None:
    server = os.environ.get("DEBTCASES_TEST_DATABASE_URL")
    if not server:
        sys.exit("set DEBTCASES_TEST_DATABASE_URL (scripts/bench.sh does)")
    bootstrap = os.environ.get("DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS")
    date = datetime.now(tz=UTC).isoformat(timespec="seconds")
    figures: list[Figure] = []
    phases: dict[str, float] = {}
    notes: list[str] = []

    @contextlib.contextmanager
    def phase(name: str) -> Iterator[None]:
        log(f"{name} ...")
        t = time.perf_counter()
        yield
        phases[name] = round(time.perf_counter() - t, 1)
        log(f"{name}: {phases[name]}s")

    log(f"BENCH_CASES={CASES:,}, {VENDORS} vendors, queries {QUERIES}, clients {CLIENTS}")
    with throwaway_database(server) as url, tempfile.TemporaryDirectory() as tmp:
        info = machine(url)
        c = build_container(Settings(database_url=url, run_workers=False))
        served: Served | None = None
        try:
            if ONLY == "acks":
                # Only the acks figure: the cases it acknowledges, then the figure.
                with phase("seed (untimed)"):
                    seed(c)
                    start_some(c)
                if not bootstrap:
                    sys.exit("BENCH_ONLY=acks needs DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS")
                with phase("acks"):
                    figures += acks(c, bootstrap)
                raise _OnlyDone
            if ONLY in ("commands", "lists"):  # the same data, untimed
                with phase("seed (untimed)"):
                    seed(c)
                    start_some(c)
                    rebuild(c.views, c.cases)
            else:
                with phase("intake"), profiled("intake"):
                    figures += intake(c, url)
                with phase("start every tenth case"):
                    start_some(c)
                with phase("rebuild"):
                    figures += rebuild_views(c)
            with phase("outbox catch-up"):
                c.runner.batch_size = 5000
                c.runner.catch_up()
            with phase("serve start"):
                support_token = c.keys.create(Role.SUPPORT, name="bench")
                vendor_tokens = {
                    v: c.keys.create(Role.VENDOR, user_id=v) for v in range(10000, 10010)
                }
                served = Served(url, Path(tmp))
                rss_start = max(served.rss_per_process())
            support = bearer(support_token)
            vendors = [bearer(t) for t in vendor_tokens.values()]

            def served_phase(name: str, measure: Callable[[Served], list[Figure]]) -> None:
                """A figure on the served process; if it fails, a note (with serve's exit
                code and log when it died) and the next figures on a fresh process."""
                nonlocal served
                assert served is not None
                with phase(name):
                    try:
                        figures.extend(measure(served))
                    except Exception as exc:
                        note = f"{name}: failed ({type(exc).__name__}: {exc})"
                        if served.process.poll() is not None:
                            note += (
                                f"; serve exited with {served.process.returncode};"
                                f" its log ends:\n{served.log_tail()}"
                            )
                            served = Served(url, Path(tmp))
                        notes.append(note)
                        log(note)

            def lists(s: Served) -> list[Figure]:
                with profiled("lists", s.pid):
                    found = list_pages(s.port, support, vendors)
                explain_lists(url)
                return found

            def visible(s: Served) -> list[Figure]:
                with profiled_each("visible", s.pids()):
                    return command_to_visible(c, url, s.port, vendor_tokens[10001], 10001)

            if ONLY in ("", "lists"):
                served_phase("list pages", lists)
            if not ONLY:
                served_phase("csv export", lambda s: csv_export(s, support))
            if ONLY in ("", "commands"):
                served_phase("command to visible", visible)
                served_phase("commands under load", lambda s: commands_under_load(s, support, url))
            assert served is not None
            # Per process (the largest of the supervisor and its workers): what a process
            # holds does not grow with the data; the total is N times about that.
            statuses = [proc_status(pid) for pid in served.pids()]
            figures.append(
                Figure(
                    "serve_rss",
                    f"serve RSS at {CASES:,} cases, largest process (after every HTTP figure)",
                    max(st["VmRSS"] for st in statuses) / 1024,
                    "MB",
                    rss_start,
                    "RSS after start",
                    target=Target("max", 200.0, "≤ 200 MB"),
                    detail={
                        "peak_rss_mb": max(st["VmHWM"] for st in statuses) / 1024,
                        "rss_mb_per_process": [st["VmRSS"] / 1024 for st in statuses],
                        "processes": len(statuses),
                    },
                )
            )
            served.stop()
            served = None
            if ONLY:
                what = "list pages" if ONLY == "lists" else "command figures"
                notes.append(f"BENCH_ONLY={ONLY}: only the {what} were measured")
            elif bootstrap:
                with phase("acks"):
                    figures += acks(c, bootstrap)
            else:
                notes.append("no Kafka: the acks figure was skipped")
        except _OnlyDone:
            pass
        finally:
            if served is not None:
                served.stop()
            c.close()
    info["load_average_at_end"] = os.getloadavg()
    order = [
        "intake",
        "intake_copy_alone",
        "commands_http",
        "commands_http_p99",
        "serve_cores",
        "all_cores",
        "commands_cpu",
        "commands_cpu_ceiling",
        "commands_cpu_max_rate",
        "acks",
        "rebuild",
        "rebuild_cpu",
        "rebuild_cpu_ceiling",
        "csv_export",
        "csv_export_memory",
        "list_status",
        "list_deep",
        "list_deep_offset",
        "list_vendor",
        "command_visible",
        "command_visible_play",
        "command_visible_list",
        "serve_rss",
    ]
    figures.sort(key=lambda f: order.index(f.key) if f.key in order else len(order))
    document = result_document(
        date=date,
        machine=info,
        commit=git_commit(),
        bench_cases=CASES,
        figures=figures,
        notes=notes,
        phases=phases,
    )
    path = write_result(Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results")), document)
    print()
    print(
        f"BENCH_CASES={CASES:,} · {date} · {info['cores']} cores, {info['memory_gb']} GB, "
        f"{info['cpu_model']} · Python {info['python']} · PostgreSQL {info['postgres']} · "
        f"load {info['load_average_at_start'][0]:.1f} → {info['load_average_at_end'][0]:.1f}"
    )
    print(markdown_table(figures))
    print(
        summary_line(figures)
        + f"; JSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
    )
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
