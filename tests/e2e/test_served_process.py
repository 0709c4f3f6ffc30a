"""The real thing: `debtcases serve` as its own process, tokens from `debtcases keys create`,
HTTP over a socket."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.served import CLI, clean_env, create_key, serve


def _env(tmp_path: Path) -> dict[str, str]:
    return clean_env(f"sqlite:///{tmp_path}/served.sqlite")


_key = create_key


@contextmanager
def _serve(tmp_path: Path, *extra: str) -> Iterator[tuple[str, dict[str, str], Path]]:
    env = _env(tmp_path)
    env["DEBTCASES_DIAGONAL_SIMULATOR_DELAY_SECONDS"] = "0.2"
    with serve(env, tmp_path, "--demo", *extra) as running:
        yield running.base, env, running.log


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
