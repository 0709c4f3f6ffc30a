"""A projection process (`debtcases project`) SIGKILLed mid-batch and restarted: the views
equal the replay, no row duplicated or missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from tests.builders import DEBTOR
from tests.views_support import SUPPORT, assert_views_equal_fold


def _project(url: str, batch_size: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEBTCASES_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "debtcases.cli", "project", "--batch-size", str(batch_size)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_killed_projection_process_resumes_exactly_once(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    # This process writes commands only; another process projects.
    container = make_container(pg_url, run_workers=False)
    app, views = container.cases, container.views
    order_ids = [f"K-{i:05d}" for i in range(3000)]
    for i in range(0, len(order_ids), 500):
        app.admit_many(
            [
                Admission(o, 70000 + int(o[2:]) % 7, Decimal("12.00"), "EUR", DEBTOR)
                for o in order_ids[i : i + 500]
            ],
            Actor.system("intake"),
        )
    for o in order_ids[::3]:
        app.start_dunning(o, SUPPORT, "los")
    head = app.recorder.max_notification_id()
    assert head is not None

    first = _project(pg_url, batch_size=25)
    try:
        _wait(
            lambda: 0 < min(views.positions().values()) < head,
            60,  # type: ignore[union-attr]
            "the projection to start",
        )
        time.sleep(0.3)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = min(views.positions().values())  # type: ignore[union-attr]
    assert 0 < killed_at < head, "the kill must land mid-stream"

    # More commands while no projection runs, then a restart.
    for o in order_ids[1::50]:
        app.block(o, SUPPORT, "Pause")
    head = app.recorder.max_notification_id()
    second = _project(pg_url, batch_size=500)
    try:
        assert container.runner.wait_for(head, 120, only=(views.name,))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert second.returncode == 0, second.stderr.read() if second.stderr else ""
    assert_views_equal_fold(views, app, order_ids)
