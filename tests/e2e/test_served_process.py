"""The real thing: `debtcases serve` as its own process, tokens from `debtcases keys create`,
HTTP over a socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "debtcases.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBTCASES_")}
    env["DEBTCASES_DATABASE_URL"] = f"sqlite:///{tmp_path}/served.sqlite"
    return env


def _key(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*CLI, "keys", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    env = _env(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"serve did not come up: {proc.communicate()[0]}")
    yield base, env, proc
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_keys_are_printed_once_as_the_last_line_and_stored_hashed(tmp_path: Path) -> None:
    env = _env(tmp_path)
    token = _key(env, "--role", "support", "--name", "anna")
    assert token.startswith("dc_") and len(token) > 40
    data = (tmp_path / "served.sqlite").read_bytes()
    assert token.encode() not in data
    refused = subprocess.run(
        [*CLI, "keys", "create", "--role", "vendor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "user-id" in refused.stderr


def test_a_served_process_runs_the_demo_and_the_play_flow(
    served: tuple[str, dict[str, str], subprocess.Popen[str]],
) -> None:
    base, env, _ = served
    vendor = _key(env, "--role", "vendor", "--user-id", "79424")
    support = _key(env, "--role", "support", "--name", "anna")
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/readyz").status_code == 200
        own = client.get(
            "/api/v1/cases/B-2024-000123", headers={"Authorization": f"Bearer {vendor}"}
        ).json()
        assert (own["user_id"], own["status"]) == (79424, "LOCKED")
        played = client.post(
            "/api/v1/cases/B-2024-000123/start",
            json={},
            headers={"Authorization": f"Bearer {vendor}"},
        )
        assert played.status_code == 200 and played.json()["status"] == "RUNNING"
        failed = client.get(
            "/api/v1/cases/B-2024-000201", headers={"Authorization": f"Bearer {support}"}
        ).json()
        assert failed["status"] == "FAILED" and failed["errors"]
        hidden = client.get(
            "/api/v1/cases/B-2024-000201", headers={"Authorization": f"Bearer {vendor}"}
        )
        assert hidden.status_code == 404
