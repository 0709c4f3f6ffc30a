"""Input the API meets in real use (issue 7): bounded metrics labels, unknown query
parameters, German labels and one search field, strict ids with messages a person
understands, the role checked before the body, the same 404 for another vendor's order as
for an unknown one, and support's export as the vendor sees it."""

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


class Caller:
    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        if raw is not None:
            headers = {**self.headers, "Content-Type": "application/json"}
            return self.client.post(path, content=raw, headers=headers)
        return self.client.post(path, json=body, headers=self.headers)


@pytest.fixture
def api(make_container: Callable[..., Container]) -> dict[str, Any]:
    return _api(make_container("memory://"))


@pytest.fixture
def api_db(database_url: str, make_container: Callable[..., Container]) -> dict[str, Any]:
    return _api(make_container(database_url))


def _api(container: Container) -> dict[str, Any]:
    client = TestClient(create_app(container))
    return {
        "container": container,
        "client": client,
        "anonymous": Caller(client, None),
        "support": Caller(client, container.keys.create(Role.SUPPORT, name="anna")),
        "vendor": Caller(client, container.keys.create(Role.VENDOR, user_id=79424)),
        "other": Caller(client, container.keys.create(Role.VENDOR, user_id=11111)),
        "intake": Caller(client, container.keys.create(Role.SYSTEM, name="intake")),
    }


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
