"""The support article's flows, end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from debtcases.bootstrap import Container
from tests.builders import DEBTOR_JSON as GOOD
from tests.builders import WRONG_DEBTOR_JSON as WRONG
from tests.builders import Caller, callers


class Api(Caller):
    """The article's flows expect success unless told otherwise."""

    def post(
        self, path: str, body: Any = None, *, raw: bytes | None = None, expect: int | None = 200
    ) -> Any:
        return super().post(path, body or {}, raw=raw, expect=expect)

    def get(self, path: str, *, expect: int | None = 200, **params: Any) -> Any:
        return super().get(path, expect=expect, **params)


@pytest.fixture
def apis(database_url: str, make_container: Callable[..., Container]) -> dict[str, Api]:
    by_role = callers(make_container(database_url), prefix="/api/v1")
    client = by_role["client"]
    return {
        role: Api(client, by_role[role].headers["Authorization"].split()[1], "/api/v1")
        for role in ("support", "vendor", "other", "intake")
    }


def _admit(apis: dict[str, Api], order_id: str, debtor: dict[str, str]) -> Any:
    return apis["intake"].post(
        "/cases",
        {
            "order_id": order_id,
            "user_id": 79424,
            "amount": "49.90",
            "currency": "EUR",
            "debtor": debtor,
            "reason": "Rücklastschrift",
        },
        expect=201,
    )


def test_vendor_presses_play(apis: dict[str, Api]) -> None:
    admitted = _admit(apis, "B-1001", GOOD)
    assert (admitted["status"], admitted["status_label"]) == ("LOCKED", "Gesperrt")
    started = apis["vendor"].post("/cases/B-1001/start")
    assert (started["status"], started["status_label"]) == ("RUNNING", "Laufend")
    assert apis["vendor"].get("/cases/B-1001")["status"] == "RUNNING"
    apis["other"].get("/cases/B-1001", expect=404)
    apis["other"].post("/cases/B-1001/cancel", {"reason": "x"}, expect=404)


def test_support_blocks_and_the_vendor_still_sees_the_old_status_and_cannot_act(
    apis: dict[str, Api],
) -> None:
    _admit(apis, "B-1002", GOOD)
    apis["vendor"].post("/cases/B-1002/start")
    blocked = apis["support"].post("/cases/B-1002/block", {"reason": "Vendor unsicher"})
    assert (blocked["status"], blocked["status_label"]) == ("BLOCKED", "Blockiert")
    seen = apis["vendor"].get("/cases/B-1002")
    assert (seen["status"], seen["status_label"]) == ("RUNNING", "Laufend")
    refused = apis["vendor"].post("/cases/B-1002/cancel", {"reason": "storno"}, expect=409)
    assert refused["code"] == "invalid_transition" and refused["from"] == "RUNNING"
    assert "BLOCK" not in str(refused).upper().replace("BLOCKED_", "")
    history = apis["vendor"].get("/cases/B-1002/history")
    assert [e["event"] for e in history["entries"]] == ["Locked", "DunningStarted"]
    assert "BLOCKED" not in str(history)
    support_history = apis["support"].get("/cases/B-1002/history")
    assert support_history["entries"][-1]["event"] == "Blocked"
    assert support_history["entries"][-1]["reason"] == "Vendor unsicher"
    apis["support"].post("/cases/B-1002/unblock", {"reason": "Vendor will mahnen"})
    assert apis["vendor"].post("/cases/B-1002/cancel", {"reason": "storno"})["status"] == (
        "CANCELLED"
    )


def test_wrong_address_is_repaired_in_two_steps_after_the_address_is_corrected(
    apis: dict[str, Api],
) -> None:
    _admit(apis, "B-1003", WRONG)
    failed = apis["vendor"].post("/cases/B-1003/start")
    assert (failed["status"], failed["status_label"]) == ("FAILED", "Failed")
    assert failed["errors"] and any("Adresse" in e for e in failed["errors"])
    # The vendor cannot restart it; support cannot either while the address is wrong.
    apis["vendor"].post("/cases/B-1003/start", expect=409)
    still = apis["support"].post("/cases/B-1003/start")
    assert still["status"] == "FAILED" and still["errors"]
    corrected = apis["support"].post(
        "/cases/B-1003/address",
        {"debtor": GOOD, "reason": "Vendor hat die richtige Adresse geschickt"},
    )
    assert corrected["status"] == "FAILED" and corrected["errors"] == []
    assert corrected["debtor"] == GOOD
    running = apis["support"].post("/cases/B-1003/start", {"reason": "Reparatur Schritt 1"})
    assert (running["status"], running["errors"]) == ("RUNNING", [])
    handed = apis["support"].post("/cases/B-1003/hand-over", {"reason": "Reparatur Schritt 2"})
    assert (handed["status"], handed["status_label"]) == ("HANDED_OVER", "Ans Inkasso übergeben")
    entries = apis["support"].get("/cases/B-1003/history")["entries"]
    assert [(e["event"], e["from_status"], e["to_status"]) for e in entries] == [
        ("Locked", None, "LOCKED"),
        ("HandoverFailed", "LOCKED", "FAILED"),
        ("HandoverFailed", "FAILED", "FAILED"),
        ("AddressCorrected", "FAILED", "FAILED"),
        ("DunningStarted", "FAILED", "RUNNING"),
        ("HandedToCollection", "RUNNING", "HANDED_OVER"),
    ]
    assert [e["actor"]["role"] for e in entries] == [
        "system",
        "vendor",
        "support",
        "support",
        "support",
        "support",
    ]
    assert all(e["at"] for e in entries)
    assert entries[3]["reason"] == "Vendor hat die richtige Adresse geschickt"


