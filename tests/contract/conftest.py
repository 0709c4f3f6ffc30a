"""The contract tier: schemathesis, as an outside tester runs it, against `debtcases serve`.

One served process per backend (a SQLite file; a fresh PostgreSQL database) with the demo
data, shared by the roles, which run one after another against it. The figures of every run
(cases generated, links covered, failures) are printed at the end of the session."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import pytest

CLI = [sys.executable, "-m", "debtcases.cli"]
FIGURES: list[dict[str, Any]] = []


@dataclass
class Served:
    backend: str
    base: str
    tokens: dict[str, str]  # "support", "79424", "51234", "system"
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp: Path, backend: str, database_url: str) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBTCASES_")}
    env["DEBTCASES_DATABASE_URL"] = database_url
    env["DEBTCASES_SESSION_SECRET"] = "contract-tests-" + "x" * 32
    port = _free_port()
    log = tmp / f"serve-{backend}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--demo"],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"serve did not come up: {log.read_text()}")
        text = log.read_text()
        tokens = {
            "support": re.search(r"support \(Schulden\)\s+(\S+)", text),
            "79424": re.search(r"vendor 79424 \(Inkasso-Beta\)\s+(\S+)", text),
            "51234": re.search(r"vendor 51234 \(Inkasso-Beta\)\s+(\S+)", text),
            "system": re.search(r"system \(order intake\)\s+(\S+)", text),
        }
        assert all(tokens.values()), f"serve must print the demo tokens: {text}"
        yield Served(backend, base, {k: m[1] for k, m in tokens.items() if m}, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _with_db(url: str, dbname: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/" + dbname))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp(f"contract-{request.param}")
    if request.param == "sqlite":
        yield from _serve(tmp, "sqlite", f"sqlite:///{tmp}/contract.sqlite")
        return
    import psycopg

    server = request.getfixturevalue("pg_server_url")
    name = "contract_" + uuid.uuid4().hex[:12]
    admin = _with_db(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield from _serve(tmp, "postgres", _with_db(server, name))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("contract tier: schemathesis --checks all against debtcases serve")
    write(
        f"{'backend':<9}{'role':<14}{'cases':>7}{'links covered':>15}{'failures':>10}"
        f"{'errors':>8}{'seconds':>9}"
    )
    for f in FIGURES:
        write(
            f"{f['backend']:<9}{f['role']:<14}{f['generated']:>7}"
            f"{f['links']:>15}{f['failures']:>10}{f['errors']:>8}{f['seconds']:>9.1f}"
        )
    write(
        f"{'total':<23}{sum(f['generated'] for f in FIGURES):>7}{'':>15}"
        f"{sum(f['failures'] for f in FIGURES):>10}{sum(f['errors'] for f in FIGURES):>8}"
        f"{sum(f['seconds'] for f in FIGURES):>9.1f}"
    )
