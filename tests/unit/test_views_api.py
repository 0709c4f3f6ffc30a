"""The case lists over HTTP: vendor isolation, BLOCKED hidden, filters, 422s,
read-your-writes, collection access and the projection lag on /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Role

SUPPORT_LIST = "/api/v1/support/cases"
VENDOR_LIST = "/api/v1/vendor/cases"


class Api:
    def __init__(self, client: TestClient, keys: Any) -> None:
        self.client = client
        self.support = _bearer(keys.create(Role.SUPPORT, name="anna"))
        self.vendor = _bearer(keys.create(Role.VENDOR, user_id=79424))
        self.other = _bearer(keys.create(Role.VENDOR, user_id=51234))
        self.system = _bearer(keys.create(Role.SYSTEM, name="intake"))

    def admit(self, order_id: str, user_id: int = 79424) -> None:
        body = {
            "order_id": order_id,
            "user_id": user_id,
            "amount": "49.90",
            "currency": "EUR",
            "debtor": {
                "name": "Jana Schäfer",
                "street": "Lindenstraße 12",
                "postal_code": "10969",
                "city": "Köln",
                "country": "DE",
            },
        }
        r = self.client.post("/api/v1/cases", json=body, headers=self.system)
        assert r.status_code == 201, r.text

    def command(
        self, order_id: str, name: str, headers: dict[str, str], body: dict[str, str] | None = None
    ) -> None:
        r = self.client.post(
            f"/api/v1/cases/{order_id}/{name}", json=body or {"reason": "weil"}, headers=headers
        )
        assert r.status_code == 200, r.text

    def list(self, path: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
        r = self.client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["memory", "sqlite"])
def api(
    request: pytest.FixtureRequest, tmp_path: Any, make_container: Callable[..., Container]
) -> Iterator[Api]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/c.sqlite"
    container = make_container(url)
    container.start_workers()  # the runner thread, as `serve` runs it
    with TestClient(create_app(container)) as client:
        yield Api(client, container.keys)


def test_a_list_right_after_a_command_shows_its_effect(api: Api) -> None:
    for i in range(20):
        api.admit(f"B-{i}")
        api.command(f"B-{i}", "start", api.vendor, {})
        page = api.list(VENDOR_LIST, api.vendor, order_id=f"B-{i}")
        assert [(c["order_id"], c["status"]) for c in page["items"]] == [(f"B-{i}", "RUNNING")]


def test_vendor_sees_only_own_cases_and_never_blocked(api: Api) -> None:
    api.admit("B-1")
    api.admit("B-2")
    api.admit("X-1", user_id=51234)
    api.command("B-1", "block", api.support)
    mine = api.list(VENDOR_LIST, api.vendor)
    assert {c["order_id"] for c in mine["items"]} == {"B-1", "B-2"}
    assert mine["total"] == 2
    assert all(c["status"] == "LOCKED" and c["status_label"] == "Gesperrt" for c in mine["items"])
    assert all(
        "status_before_block" not in c or c["status_before_block"] is None for c in mine["items"]
    )
    assert all(c.get("last_change") is None for c in mine["items"])
    # The vendor's status filter applies to the status the vendor sees.
    assert api.list(VENDOR_LIST, api.vendor, status="LOCKED")["total"] == 2
    # Another vendor's order is simply not there.
    assert api.list(VENDOR_LIST, api.other, order_id="B-1")["total"] == 0
    theirs = api.list(VENDOR_LIST, api.other)
    assert [c["order_id"] for c in theirs["items"]] == ["X-1"]


def test_support_sees_blocked_and_filters_by_vendor_status_and_period(api: Api) -> None:
    api.admit("B-1")
    api.admit("B-2")
    api.admit("X-1", user_id=51234)
    api.command("B-1", "block", api.support)
    blocked = api.list(SUPPORT_LIST, api.support, status="BLOCKED")
    assert [(c["order_id"], c["status_before_block"]) for c in blocked["items"]] == [
        ("B-1", "LOCKED")
    ]
    assert blocked["items"][0]["last_change"]["event"] == "Blocked"
    assert api.list(SUPPORT_LIST, api.support, user_id=79424)["total"] == 2
    assert api.list(SUPPORT_LIST, api.support, status="LOCKED,BLOCKED")["total"] == 3
    month = blocked["items"][0]["entered_month"]
    assert api.list(SUPPORT_LIST, api.support, period=month)["total"] == 3
    assert api.list(SUPPORT_LIST, api.support, period="2001-01")["total"] == 0
    assert api.list(SUPPORT_LIST, api.support, period="all")["total"] == 3


def test_lists_are_newest_change_first_and_paged(api: Api) -> None:
    for i in range(7):
        api.admit(f"B-{i}")
    api.command("B-2", "start", api.vendor, {})
    first = api.list(SUPPORT_LIST, api.support, page=1, page_size=3)
    second = api.list(SUPPORT_LIST, api.support, page=2, page_size=3)
    third = api.list(SUPPORT_LIST, api.support, page=3, page_size=3)
    order = [c["order_id"] for p in (first, second, third) for c in p["items"]]
    assert order == ["B-2", "B-6", "B-5", "B-4", "B-3", "B-1", "B-0"]
    assert (first["total"], first["page"], first["page_size"]) == (7, 1, 3)


@pytest.mark.parametrize(
    "params",
    [
        {"status": "OPEN"},
        {"status": "LOCKED,NOPE"},
        {"period": "2024-13"},
        {"period": "last-month"},
        {"page": "0"},
        {"page_size": "501"},
    ],
)
def test_bad_filters_are_422_validation_errors_not_empty_lists(
    api: Api, params: dict[str, str]
) -> None:
    for path, headers in ((SUPPORT_LIST, api.support), (VENDOR_LIST, api.vendor)):
        r = api.client.get(path, params=params, headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "validation_error"


def test_a_vendor_cannot_filter_for_blocked(api: Api) -> None:
    r = api.client.get(VENDOR_LIST, params={"status": "BLOCKED"}, headers=api.vendor)
    assert r.status_code == 422


def test_lists_are_for_their_roles_only(api: Api) -> None:
    assert api.client.get(SUPPORT_LIST, headers=api.vendor).status_code == 403
    assert api.client.get(VENDOR_LIST, headers=api.support).status_code == 403
    assert api.client.get(SUPPORT_LIST).status_code == 401


def test_collection_access_follows_the_first_handover(api: Api) -> None:
    path = "/api/v1/support/vendors/79424/collection-access"
    api.admit("B-1")
    api.admit("B-2")
    none_yet = api.list(path, api.support)
    assert (
        none_yet["has_cases_at_diagonal"],
        none_yet["portal_access"],
        none_yet["since"],
        none_yet["cases_total"],
    ) == (False, False, None, 2)
    assert none_yet["by_status"]["LOCKED"] == 2
    assert none_yet["portal_access_message"] is None
    api.command("B-1", "start", api.vendor, {})
    api.command("B-1", "hand-over", api.support)
    access = api.list(path, api.support)
    assert access["has_cases_at_diagonal"] and access["portal_access"]
    assert access["since"] is not None and access["cases_at_diagonal"] == 1
    assert access["by_status"]["HANDED_OVER"] == 1
    # The outbox grants portal access once, with the date, for the first case only.
    deadline = time.monotonic() + 10
    while api.list(path, api.support)["portal_access_message"] is None:
        assert time.monotonic() < deadline, "no portal-access message recorded"
        time.sleep(0.05)
    first = api.list(path, api.support)["portal_access_message"]
    assert first["order_id"] == "B-1" and first["granted_at"] is not None
    api.command("B-2", "start", api.vendor, {})
    api.command("B-2", "hand-over", api.support)
    time.sleep(0.3)
    assert api.list(path, api.support)["portal_access_message"] == first
    assert api.client.get(path, headers=api.vendor).status_code == 403
    unknown = api.list("/api/v1/support/vendors/424242/collection-access", api.support)
    assert unknown["cases_total"] == 0 and not unknown["portal_access"]


def test_metrics_count_requests_by_route_and_status(api: Api) -> None:
    api.admit("B-1")
    api.client.get("/api/v1/cases/B-404", headers=api.support)
    text = api.client.get("/metrics").text
    assert (
        'debtcases_http_requests_total{method="GET",route="/api/v1/cases/{order_id}",'
        'status="404"}' in text
    )
    assert 'route="/api/v1/cases",status="201"' in text
    assert "B-404" not in text
    assert 'debtcases_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text


def test_metrics_show_the_lag_of_each_view(api: Api) -> None:
    api.admit("B-1")
    text = api.client.get("/metrics").text
    assert 'debtcases_projection_lag_events{view="cases"}' in text
    assert 'debtcases_projection_lag_events{view="vendor_access"}' in text
