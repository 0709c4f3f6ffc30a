"""`debtcases serve --processes 2` on PostgreSQL: two worker processes answer HTTP, the
supervising process runs the log runner once (or `debtcases project` beside
`serve --processes 2 --no-workers`), and a command's answer still waits until the lists
show it (read-your-writes across processes)."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.served import CLI, clean_env, create_key, serve

pytestmark = pytest.mark.postgres


def _worker_pids(supervisor: int) -> set[int]:
    """The processes the supervisor started."""
    found = set()
    for task in os.listdir(f"/proc/{supervisor}/task"):
        with open(f"/proc/{supervisor}/task/{task}/children") as f:
            found.update(int(pid) for pid in f.read().split())
    return found


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the accepted socket of the connection from ``client_port``."""
    wanted = (f"{server_port:04X}", f"{client_port:04X}")
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
            if (local, remote) == wanted:
                return fields[9]
    return None


def _served_by(base: str, workers: set[int]) -> int:
    """The worker process that accepted a fresh connection and answered on it."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        inode = _server_side_inode(port, conn.getsockname()[1])
        assert inode is not None
        for pid in workers:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
    raise AssertionError("no worker process holds the connection")


@contextmanager
def _project(env: dict[str, str], workdir: Path) -> Iterator[None]:
    with (workdir / "project.log").open("w") as out:
        process = subprocess.Popen(
            [*CLI, "project"], env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _commands_are_visible_at_once(base: str, support: str, vendor: str) -> None:
    auth = {"Authorization": f"Bearer {support}"}
    mine = {"Authorization": f"Bearer {vendor}"}
    with httpx.Client(base_url=base, timeout=20) as client:
        for round_ in range(6):  # new connections: the kernel spreads them over both workers
            client.close()
            client = httpx.Client(base_url=base, timeout=20)
            verb = "block" if round_ % 2 == 0 else "unblock"
            body = {"reason": "Rückfrage"}
            changed = client.post(f"/api/v1/cases/B-2024-000123/{verb}", json=body, headers=auth)
            assert changed.status_code == 200, changed.text
            assert changed.headers["X-Views-Caught-Up"] == "true"
            expected = "BLOCKED" if verb == "block" else "LOCKED"
            listed = client.get("/api/v1/support/cases", params={"status": expected}, headers=auth)
            assert "B-2024-000123" in [c["order_id"] for c in listed.json()["items"]]
        played = client.post("/api/v1/cases/B-2024-000123/start", json={}, headers=mine)
        assert played.status_code == 200, played.text
        assert played.headers["X-Views-Caught-Up"] == "true"
        page = client.get("/api/v1/vendor/cases", headers=mine).json()["items"]
        assert {"order_id": "B-2024-000123", "status": "RUNNING"}.items() <= next(
            c for c in page if c["order_id"] == "B-2024-000123"
        ).items()
        client.close()


def _both_workers_answer(base: str, supervisor: int) -> None:
    workers = _worker_pids(supervisor) - {_resource_tracker(supervisor)}
    assert len(workers) == 2 and supervisor not in workers
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while seen != workers:
        assert time.monotonic() < deadline, f"only {seen} of {workers} answered"
        seen.add(_served_by(base, workers))


def _resource_tracker(supervisor: int) -> int | None:
    """multiprocessing's resource tracker (a child that serves nothing), if running."""
    for pid in _worker_pids(supervisor):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"resource_tracker" in f.read():
                return pid
    return None


def test_two_processes_answer_commands_and_read_your_writes_holds(
    pg_url: str, tmp_path: Path
) -> None:
    env = clean_env(pg_url)
    with serve(env, tmp_path, "--demo", "--processes", "2") as running:
        support = create_key(env, "--role", "support", "--name", "anna")
        vendor = create_key(env, "--role", "vendor", "--user-id", "79424")
        _commands_are_visible_at_once(running.base, support, vendor)
        _both_workers_answer(running.base, running.process.pid)
        assert httpx.get(f"{running.base}/readyz", timeout=10).status_code == 200


