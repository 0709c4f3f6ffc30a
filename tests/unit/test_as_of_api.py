"""As of any moment over HTTP: the case and the lists (JSON and CSV) as they stood then,
and what changed between two moments, for support and for the vendor."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from tests.unit.test_views_api import SUPPORT_LIST, VENDOR_LIST, Api

NEW_ADDRESS = {
    "name": "Jana Schäfer",
    "street": "Hauptstraße 1",
    "postal_code": "50667",
    "city": "Köln",
    "country": "DE",
}


@pytest.fixture(params=["memory", "sqlite"])
def api(
    request: pytest.FixtureRequest, tmp_path: Any, make_container: Callable[..., Container]
) -> Iterator[Api]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/c.sqlite"
    container = make_container(url)
    container.start_workers()
    with TestClient(create_app(container)) as client:
        yield Api(client, container.keys)


def moment() -> str:
    """Now, between two commands (the service's clock is the real one here)."""
    time.sleep(0.005)
    at = datetime.now(UTC).isoformat()
    time.sleep(0.005)
    return at


@pytest.fixture
def story(api: Api) -> dict[str, str]:
    """B-1: admitted, started by the vendor, its address corrected, then blocked (a
    dispute until a day) by support; moments in between."""
    times = {"before": moment()}
    api.admit("B-1")
    times["admitted"] = moment()
    api.command("B-1", "start", api.vendor, {})
    times["running"] = moment()
    api.command("B-1", "address", api.support, {"debtor": NEW_ADDRESS, "reason": "Umzug"})
    times["corrected"] = moment()
    hold = {"reason": "Kunde bestreitet", "code": "dispute", "until": "2099-01-01"}
    api.command("B-1", "block", api.support, hold)
    times["blocked"] = moment()
    return times


def get(api: Api, path: str, headers: dict[str, str], **params: Any) -> Any:
    r = api.client.get(path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_case_as_of_a_moment_is_the_case_as_it_was_then(
    api: Api, story: dict[str, str]
) -> None:
    case = "/api/v1/cases/B-1"
    assert get(api, case, api.support, as_of=story["admitted"])["status"] == "LOCKED"
    assert get(api, case, api.support, as_of=story["running"])["status"] == "RUNNING"
    then = get(api, case, api.support, as_of=story["corrected"])
    assert then["debtor"]["street"] == "Hauptstraße 1" and then["hold"] is None
    blocked = get(api, case, api.support, as_of=story["blocked"])
    assert blocked["status"] == "BLOCKED" and blocked["hold"]["code"] == "dispute"
    assert blocked == get(api, case, api.support) | {"stuck": blocked["stuck"]}


def test_a_vendor_sees_the_case_as_of_a_moment_as_they_always_see_it(
    api: Api, story: dict[str, str]
) -> None:
    case = "/api/v1/cases/B-1"
    corrected = get(api, case, api.vendor, as_of=story["corrected"])
    blocked = get(api, case, api.vendor, as_of=story["blocked"])
    assert blocked["status"] == "RUNNING" and "hold" not in blocked
    assert blocked == corrected  # the block made no version the vendor can see
    assert get(api, case, api.vendor, as_of=story["admitted"])["status"] == "LOCKED"


def test_a_case_not_yet_admitted_at_the_moment_or_anothers_is_not_found(
    api: Api, story: dict[str, str]
) -> None:
    for headers in (api.support, api.vendor):
        r = api.client.get("/api/v1/cases/B-1", params={"as_of": story["before"]}, headers=headers)
        assert r.status_code == 404, r.text
    r = api.client.get("/api/v1/cases/B-1", params={"as_of": story["blocked"]}, headers=api.other)
    assert r.status_code == 404


@pytest.mark.parametrize(
    "value", ["2024-06-01", "2024-06-01T00:00:00", "1717200000", "2024-13-01T00:00:00Z"]
)
def test_a_moment_without_offset_or_impossible_is_refused(
    api: Api, story: dict[str, str], value: str
) -> None:
    for path in ("/api/v1/cases/B-1", SUPPORT_LIST, "/api/v1/support/cases.csv"):
        r = api.client.get(path, params={"as_of": value}, headers=api.support)
        assert r.status_code == 422, (path, r.text)
    r = api.client.get("/api/v1/cases/B-1/changes", params={"to": value}, headers=api.support)
    assert r.status_code == 422
    # The message says what a moment is, not that the text "contains characters that are
    # not allowed" (a date such as 2024-06-01 has none).
    error = r.json()["errors"][0]
    assert error["field"] == "to"
    assert "UTC offset" in error["msg"] and "2024-06-01T00:00:00Z" in error["msg"], error


def test_a_cursor_that_is_not_one_is_refused_as_a_cursor(api: Api, story: dict[str, str]) -> None:
    for cursor in ("x" * 10, "x" * 31 + "!", "x" * 33):
        r = api.client.get(SUPPORT_LIST, params={"after": cursor}, headers=api.support)
        assert r.status_code == 422, r.text
        msgs = [e["msg"] for e in r.json()["errors"] if e["field"] == "after"]
        assert msgs and all("next_after" in m for m in msgs), r.text


def test_support_sees_every_change_between_two_moments_with_who_and_why(
    api: Api, story: dict[str, str]
) -> None:
    out = get(
        api,
        "/api/v1/cases/B-1/changes",
        api.support,
        **{"from": story["admitted"], "to": story["blocked"]},
    )
    assert out["before"]["status"] == "LOCKED" and out["after"]["status"] == "BLOCKED"
    events = [(c["event"], c["actor"]["role"], sorted(c["changed"])) for c in out["changes"]]
    assert events == [
        ("DunningStarted", "vendor", ["status"]),
        ("AddressCorrected", "support", ["debtor"]),
        ("Blocked", "support", ["hold", "status"]),
    ]
    address = out["changes"][1]
    assert address["reason"] == "Umzug"
    assert address["changed"]["debtor"]["before"]["street"] == "Lindenstraße 12"
    assert address["changed"]["debtor"]["after"]["street"] == "Hauptstraße 1"
    assert out["changes"][2]["changed"]["hold"]["after"]["code"] == "dispute"
    since_admission = get(api, "/api/v1/cases/B-1/changes", api.support)
    assert since_admission["before"] is None and since_admission["from"] is None
    assert since_admission["changes"][0]["event"] == "Locked"


def test_a_vendor_gets_the_changes_without_support_only_ones(
    api: Api, story: dict[str, str]
) -> None:
    out = get(api, "/api/v1/cases/B-1/changes", api.vendor, **{"from": story["admitted"]})
    assert [c["event"] for c in out["changes"]] == ["DunningStarted", "AddressCorrected"]
    assert out["after"]["status"] == "RUNNING" and "hold" not in out["after"]
    assert all("hold" not in c["changed"] for c in out["changes"])


def test_changes_between_two_moments_take_them_in_either_order(
    api: Api, story: dict[str, str]
) -> None:
    def changes(start: str, end: str) -> Any:
        return get(api, "/api/v1/cases/B-1/changes", api.support, **{"from": start, "to": end})

    forward = changes(story["admitted"], story["corrected"])
    assert forward == changes(story["corrected"], story["admitted"])
    assert [c["event"] for c in forward["changes"]] == ["DunningStarted", "AddressCorrected"]


def test_moments_beyond_the_calendar_in_utc_are_the_first_and_last_moments(
    api: Api, story: dict[str, str]
) -> None:
    early, late = "0001-01-01T00:00+05:00", "9999-12-31T23:59-05:00"
    r = api.client.get("/api/v1/cases/B-1", params={"as_of": early}, headers=api.support)
    assert r.status_code == 404
    assert get(api, "/api/v1/cases/B-1", api.support, as_of=late)["status"] == "BLOCKED"
    page = get(api, SUPPORT_LIST, api.support, as_of=late, hold_ends_within_days=3660)
    assert page["total"] == 1


def test_the_lists_as_of_a_moment_are_the_lists_as_they_stood_then(
    api: Api, story: dict[str, str]
) -> None:
    api.admit("B-2")  # after every moment of the story
    assert get(api, SUPPORT_LIST, api.support, as_of=story["before"])["total"] == 0
    then = get(api, SUPPORT_LIST, api.support, as_of=story["running"])
    assert [(c["order_id"], c["status"]) for c in then["items"]] == [("B-1", "RUNNING")]
    assert then["total"] == 1
    blocked = get(api, SUPPORT_LIST, api.support, as_of=story["blocked"], status="BLOCKED")
    assert [c["order_id"] for c in blocked["items"]] == ["B-1"]
    assert get(api, SUPPORT_LIST, api.support)["total"] == 2  # and now


def test_a_vendors_list_as_of_a_moment_hides_what_it_always_hides(
    api: Api, story: dict[str, str]
) -> None:
    page = get(api, VENDOR_LIST, api.vendor, as_of=story["blocked"], status="RUNNING")
    assert [(c["order_id"], c["status"]) for c in page["items"]] == [("B-1", "RUNNING")]
    assert page["total"] == 1 and "hold" not in page["items"][0]
    assert get(api, VENDOR_LIST, api.other, as_of=story["blocked"])["total"] == 0
    r = api.client.get(
        VENDOR_LIST, params={"as_of": story["blocked"], "status": "BLOCKED"}, headers=api.vendor
    )
    assert r.status_code == 422


def test_the_csv_as_of_a_moment_is_the_list_as_it_stood_then(
    api: Api, story: dict[str, str]
) -> None:
    def csv(path: str, headers: dict[str, str], at: str) -> str:
        r = api.client.get(path, params={"as_of": at}, headers=headers)
        assert r.status_code == 200, r.text
        return r.content.decode("utf-8-sig")

    running = csv("/api/v1/support/cases.csv", api.support, story["admitted"])
    assert "B-1" in running and "Gesperrt" in running
    assert "Blockiert" in csv("/api/v1/support/cases.csv", api.support, story["blocked"])
    vendor = csv("/api/v1/vendor/cases.csv", api.vendor, story["blocked"])
    assert "B-1" in vendor and "Blockiert" not in vendor
    assert csv("/api/v1/vendor/cases.csv", api.vendor, story["before"]).count("\r\n") == 1
