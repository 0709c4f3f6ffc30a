"""Browser tests: a real `debtcases serve` process (fresh SQLite, demo data) driven by
Playwright in Debian's Chromium (/usr/bin/chromium, headless). Never `playwright install`.

Without Chromium the tests skip on a developer machine and FAIL under CI=true."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.served import clean_env, create_key, serve

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).parent
AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE / "screenshots"


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    env: dict[str, str]

    def key(self, *args: str) -> str:
        return create_key(self.env, *args)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("served-ui")
    env = clean_env(f"sqlite:///{tmp}/ui.sqlite", session_secret="browser-tests-" + "x" * 32)
    # No --diagonal-sim: a started case stays "Laufend" until someone hands it over.
    with serve(env, tmp, "--demo") as served:
        assert f"{served.base}/anmelden" in served.log.read_text(), (
            "serve must print the sign-in address"
        )
        yield Server(served.base, served.demo_tokens(), env)


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
