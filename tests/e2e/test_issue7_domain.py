"""Issue 7, domain behaviour over HTTP, on SQLite and PostgreSQL: idempotent status asks,
no data lost by an address correction, the specialist's fell-back worklist, one shape of
a case, re-importing an export, what a vendor sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Role

GOOD = {
    "name": "Jana Schäfer",
    "street": "Lindenstraße 12",
    "postal_code": "10969",
    "city": "Berlin",
    "country": "DE",
}


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> Any:
        response = self.client.post(f"/api/v1{path}", json=body or {}, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json()

    def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        response = self.client.get(f"/api/v1{path}", params=params, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json() if "json" in response.headers["content-type"] else response


@pytest.fixture
def container(database_url: str, make_container: Callable[..., Container]) -> Container:
    return make_container(database_url)


@pytest.fixture
def apis(container: Container) -> dict[str, Api]:
    client = TestClient(create_app(container))
    return {
        "support": Api(client, container.keys.create(Role.SUPPORT, name="anna")),
        "vendor": Api(client, container.keys.create(Role.VENDOR, user_id=79424)),
        "intake": Api(client, container.keys.create(Role.SYSTEM, name="intake")),
    }


def admit(apis: dict[str, Api], order_id: str, debtor: dict[str, str] | None = None) -> Any:
    body = {
        "order_id": order_id,
        "user_id": 79424,
        "amount": "49.90",
        "currency": "EUR",
        "debtor": debtor or GOOD,
    }
    return apis["intake"].post("/cases", body, expect=201)


def ack(container: Container, order_id: str, kind: str, message_id: str) -> None:
    outcome = container.cases.apply_ack(
        order_id, kind=kind, message_id=message_id, errors=["abgelehnt"]
    )
    container.wait_for_views(outcome.position)


# ------------------------------------------------------------ 7: asking again is a no-op


def test_step_two_of_the_repair_after_diagonals_ack_is_a_200_that_changes_nothing(
    apis: dict[str, Api], container: Container
) -> None:
    admit(apis, "B-7001")
    apis["vendor"].post("/cases/B-7001/start")
    ack(container, "B-7001", "rejected", "m-1")
    assert apis["support"].post("/cases/B-7001/start", {"reason": "Schritt 1"})["changed"]
    ack(container, "B-7001", "received", "m-2")  # Diagonal was faster than step 2
    answer = apis["support"].post("/cases/B-7001/hand-over", {"reason": "Schritt 2"})
    assert (answer["status"], answer["changed"]) == ("HANDED_OVER", False)
    events = [e["event"] for e in apis["support"].get("/cases/B-7001/history")["entries"]]
    assert events[-1] == "HandedToCollection" and events.count("HandedToCollection") == 1


@pytest.mark.parametrize(
    ("steps", "ask"),
    [
        ([("start", None)], ("start", None)),
        ([("cancel", "storno")], ("cancel", "nochmal")),
        ([("block", "unsicher")], ("block", "nochmal")),
        ([("mark-paid", "ZE-1")], ("mark-paid", "ZE-1")),
    ],
)
def test_asking_for_the_status_a_case_has_is_a_200_without_an_event(
    apis: dict[str, Api], steps: list[tuple[str, str | None]], ask: tuple[str, str | None]
) -> None:
    admit(apis, "B-7002")

    def body(command: str, text: str | None) -> dict[str, str]:
        if command == "mark-paid":
            return {"reason": "bezahlt", "reference": text or ""}
        return {"reason": text} if text else {}

    for command, text in steps:
        apis["support"].post(f"/cases/B-7002/{command}", body(command, text))
    before = len(apis["support"].get("/cases/B-7002/history")["entries"])
    answer = apis["support"].post(f"/cases/B-7002/{ask[0]}", body(*ask))
    assert answer["changed"] is False
    assert len(apis["support"].get("/cases/B-7002/history")["entries"]) == before


def test_a_role_that_may_never_issue_a_command_still_gets_403(apis: dict[str, Api]) -> None:
    admit(apis, "B-7003")
    apis["support"].post("/cases/B-7003/block", {"reason": "unsicher"})
    apis["vendor"].post("/cases/B-7003/block", {"reason": "x"}, expect=403)


# ------------------------------------------------ 8: the specialist's fell-back worklist


def test_a_fall_back_after_repair_step_one_is_flagged_kept_and_filtered(
    apis: dict[str, Api], container: Container
) -> None:
    admit(apis, "B-8001")
    admit(apis, "B-8002")
    for order_id in ("B-8001", "B-8002"):
        apis["vendor"].post(f"/cases/{order_id}/start")
        ack(container, order_id, "rejected", f"{order_id}-r1")  # a first failure: no flag
    assert apis["support"].get("/cases/B-8001")["fell_back"] is False
    apis["support"].post("/cases/B-8001/start", {"reason": "Schritt 1"})
    ack(container, "B-8001", "rejected", "B-8001-r2")  # fell back by itself after step 1
    assert apis["support"].get("/cases/B-8001")["fell_back"] is True
    apis["support"].post("/cases/B-8001/start", {"reason": "Schritt 1, zweiter Versuch"})
    assert apis["support"].get("/cases/B-8001")["fell_back"] is True, "flag was cleared"

    worklist = apis["support"].get("/support/cases", fell_back="true")
    assert [i["order_id"] for i in worklist["items"]] == ["B-8001"] and worklist["total"] == 1
    others = apis["support"].get("/support/cases", fell_back="false")
    assert [i["order_id"] for i in others["items"]] == ["B-8002"] and others["total"] == 1
    mine = apis["vendor"].get("/vendor/cases", fell_back="true")
    assert [i["order_id"] for i in mine["items"]] == ["B-8001"] and mine["total"] == 1
    csv = apis["support"].get("/support/cases.csv", fell_back="true").text
    assert "B-8001" in csv and "B-8002" not in csv

    ack(container, "B-8001", "received", "B-8001-ok")  # the repair worked at last
    assert apis["support"].get("/cases/B-8001")["fell_back"] is False
    assert apis["support"].get("/support/cases", fell_back="true")["total"] == 0


# ------------------------------------------------- 6: a correction never blanks the rest


def test_a_partial_address_correction_is_refused_naming_what_is_missing(
    apis: dict[str, Api],
) -> None:
    admit(apis, "B-6001")
    refused = apis["support"].post(
        "/cases/B-6001/address",
        {"debtor": {"street": "Neue Straße 5", "postal_code": "10115"}, "reason": "Umzug"},
        expect=422,
    )
    missing = {e["field"] for e in refused["errors"]}
    assert missing == {"debtor.name", "debtor.city", "debtor.country"}
    assert apis["support"].get("/cases/B-6001")["debtor"] == GOOD
    apis["support"].post(
        "/cases/B-6001/address",
        {"debtor": {**GOOD, "name": "", "city": "  "}, "reason": "Umzug"},
        expect=422,
    )
    assert apis["support"].get("/cases/B-6001")["debtor"] == GOOD


def test_the_history_shows_the_address_before_and_after_a_correction(
    apis: dict[str, Api],
) -> None:
    admit(apis, "B-6002")
    moved = {**GOOD, "street": "Neue Straße 5", "postal_code": "10115"}
    apis["support"].post("/cases/B-6002/address", {"debtor": moved, "reason": "Umzug"})
    for role in ("support", "vendor"):
        entry = apis[role].get("/cases/B-6002/history")["entries"][-1]
        assert entry["event"] == "AddressCorrected"
        assert entry["details"]["debtor_before"] == GOOD
        assert entry["details"]["debtor"] == moved


# --------------------------------------------- 10: an export can be imported again


def test_reimporting_an_export_after_an_address_correction_changes_nothing(
    apis: dict[str, Api],
) -> None:
    admit(apis, "B-1001")
    admit(apis, "B-1002")
    moved = {**GOOD, "street": "Neue Straße 5", "postal_code": "10115"}
    apis["support"].post("/cases/B-1001/address", {"debtor": moved, "reason": "Umzug"})
    exported = apis["support"].get("/support/cases.csv", user_id=79424).content
    response = apis["support"].client.post(
        "/api/v1/support/cases/import",
        files={"file": ("export.csv", exported, "text/csv")},
        headers=apis["support"].headers,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["errors"], report["created"], report["unchanged"]) == ([], 0, 2)
    assert apis["support"].get("/cases/B-1001")["debtor"] == moved


# --------------------------------------------------- 9: one shape, one at_diagonal


def test_a_case_has_the_same_shape_in_the_case_endpoint_and_the_list(
    apis: dict[str, Api], container: Container
) -> None:
    admit(apis, "B-9001")
    apis["vendor"].post("/cases/B-9001/start")
    apis["support"].post("/cases/B-9001/block", {"reason": "unsicher"})
    single = apis["support"].get("/cases/B-9001")
    for name in ("status_before_block", "awaiting_diagonal_close", "closed_at_diagonal_at"):
        assert name in single
    assert single["last_change"]["event"] == "Blocked"
    [listed] = apis["support"].get("/support/cases", order_id="B-9001")["items"]
    assert single == listed
    mine = apis["vendor"].get("/cases/B-9001")
    [my_listed] = apis["vendor"].get("/vendor/cases", order_id="B-9001")["items"]
    assert mine == my_listed
    assert not {"status_before_block", "last_change", "payment_reference", "stuck"} & set(mine)
    answer = apis["support"].post("/cases/B-9001/unblock", {"reason": "weiter"})
    assert {k: v for k, v in answer.items() if k != "changed"}.keys() == single.keys()


def test_collection_access_counts_at_diagonal_as_the_cases_define_it(
    apis: dict[str, Api], container: Container
) -> None:
    for order_id in ("B-9002", "B-9003", "B-9004"):
        admit(apis, order_id)
    for order_id in ("B-9002", "B-9003"):
        apis["vendor"].post(f"/cases/{order_id}/start")
    ack(container, "B-9002", "received", "ack-9002")
    apis["support"].post("/cases/B-9002/mark-paid", {"reason": "bezahlt", "reference": "Z1"})
    apis["support"].post("/cases/B-9003/mark-paid", {"reason": "bezahlt", "reference": "Z2"})
    ack(container, "B-9003", "received", "ack-9003")  # received after it was paid
    at_diagonal = [
        apis["support"].get(f"/cases/{o}")["at_diagonal"] for o in ("B-9002", "B-9003", "B-9004")
    ]
    assert at_diagonal == [True, True, False]
    access = apis["support"].get("/support/vendors/79424/collection-access")
    assert access["cases_at_diagonal"] == 2 and access["has_cases_at_diagonal"] is True


# ------------------------------------------------------ 15: what a vendor sees


def test_a_block_moves_neither_the_vendors_version_nor_their_list(
    apis: dict[str, Api],
) -> None:
    admit(apis, "B-1501")
    admit(apis, "B-1502")
    before = apis["vendor"].get("/cases/B-1501")
    apis["support"].post("/cases/B-1501/block", {"reason": "unsicher"})
    after = apis["vendor"].get("/cases/B-1501")
    assert (after["version"], after["updated_at"]) == (before["version"], before["updated_at"])
    listed = apis["vendor"].get("/vendor/cases")["items"]
    assert [i["order_id"] for i in listed] == ["B-1502", "B-1501"]
    assert listed[1]["version"] == before["version"]
    support_listed = apis["support"].get("/support/cases")["items"]
    assert [i["order_id"] for i in support_listed] == ["B-1501", "B-1502"]
    apis["support"].post("/cases/B-1501/unblock", {"reason": "weiter"})
    apis["vendor"].post("/cases/B-1501/start")  # a change the vendor sees moves it up
    assert [i["order_id"] for i in apis["vendor"].get("/vendor/cases")["items"]] == [
        "B-1501",
        "B-1502",
    ]


def test_the_payment_reference_is_in_no_vendor_view(apis: dict[str, Api]) -> None:
    admit(apis, "B-1503")
    apis["support"].post("/cases/B-1503/mark-paid", {"reason": "bezahlt", "reference": "ZE-77"})
    for view in (
        apis["vendor"].get("/cases/B-1503"),
        apis["vendor"].get("/vendor/cases")["items"],
        apis["vendor"].get("/cases/B-1503/history"),
        apis["vendor"].get("/vendor/cases.csv").text,
    ):
        assert "ZE-77" not in str(view)
    assert "ZE-77" in str(apis["support"].get("/cases/B-1503/history"))