def test_support_marks_paid_and_the_vendor_sees_bezahlt_at_once(apis: dict[str, Api]) -> None:
    _admit(apis, "B-1004", GOOD)
    apis["vendor"].post("/cases/B-1004/start")
    apis["vendor"].post("/cases/B-1004/mark-paid", {"reason": "x", "reference": "r"}, expect=403)
    paid = apis["support"].post(
        "/cases/B-1004/mark-paid",
        {"reason": "Zahlung im Admin hinterlegt", "reference": "ZE-2024-7781"},
    )
    assert (paid["status"], paid["status_label"]) == ("PAID", "Bezahlt")
    seen = apis["vendor"].get("/cases/B-1004")
    assert (seen["status"], seen["status_label"]) == ("PAID", "Bezahlt")
    refused = apis["support"].post("/cases/B-1004/cancel", {"reason": "x"}, expect=409)
    assert (refused["from"], refused["to"]) == ("PAID", "CANCELLED")
    history = apis["vendor"].get("/cases/B-1004/history")["entries"]
    assert history[-1]["event"] == "Paid"
    assert history[-1]["actor"] == {"role": "support", "id": "anna"}
    # The payment reference is support's bookkeeping: hidden from the vendor everywhere
    # (issue 7, point 15), shown in support's history.
    assert "reference" not in history[-1]["details"]
    support_history = apis["support"].get("/cases/B-1004/history")["entries"]
    assert support_history[-1]["details"]["reference"] == "ZE-2024-7781"


def test_admission_is_idempotent_and_conflicting_data_is_409(apis: dict[str, Api]) -> None:
    _admit(apis, "B-1005", GOOD)
    body = {
        "order_id": "B-1005",
        "user_id": 79424,
        "amount": "49.90",
        "currency": "EUR",
        "debtor": GOOD,
        "reason": "Rücklastschrift",
    }
    again = apis["intake"].post("/cases", body, expect=200)
    assert again["version"] == 1
    conflict = apis["intake"].post("/cases", {**body, "amount": "12.00"}, expect=409)
    assert conflict["code"] == "order_conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": 1, "amount": "1", "debtor": GOOD}, "order_id"),
        ({"order_id": "B 1", "user_id": 1, "amount": "1", "debtor": GOOD}, "order_id"),
        ({"order_id": "B-1", "user_id": -5, "amount": "1", "debtor": GOOD}, "user_id"),
        ({"order_id": "B-1", "user_id": 1, "amount": "abc", "debtor": GOOD}, "amount"),
        ({"order_id": "B-1", "user_id": 1, "amount": "-3", "debtor": GOOD}, "amount"),
        ({"order_id": "B-1", "user_id": 1, "amount": "1.234", "debtor": GOOD}, "amount"),
        ({"order_id": "B-1", "user_id": 1, "amount": "NaN", "debtor": GOOD}, "amount"),
        (
            {"order_id": "B-1", "user_id": 1, "amount": "1", "debtor": {**GOOD, "country": "DEU"}},
            "debtor.country",
        ),
        ({"order_id": "B-1", "user_id": 1, "amount": "1", "debtor": GOOD, "extra": 1}, "extra"),
    ],
)
def test_bad_admissions_get_field_level_422_and_store_nothing(
    apis: dict[str, Api], body: dict[str, Any], field: str
) -> None:
    problem = apis["intake"].post("/cases", body, expect=422)
    assert problem["code"] == "validation_error"
    assert field in [e["field"] for e in problem["errors"]]
    apis["support"].get("/cases/B-1", expect=404)


def test_reasons_are_required_where_a_person_decides(apis: dict[str, Api]) -> None:
    _admit(apis, "B-1006", GOOD)
    for path in ("block", "cancel", "mark-paid", "hand-over"):
        problem = apis["support"].post(f"/cases/B-1006/{path}", {}, expect=422)
        assert "reason" in [e["field"] for e in problem["errors"]]
    problem = apis["support"].post("/cases/B-1006/block", {"reason": "   "}, expect=422)
    assert problem["code"] == "validation_error"


def test_bodies_over_one_mebibyte_are_413_and_garbage_is_422(apis: dict[str, Api]) -> None:
    client, headers = apis["intake"].client, apis["intake"].headers
    big = client.post(
        "/api/v1/cases",
        content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["code"] == "payload_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        for _ in range(1100):
            yield b" " * 1024

    streamed = client.post(
        "/api/v1/cases", content=chunked(), headers={**headers, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    garbage = client.post(
        "/api/v1/cases",
        content=b"\xff\xfe not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert garbage.status_code == 422
    assert garbage.headers["content-type"].startswith("application/problem+json")


def test_the_openapi_document_describes_every_endpoint_and_its_errors(
    apis: dict[str, Api],
) -> None:
    spec = apis["support"].client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/api/v1/cases",
        "/api/v1/cases/{order_id}",
        "/api/v1/cases/{order_id}/history",
        "/api/v1/cases/{order_id}/start",
        "/api/v1/cases/{order_id}/hand-over",
        "/api/v1/cases/{order_id}/cancel",
        "/api/v1/cases/{order_id}/block",
        "/api/v1/cases/{order_id}/unblock",
        "/api/v1/cases/{order_id}/mark-paid",
        "/api/v1/cases/{order_id}/address",
        "/healthz",
        "/readyz",
    ]:
        assert path in paths, path
    start = paths["/api/v1/cases/{order_id}/start"]["post"]
    assert {"401", "403", "404", "409", "422"} <= set(start["responses"])
    assert "Play" in start["summary"]
    assert "LOCKED" in start["description"]
