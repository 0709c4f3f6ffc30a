"""`debtcases serve` as its own process, for the tiers that talk HTTP over a socket
(end to end, browser, contract): a free port on 127.0.0.1, a fresh environment, the
printed demo tokens, and a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "debtcases.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without any DEBTCASES_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBTCASES_")}
    env["DEBTCASES_DATABASE_URL"] = database_url
    env.update({f"DEBTCASES_{k.upper()}": v for k, v in settings.items()})
    return env


def create_key(env: dict[str, str], *args: str) -> str:
    """`debtcases keys create ARGS`: the token is the last line printed."""
    done = subprocess.run(
        [*CLI, "keys", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Served:
    base: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[str] = field(repr=False)

    def demo_tokens(self) -> dict[str, str]:
        """The tokens `serve --demo` printed: support, the two demo vendors, system."""
        text = self.log.read_text()
        found = {
            "support": re.search(r"support \(Schulden\)\s+(\S+)", text),
            "79424": re.search(r"vendor 79424 \(Inkasso-Beta\)\s+(\S+)", text),
            "51234": re.search(r"vendor 51234 \(Inkasso-Beta\)\s+(\S+)", text),
            "system": re.search(r"system \(order intake\)\s+(\S+)", text),
        }
        return {role: m[1] for role, m in found.items() if m is not None}


@contextmanager
def serve(env: dict[str, str], workdir: Path, *args: str, timeout: float = 60) -> Iterator[Served]:
    """Start `debtcases serve --port P ARGS`, wait for /healthz, stop it (SIGINT) after."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), *args],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not come up: {log.read_text()}")
            time.sleep(0.2)
        yield Served(base, env, log, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
