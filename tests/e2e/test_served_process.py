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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def _serve(tmp_path: Path, *extra: str) -> Iterator[tuple[str, dict[str, str], Path]]:
    env = _env(tmp_path)
    env["DEBTCASES_DIAGONAL_SIMULATOR_DELAY_SECONDS"] = "0.2"
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--demo", *extra],
            env=env,
            stdout=out,
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
            pytest.fail(f"serve did not come up: {log.read_text()}")
        try:
            yield base, env, log
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    with _serve(tmp_path) as running:
        yield running


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
    served: tuple[str, dict[str, str], Path],
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


def test_make_run_shows_play_to_handed_over_and_a_rejection_through_the_simulator(
    tmp_path: Path,
) -> None:
    """What `make run` starts: demo data, printed tokens, the Diagonal simulator."""
    with _serve(tmp_path, "--diagonal-sim") as (base, _, log):
        lines = log.read_text().splitlines()
        support = next(x for x in lines if "support (Schulden)" in x).split()[-1]
        vendor = next(x for x in lines if "vendor 79424" in x).split()[-1]
        with httpx.Client(base_url=base, timeout=10) as client:

            def status(order_id: str) -> Any:
                return client.get(
                    f"/api/v1/cases/{order_id}", headers={"Authorization": f"Bearer {support}"}
                ).json()

            played = client.post(
                "/api/v1/cases/B-2024-000123/start",
                json={},
                headers={"Authorization": f"Bearer {vendor}"},
            )
            assert played.json()["status"] == "RUNNING"
            deadline = time.monotonic() + 30
            while status("B-2024-000123")["status"] != "HANDED_OVER":
                assert time.monotonic() < deadline, "the simulator never answered 'received'"
                time.sleep(0.2)
            rejected = status("B-2024-000203")
            while rejected["status"] != "FAILED":
                assert time.monotonic() < deadline, "the simulator never rejected"
                time.sleep(0.2)
                rejected = status("B-2024-000203")
            assert any("Postleitzahl" in e for e in rejected["errors"])
            history = client.get(
                "/api/v1/cases/B-2024-000123/history",
                headers={"Authorization": f"Bearer {vendor}"},
            ).json()["entries"]
            assert [e["event"] for e in history][-2:] == ["DunningStarted", "HandedToCollection"]
            assert history[-1]["actor"]["role"] == "diagonal"
