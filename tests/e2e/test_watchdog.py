"""The watchdog: a case RUNNING longer than the bound without Diagonal's 'received' is
flagged stuck in the support list, listed for support, and counted in /metrics."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import build_container
from debtcases.config import Settings
from debtcases.domain.actors import Role


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _stuck_gauge(client: TestClient) -> float:
    match = re.search(r"^debtcases_cases_stuck (\S+)$", client.get("/metrics").text, re.M)
    assert match, "no debtcases_cases_stuck gauge"
    return float(match.group(1))


def test_a_case_running_past_the_bound_is_flagged_listed_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    container = build_container(
        Settings(database_url=f"sqlite:///{tmp_path}/w.sqlite", stuck_after_hours=48), clock
    )
    try:
        client = TestClient(create_app(container))
        intake = {"Authorization": f"Bearer {container.keys.create(Role.SYSTEM, name='i')}"}
        support = {"Authorization": f"Bearer {container.keys.create(Role.SUPPORT, name='a')}"}
        vendor = {"Authorization": f"Bearer {container.keys.create(Role.VENDOR, user_id=7)}"}
        debtor = {
            "name": "Jana Schäfer",
            "street": "Lindenstraße 12",
            "postal_code": "10969",
            "city": "Berlin",
            "country": "DE",
        }
        for order_id in ("W-1", "W-2"):
            body = {"order_id": order_id, "user_id": 7, "amount": "10.00", "debtor": debtor}
            assert client.post("/api/v1/cases", json=body, headers=intake).status_code == 201
            assert (
                client.post(f"/api/v1/cases/{order_id}/start", json={}, headers=vendor).status_code
                == 200
            )
        container.runner.catch_up()

        def flags() -> dict[str, bool]:
            items = client.get("/api/v1/support/cases", headers=support).json()["items"]
            return {i["order_id"]: i["stuck"] for i in items}

        assert flags() == {"W-1": False, "W-2": False}
        assert _stuck_gauge(client) == 0

        clock.now += timedelta(hours=49)
        received = container.cases.apply_ack("W-2", kind="received", message_id="ack-w2")
        container.wait_for_views(received.position)
        container.runner.catch_up()
        assert flags() == {"W-1": True, "W-2": False}
        assert _stuck_gauge(client) == 1
        listed = client.get("/api/v1/support/diagonal/stuck", headers=support).json()
        assert [i["order_id"] for i in listed["items"]] == ["W-1"]
        own = client.get("/api/v1/vendor/cases", headers=vendor).json()["items"]
        assert all("stuck" not in i or i["stuck"] is None for i in own)
    finally:
        container.close()
