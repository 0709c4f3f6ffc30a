"""Input the API meets in real use (issue 7): bounded metrics labels, unknown query
parameters, German labels and one search field, strict ids with messages a person
understands, the role checked before the body, the same 404 for another vendor's order as
for an unknown one, and support's export as the vendor sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from debtcases.bootstrap import Container
from tests.builders import DEBTOR_JSON as GOOD
from tests.builders import callers


@pytest.fixture
def api(make_container: Callable[..., Container]) -> dict[str, Any]:
    return callers(make_container("memory://"))


@pytest.fixture
def api_db(database_url: str, make_container: Callable[..., Container]) -> dict[str, Any]:
    return callers(make_container(database_url))


def admit(api: dict[str, Any], order_id: str, user_id: int = 79424, **extra: Any) -> Any:
    body = {
        "order_id": order_id,
        "user_id": user_id,
        "amount": "49.90",
        "debtor": GOOD,
        "reason": "Rücklastschrift",
        **extra,
    }
    response = api["intake"].post("/api/v1/cases", body)
    assert response.status_code == 201, response.text
    return response.json()


def problem_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


# ------------------------------------------------------------------ 4: bounded metrics


def _series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("debtcases_http_")]


def test_invented_http_methods_do_not_add_metric_series(api: dict[str, Any]) -> None:
    client = api["client"]
    client.get("/healthz")
    client.request("BREW", "/healthz")  # every label value the bounded set has, seen once
    client.get("/no/such/path")
    client.request("BREW", "/no/such/path")
    before = _series(client.get("/metrics").text)
    for i in range(40):
        client.request(f"X{i}METHOD", "/healthz")
        client.request(f"X{i}METHOD", f"/no/such/path/{i}")
    after = _series(client.get("/metrics").text)
    assert not [line for line in after if "METHOD" in line]
    assert any('method="OTHER"' in line for line in after)
    # Only the counters moved; no new series (the /metrics GET itself was seen before).
    assert len(after) - len(before) <= len(_series_of_route(after, "/metrics"))


def _series_of_route(lines: list[str], route: str) -> list[str]:
    return [line for line in lines if f'route="{route}"' in line]


# ------------------------------------------------------------- 11: unknown parameters


def test_a_misspelled_filter_is_refused_not_ignored(api: dict[str, Any]) -> None:
    admit(api, "B-1001", user_id=79424)
    admit(api, "B-1002", user_id=51234)
    support = api["support"]
    for path in ("/api/v1/support/cases", "/api/v1/support/cases.csv"):
        response = support.get(path, userid=79424, status="HANDED_OVER")
        assert problem_fields(response) == ["userid"]
        assert "userid" in response.json()["detail"]
        assert "user_id" in response.json()["errors"][0]["msg"]  # says what it takes
    assert support.get("/api/v1/support/cases", user_id=79424).json()["total"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/cases/B-1001",
        "/api/v1/cases/B-1001/history",
        "/api/v1/vendor/cases",
        "/api/v1/vendor/cases.csv",
        "/api/v1/support/vendors/79424/collection-access",
    ],
)
def test_every_get_endpoint_names_an_unknown_parameter(api: dict[str, Any], path: str) -> None:
    admit(api, "B-1001")
    caller = api["vendor"] if "/vendor/" in path or "/cases/B" in path else api["support"]
    assert problem_fields(caller.get(path, typo="1")) == ["typo"]


def test_commands_refuse_unknown_query_parameters_too(api: dict[str, Any]) -> None:
    admit(api, "B-1001")
    response = api["client"].post(
        "/api/v1/cases/B-1001/start?force=true", json={}, headers=api["vendor"].headers
    )
    assert problem_fields(response) == ["force"]
    assert api["vendor"].get("/api/v1/cases/B-1001").json()["status"] == "LOCKED"


def test_the_openapi_description_documents_the_unknown_parameter_rule(
    api: dict[str, Any],
) -> None:
    doc = api["client"].get("/openapi.json").json()
    assert "unknown_parameter" in doc["info"]["description"]
    assert "422" in doc["paths"]["/healthz"]["get"]["responses"]


# ------------------------------------------- 14: the role is checked before the body

NEVER = [  # (caller, command path) a role may never do
    ("vendor", "mark-paid"),
    ("vendor", "hand-over"),
    ("vendor", "block"),
    ("vendor", "unblock"),
    ("vendor", "address"),
    ("intake", "start"),
    ("intake", "cancel"),
    ("intake", "mark-paid"),
]
BODIES: list[tuple[str, bytes]] = [
    ("incomplete", b"{}"),
    ("wrong types", b'{"reason": 5, "reference": [], "debtor": "x"}'),
    ("unknown field", b'{"reason": "x", "reference": "y", "sneaky": 1}'),
    ("invalid JSON", b'{"reason": '),
    ("not an object", b"[1, 2]"),
    ("empty", b""),
]


@pytest.mark.parametrize(("caller", "command"), NEVER)
@pytest.mark.parametrize(("_kind", "raw"), BODIES)
def test_a_role_that_may_never_act_gets_403_whatever_body_it_sends(
    api: dict[str, Any], caller: str, command: str, _kind: str, raw: bytes
) -> None:
    admit(api, "B-1001")
    response = api[caller].post(f"/api/v1/cases/B-1001/{command}", raw=raw)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "not_permitted"
    assert "reason" not in response.text and "reference" not in response.text


def test_a_vendor_may_not_even_learn_the_mark_paid_schema(api: dict[str, Any]) -> None:
    admit(api, "B-1001")
    assert api["vendor"].post("/api/v1/cases/B-1001/mark-paid", {}).status_code == 403
    # The same body from support, who may mark paid: now the body is looked at.
    assert problem_fields(api["support"].post("/api/v1/cases/B-1001/mark-paid", {})) == [
        "reason",
        "reference",
    ]


def test_no_token_is_401_before_any_body_check(api: dict[str, Any]) -> None:
    admit(api, "B-1001")
    response = api["anonymous"].post("/api/v1/cases/B-1001/mark-paid", raw=b"{broken")
    assert response.status_code == 401


def test_a_vendor_who_may_cancel_still_gets_field_errors(api: dict[str, Any]) -> None:
    admit(api, "B-1001")
    assert problem_fields(api["vendor"].post("/api/v1/cases/B-1001/cancel", {})) == ["reason"]


def test_command_bodies_are_still_documented(api: dict[str, Any]) -> None:
    paths = api["client"].get("/openapi.json").json()["paths"]
    body = paths["/api/v1/cases/{order_id}/mark-paid"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True and schema["required"] == ["reason", "reference"]
    admit_schema = paths["/api/v1/cases"]["post"]["requestBody"]["content"]["application/json"]
    assert "postal_code" in admit_schema["schema"]["properties"]["debtor"]["properties"]


# ----------------------------------- 13: strict ids, ASCII digits, messages for people


def _admit_body(**changes: Any) -> dict[str, Any]:
    return {"order_id": "B-1001", "user_id": 79424, "amount": "49.90", "debtor": GOOD, **changes}


@pytest.mark.parametrize(
    "user_id", [True, False, "79424", 79424.5, "\u0667\u0669\u0664\u0662\u0664"]
)
def test_a_user_id_must_be_a_json_integer(api: dict[str, Any], user_id: Any) -> None:
    response = api["intake"].post("/api/v1/cases", _admit_body(user_id=user_id))
    assert problem_fields(response) == ["user_id"]
    assert "whole number" in response.json()["errors"][0]["msg"]
    assert api["support"].get("/api/v1/support/cases").json()["total"] == 0


def test_a_user_id_written_with_a_zero_fraction_is_that_integer(api: dict[str, Any]) -> None:
    """JSON Schema counts 79424.0 as an integer, so the document allows it (issue 12)."""
    response = api["intake"].post("/api/v1/cases", _admit_body(user_id=79424.0))
    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == 79424


@pytest.mark.parametrize(
    "amount", ["\u0664\u0669.\u0669\u0660", "\uff14\uff19.\uff19\uff10", "49.\u0669\u0660"]
)
def test_an_amount_must_use_ascii_digits(api: dict[str, Any], amount: str) -> None:
    response = api["intake"].post("/api/v1/cases", _admit_body(amount=amount))
    assert problem_fields(response) == ["amount"]
    assert "digits 0-9" in response.json()["errors"][0]["msg"]


def test_invalid_json_says_where(api: dict[str, Any]) -> None:
    response = api["intake"].post("/api/v1/cases", raw=b'{"order_id": "B-1",\n "user_id": }')
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["type"] == "json_invalid"
    assert "not valid JSON" in error["msg"] and "line 2, column" in error["msg"]
    assert "JSON decode error" not in response.text


def test_a_bad_order_id_is_explained_not_shown_as_a_regex(api: dict[str, Any]) -> None:
    in_body = api["intake"].post("/api/v1/cases", _admit_body(order_id="B/1001"))
    in_path = api["support"].get("/api/v1/cases/B$1001")
    for response in (in_body, in_path):
        assert problem_fields(response) == ["order_id"]
        msg = response.json()["errors"][0]["msg"]
        assert "^[" not in msg and "pattern" not in msg
        assert "B-2024-000123" in msg


def test_an_order_id_is_trimmed(api: dict[str, Any]) -> None:
    admitted = api["intake"].post("/api/v1/cases", _admit_body(order_id="  B-1001 "))
    assert admitted.json()["order_id"] == "B-1001"
    assert api["vendor"].get("/api/v1/cases/%20B-1001%20").json()["order_id"] == "B-1001"
    assert api["vendor"].post("/api/v1/cases/B-1001%20/start", {}).status_code == 200


# ----------------------- 16: another vendor's order answers like an unknown one, same work


def test_another_vendors_order_takes_the_same_path_as_an_unknown_one(
    api_db: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    admit(api_db, "B-1001", user_id=79424)
    for _ in range(5):  # a long history makes loading the case expensive
        api_db["support"].post("/api/v1/cases/B-1001/block", {"reason": "pause"})
        api_db["support"].post("/api/v1/cases/B-1001/unblock", {"reason": "weiter"})
    cases = api_db["container"].cases
    loads: list[Any] = []
    reads: list[Any] = []
    real_get, real_select = cases.repository.get, cases.recorder.select_events
    monkeypatch.setattr(
        cases.repository, "get", lambda *a, **k: loads.append(a) or real_get(*a, **k)
    )
    monkeypatch.setattr(
        cases.recorder,
        "select_events",
        lambda *a, **k: reads.append(k) or real_select(*a, **k),
    )
    other = api_db["other"]
    answers = {}
    for order in ("B-1001", "B-9999"):
        for method, path, body in [
            ("get", f"/api/v1/cases/{order}", None),
            ("get", f"/api/v1/cases/{order}/history", None),
            ("post", f"/api/v1/cases/{order}/start", {}),
            ("post", f"/api/v1/cases/{order}/cancel", {"reason": "x"}),
        ]:
            loads.clear()
            reads.clear()
            response = other.get(path) if method == "get" else other.post(path, body)
            assert response.status_code == 404, response.text
            answers[(order, path.replace(order, "{id}"))] = (
                response.json()["detail"].replace(order, "{id}"),
                len(loads),
                reads[:],
            )
    for key in [k for k in answers if k[0] == "B-1001"]:
        known, unknown = answers[key], answers[("B-9999", key[1])]
        assert known == unknown  # same answer, same reads, and no case loaded
        assert known[1] == 0 and known[2] == [{"limit": 1}]


# ------------------------------ 12: German labels, "Alle Perioden", one search field q


def _orders(page: Any) -> list[str]:
    assert page.status_code == 200, page.text
    return sorted(i["order_id"] for i in page.json()["items"])


@pytest.fixture
def listed(api_db: dict[str, Any]) -> dict[str, Any]:
    admit(api_db, "B-2024-000123", user_id=79424)
    admit(api_db, "B-2024-000124", user_id=79424)
    admit(api_db, "77777", user_id=51234)  # an all-digit order id
    api_db["support"].post("/api/v1/cases/B-2024-000124/block", {"reason": "unsicher"})
    return api_db


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Gesperrt", ["77777", "B-2024-000123"]),
        ("gesperrt", ["77777", "B-2024-000123"]),
        ("BLOCKIERT", ["B-2024-000124"]),
        ("Gesperrt, Blockiert", ["77777", "B-2024-000123", "B-2024-000124"]),
        ("ans inkasso übergeben", []),
        ("locked", ["77777", "B-2024-000123"]),
    ],
)
def test_status_filters_take_the_german_labels(
    listed: dict[str, Any], status: str, expected: list[str]
) -> None:
    assert _orders(listed["support"].get("/api/v1/support/cases", status=status)) == expected


def test_a_vendor_cannot_filter_by_the_blocked_label_either(listed: dict[str, Any]) -> None:
    assert problem_fields(listed["vendor"].get("/api/v1/vendor/cases", status="Blockiert")) == [
        "status"
    ]


@pytest.mark.parametrize("period", ["Alle Perioden", "alle", "ALLE", "all", " alle  perioden "])
def test_all_periods_by_its_label(listed: dict[str, Any], period: str) -> None:
    page = listed["support"].get("/api/v1/support/cases", period=period)
    assert _orders(page) == ["77777", "B-2024-000123", "B-2024-000124"]


@pytest.mark.parametrize(
    "period", ["\u0662\u0660\u0662\u0664-05", "\uff12\uff10\uff12\uff14-05", "2024-\u0660\u0665"]
)
def test_a_period_with_other_digits_is_refused_not_an_empty_list(
    listed: dict[str, Any], period: str
) -> None:
    assert problem_fields(listed["support"].get("/api/v1/support/cases", period=period)) == [
        "period"
    ]


@pytest.mark.parametrize("typed", ["b-2024-000123", " B-2024-000123 ", "B-2024-000123"])
def test_an_order_id_is_found_whatever_the_case_and_spaces(
    listed: dict[str, Any], typed: str
) -> None:
    support = listed["support"]
    assert _orders(support.get("/api/v1/support/cases", order_id=typed)) == ["B-2024-000123"]
    page = support.get("/api/v1/support/cases", q=typed).json()
    assert page["matched"] == "order_id" and page["total"] == 1
    assert _orders(listed["vendor"].get("/api/v1/vendor/cases", order_id=typed)) == [
        "B-2024-000123"
    ]


def test_q_takes_a_user_id_and_says_so(listed: dict[str, Any]) -> None:
    page = listed["support"].get("/api/v1/support/cases", q="79424").json()
    assert page["matched"] == "user_id"
    assert sorted(i["order_id"] for i in page["items"]) == ["B-2024-000123", "B-2024-000124"]


def test_q_with_digits_finds_an_order_when_no_vendor_has_that_id(listed: dict[str, Any]) -> None:
    page = listed["support"].get("/api/v1/support/cases", q="77777").json()
    assert (page["matched"], [i["order_id"] for i in page["items"]]) == ("order_id", ["77777"])


def test_q_that_matches_nothing_says_so(listed: dict[str, Any]) -> None:
    page = listed["support"].get("/api/v1/support/cases", q="B-0000-000000").json()
    assert (page["matched"], page["total"], page["items"]) == (None, 0, [])


def test_q_combines_with_the_other_filters(listed: dict[str, Any]) -> None:
    page = listed["support"].get("/api/v1/support/cases", q="79424", status="Blockiert").json()
    assert page["matched"] == "user_id"
    assert [i["order_id"] for i in page["items"]] == ["B-2024-000124"]


def test_a_malformed_q_is_refused(api: dict[str, Any]) -> None:
    assert problem_fields(api["support"].get("/api/v1/support/cases", q="B 1;--")) == ["q"]


@pytest.mark.parametrize(
    ("params", "matched", "expected"),
    [
        ({"q": "79424", "user_id": 79424}, "user_id", ["B-2024-000123", "B-2024-000124"]),
        ({"q": "79424", "order_id": "B-2024-000124"}, "user_id", ["B-2024-000124"]),
        ({"q": "B-2024-000123", "order_id": "b-2024-000123"}, "order_id", ["B-2024-000123"]),
        ({"q": "B-2024-000123", "user_id": 79424}, "order_id", ["B-2024-000123"]),
        ({"q": "B-2024-000123", "order_id": "B-2024-000124"}, None, []),
        ({"q": "B-2024-000123", "user_id": 51234}, None, []),
    ],
)
def test_q_with_order_id_or_user_id_applies_every_filter(
    listed: dict[str, Any], params: dict[str, Any], matched: str | None, expected: list[str]
) -> None:
    """Every schema-valid combination means something (issue 12): no 422 for a pair of
    parameters the OpenAPI document cannot say are exclusive."""
    page = listed["support"].get("/api/v1/support/cases", **params).json()
    assert page["matched"] == matched
    assert sorted(i["order_id"] for i in page["items"]) == expected


def test_the_csv_takes_q_and_says_what_it_matched(listed: dict[str, Any]) -> None:
    response = listed["support"].get("/api/v1/support/cases.csv", q="79424")
    assert response.status_code == 200
    assert response.headers["x-search-matched"] == "user_id"
    lines = response.content.decode("utf-8-sig").splitlines()
    assert sorted(line.split(";")[0] for line in lines[1:]) == ["B-2024-000123", "B-2024-000124"]


# --------------------------------------------- 17: support's export as the vendor sees it


def _csv_rows(response: Any) -> list[dict[str, str]]:
    import csv
    import io

    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


@pytest.mark.parametrize("select", [{"user_id": 79424}, {"q": "79424"}])
def test_support_exports_a_vendors_list_as_the_vendor_sees_it(
    listed: dict[str, Any], select: dict[str, Any]
) -> None:
    support, vendor = listed["support"], listed["vendor"]
    as_vendor = support.get("/api/v1/support/cases.csv", **select, **{"as": "vendor"})
    own = vendor.get("/api/v1/vendor/cases.csv")
    assert as_vendor.content == own.content  # byte for byte the vendor's own download
    rows = _csv_rows(as_vendor)
    assert {r["Status"] for r in rows} == {"Gesperrt"}  # the blocked case as before the block
    assert "Blockiert" not in as_vendor.content.decode("utf-8-sig")
    assert {r["User-ID"] for r in rows} == {"79424"}
    assert as_vendor.headers["content-disposition"] == own.headers["content-disposition"]
    # Without as=vendor support sees the block.
    assert "Blockiert" in support.get("/api/v1/support/cases.csv", **select).text


def test_as_vendor_applies_the_vendors_status_rules(listed: dict[str, Any]) -> None:
    support = listed["support"]

    def orders(status: str) -> list[str]:
        response = support.get(
            "/api/v1/support/cases.csv", user_id=79424, status=status, **{"as": "vendor"}
        )
        return sorted(r["Bestell-ID"] for r in _csv_rows(response))

    # No case of theirs is Blockiert to a vendor; the blocked one shows as before the block.
    assert orders("Blockiert") == []
    assert orders("Blockiert,Gesperrt") == ["B-2024-000123", "B-2024-000124"]


@pytest.mark.parametrize("params", [{}, {"q": "B-2024-000123"}, {"q": "99999"}])
def test_as_vendor_without_one_vendor_shows_each_case_as_its_vendor_sees_it(
    listed: dict[str, Any], params: dict[str, Any]
) -> None:
    support = listed["support"]
    as_vendors = support.get("/api/v1/support/cases.csv", **params, **{"as": "vendor"})
    rows = _csv_rows(as_vendors)
    plain = _csv_rows(support.get("/api/v1/support/cases.csv", **params))
    assert sorted(r["Bestell-ID"] for r in rows) == sorted(r["Bestell-ID"] for r in plain)
    assert "Blockiert" not in {r["Status"] for r in rows}
    assert as_vendors.headers["content-disposition"].startswith('attachment; filename="inkasso')


def test_as_vendor_without_one_vendor_filters_on_the_statuses_vendors_see(
    listed: dict[str, Any],
) -> None:
    response = listed["support"].get(
        "/api/v1/support/cases.csv", status="Gesperrt", **{"as": "vendor"}
    )
    assert sorted(r["Bestell-ID"] for r in _csv_rows(response)) == [
        "77777",
        "B-2024-000123",
        "B-2024-000124",  # blocked: Gesperrt to its vendor
    ]
