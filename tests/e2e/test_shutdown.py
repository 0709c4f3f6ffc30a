"""SIGTERM stops `debtcases serve` (one process and `--processes 2`) and `debtcases project`
cleanly, and without waiting out connection timeouts when their PostgreSQL database is gone.

Before, a `serve --processes 2` whose database had been dropped took 18-40 s to exit (each
worker's bounded join in turn, while its thread waited for a connection), `project` 80 s
(the library retries a failed connection ten times), and a single `serve` was ended by the
SIGTERM uvicorn raises again after its own shutdown, before its workers were stopped.
The bound below is on hanging (well above a normal stop), not a performance target."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from debtcases.bootstrap import SETUP_LOCK
from tests.served import CLI, clean_env, serve

pytestmark = pytest.mark.postgres

# A hang bound: a stop takes 1-3 s here, more on a loaded machine.
EXITS_WITHIN = 15.0


def _drop(pg_url: str) -> None:
    server, name = pg_url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _stops_on_sigterm(process: subprocess.Popen[str], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=EXITS_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        pytest.fail(f"still running {EXITS_WITHIN} s after SIGTERM:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]


# The connect timeout (also how long a thread waits for a pooled connection) far above the
# bound: a stop must not depend on it.
SLOW_CONNECT = {"db_connect_timeout": "30"}


@pytest.mark.parametrize(
    "processes", [pytest.param("1", id="one-process"), pytest.param("2", id="two-processes")]
)
def test_serve_stops_on_sigterm_after_its_database_was_dropped(
    pg_url: str, tmp_path: Path, processes: str
) -> None:
    env = clean_env(pg_url, **SLOW_CONNECT)
    with serve(env, tmp_path, "--demo", "--diagonal-sim", "--processes", processes) as running:
        deadline = time.monotonic() + 60  # every process up (not one still connecting)
        while running.log.read_text().count("Application startup complete") < int(processes):
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        _drop(pg_url)
        time.sleep(2)  # the runner, the simulator and the schedulers now wait for connections
        _stops_on_sigterm(running.process, running.log)
    assert "did not end" not in running.log.read_text()


def test_serve_stops_its_workers_on_sigterm_with_the_database_healthy(
    pg_url: str, tmp_path: Path
) -> None:
    """One process: uvicorn's shutdown, then the container's close (the workers' work in
    hand finished), then exit 0; not ended by the signal on the way."""
    env = clean_env(pg_url)
    with serve(env, tmp_path, "--demo", "--diagonal-sim") as running:
        _stops_on_sigterm(running.process, running.log)
    text = running.log.read_text()
    assert "shutdown:" not in text  # nothing interrupted, nothing left running


def test_project_stops_on_sigterm_after_its_database_was_dropped(
    pg_url: str, tmp_path: Path
) -> None:
    env = clean_env(pg_url, **SLOW_CONNECT)
    log = tmp_path / "project.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*CLI, "project"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "projecting" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        _drop(pg_url)
        time.sleep(2)
        _stops_on_sigterm(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found.update(int(child) for child in f.read().split())
    return found


def test_serve_does_not_wait_for_a_worker_process_still_starting(
    pg_url: str, tmp_path: Path
) -> None:
    """A worker process that has not started serving (here: its replacement waits for the
    setup lock, as one would wait for a database that is gone) has nothing in flight: the
    stop does not wait the 30 s the serving ones get."""
    env = clean_env(pg_url)
    with serve(env, tmp_path, "--processes", "2") as running:
        deadline = time.monotonic() + 60
        while running.log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        with psycopg.connect(pg_url, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
            workers = _children(running.process.pid)
            serving = max(pid for pid in workers if b"resource_tracker" not in _cmdline(pid))
            os.kill(serving, signal.SIGKILL)  # the supervisor starts a replacement
            while not (_children(running.process.pid) - workers):
                assert time.monotonic() < deadline, running.log.read_text()
                time.sleep(0.2)
            time.sleep(2)  # the replacement is waiting for the lock
            _stops_on_sigterm(running.process, running.log)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