def _ask_each_worker(base: str, workers: set[int], path: str) -> dict[int, str]:
    """``GET path`` on fresh connections until every worker has answered it once: each
    worker's answer."""
    port = int(base.rsplit(":", 1)[1])
    answers: dict[int, str] = {}
    deadline = time.monotonic() + 30
    while answers.keys() != workers:
        assert time.monotonic() < deadline, f"only {set(answers)} of {workers} answered"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            answer = conn.getresponse()
            body = answer.read().decode()
            assert answer.status == 200, body
            inode = _server_side_inode(port, conn.sock.getsockname()[1])
            for pid in workers:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                            answers.setdefault(pid, body)
        finally:
            conn.close()
    return answers


def _sample(metrics: str, name: str, labels: str) -> float:
    found = re.search(rf"^{re.escape(name)}{{{re.escape(labels)}}} (\S+)$", metrics, re.M)
    return float(found[1]) if found else 0.0


def test_every_worker_answers_metrics_for_all_processes(pg_url: str, tmp_path: Path) -> None:
    """The supervisor's runner and outbox count too (with the Diagonal simulator answering
    handovers there), and each worker's requests are added up, whichever worker is asked."""
    env = clean_env(pg_url)
    with serve(env, tmp_path, "--demo", "--processes", "2", "--diagonal-sim") as running:
        workers = _worker_pids(running.process.pid) - {_resource_tracker(running.process.pid)}
        with open(f"/proc/{min(workers)}/environ", "rb") as f:
            shared = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)[
                b"PROMETHEUS_MULTIPROC_DIR"
            ].decode()
        assert Path(shared).is_dir()
        vendor = create_key(env, "--role", "vendor", "--user-id", "79424")
        played = httpx.post(
            f"{running.base}/api/v1/cases/B-2024-000123/start",
            json={},
            headers={"Authorization": f"Bearer {vendor}"},
            timeout=20,
        )
        assert played.status_code == 200, played.text
        healthz_200 = 'method="GET",route="/healthz",status="200"'
        before = {
            _sample(m, "debtcases_http_requests_total", healthz_200)
            for m in _ask_each_worker(running.base, workers, "/metrics").values()
        }
        assert len(before) == 1  # (serve's start-up probes) the same answer from both
        healthz = before.pop()
        for _ in range(12):  # fresh connections: the kernel spreads them over both workers
            assert httpx.get(f"{running.base}/healthz", timeout=10).status_code == 200
            healthz += 1
        deadline = time.monotonic() + 30
        while True:  # the handover goes out through the supervisor's outbox
            answers = _ask_each_worker(running.base, workers, "/metrics")
            published = [
                _sample(m, "debtcases_messages_published_total", 'type="handover"')
                for m in answers.values()
            ]
            if min(published) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert min(published) >= 1, published
        for metrics in answers.values():
            assert _sample(metrics, "debtcases_http_requests_total", healthz_200) == healthz
            assert "debtcases_runner_failures_total" in metrics
            assert "debtcases_projection_position" in metrics
    assert not Path(shared).exists()  # metric files only, gone with the processes


def test_two_processes_beside_debtcases_project(pg_url: str, tmp_path: Path) -> None:
    env = clean_env(pg_url)
    with (
        serve(env, tmp_path, "--demo", "--processes", "2", "--no-workers") as running,
        _project(env, tmp_path),
    ):
        support = create_key(env, "--role", "support", "--name", "anna")
        vendor = create_key(env, "--role", "vendor", "--user-id", "79424")
        _commands_are_visible_at_once(running.base, support, vendor)
        _both_workers_answer(running.base, running.process.pid)


def test_more_than_one_process_is_refused_on_sqlite(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/one.sqlite")
    refused = subprocess.run(
        [sys.executable, "-m", "debtcases.cli", "serve", "--processes", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "needs PostgreSQL" in refused.stderr
