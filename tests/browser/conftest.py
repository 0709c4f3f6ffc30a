"""Browser tests: a real `debtcases serve` process (fresh SQLite, demo data) driven by
Playwright in Debian's Chromium (/usr/bin/chromium, headless). Never `playwright install`.

Without Chromium the tests skip on a developer machine and FAIL under CI=true."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).parent
AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE / "screenshots"
CLI = [sys.executable, "-m", "debtcases.cli"]


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    env: dict[str, str]

    def key(self, *args: str) -> str:
        done = subprocess.run(
            [*CLI, "keys", "create", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("served-ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBTCASES_")}
    env["DEBTCASES_DATABASE_URL"] = f"sqlite:///{tmp}/ui.sqlite"
    env["DEBTCASES_SESSION_SECRET"] = "browser-tests-" + "x" * 32
    port = _free_port()
    log = tmp / "serve.log"
    with log.open("w") as out:
        # No --diagonal-sim: a started case stays "Laufend" until someone hands it over.
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--demo"],
            env=env,
            cwd=tmp,
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
    text = log.read_text()
    assert f"{base}/anmelden" in text, "serve must print the sign-in address"
    tokens = {
        "support": re.search(r"support \(Schulden\)\s+(\S+)", text)[1],  # type: ignore[index]
        "79424": re.search(r"vendor 79424 \(Inkasso-Beta\)\s+(\S+)", text)[1],  # type: ignore[index]
        "51234": re.search(r"vendor 51234 \(Inkasso-Beta\)\s+(\S+)", text)[1],  # type: ignore[index]
    }
    try:
        yield Server(base, tokens, env)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (Debian package 'chromium'; make test installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    # bypass_csp: lets the tests inject axe-core; the pages themselves run under the CSP.
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="de-DE",
        timezone_id="Europe/Berlin",
        accept_downloads=True,
        bypass_csp=True,
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def sign_in(page: Any, server: Server, who: str) -> None:
    page.goto(f"{server.base}/")
    page.get_by_label("Zugangstoken").fill(server.tokens[who])
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_load_state()


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         targets: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def shoot(page: Any, name: str) -> None:
    """Screenshots at 1280 px and 390 px (under the git-ignored screenshots/)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def row(page: Any, order_id: str) -> Any:
    return page.locator(f'tr[data-order="{order_id}"]')


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)
