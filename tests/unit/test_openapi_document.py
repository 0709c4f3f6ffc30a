"""The OpenAPI document states exactly what the server takes (issue 12): a field's documented
pattern accepts a text if and only if the server does; every error answer names its problem
codes; links lead from what creates a case to everything that takes its order id."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from debtcases.api import filters
from debtcases.api.app import create_app
from debtcases.api.routes_csv import CSV_PATTERN
from debtcases.api.schemas import AdmitIn, DebtorIn, EmptyIn, MarkPaidIn, ReasonIn
from debtcases.bootstrap import Container
from debtcases.commands.imports import import_cases
from debtcases.domain.actors import Actor, Role

# Texts near the rules' edges: whitespace of every kind, control characters, long runs.
_EDGY = st.text(
    alphabet=st.sampled_from(
        [
            "a",
            "Z",
            "0",
            "9",
            ".",
            "-",
            "_",
            " ",
            "\t",
            "\n",
            "\r",
            "\x0b",
            "\x1c",
            "\x1f",
            "\x00",
            "\x7f",
            "\x85",
            "\xa0",
            "\u2028",
            "\u3000",
            "\ufeff",
            "ü",
            "ß",
            "K",
            "k",
            "\u212a",
            ",",
            "e",
            "+",
        ]
    ),
    max_size=30,
) | st.text(max_size=30)


def _document() -> dict[str, Any]:
    from debtcases.bootstrap import build_container
    from debtcases.config import Settings

    return create_app(build_container(Settings(database_url="memory://"))).openapi()


def _accepts(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def _pattern(model: type[BaseModel], *path: str) -> str:
    schema = model.model_json_schema()
    node: dict[str, Any] = schema
    for name in path:
        node = node["properties"][name]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return str(node["pattern"])


FIELDS: list[tuple[str, type[BaseModel], tuple[str, ...], Callable[[str], dict[str, Any]]]] = [
    ("debtor name", DebtorIn, ("name",), lambda v: {"name": v}),
    ("postal code", DebtorIn, ("postal_code",), lambda v: {"postal_code": v}),
    ("country", DebtorIn, ("country",), lambda v: {"country": v}),
    ("reason", ReasonIn, ("reason",), lambda v: {"reason": v}),
    ("optional reason", EmptyIn, ("reason",), lambda v: {"reason": v}),
    ("reference", MarkPaidIn, ("reference",), lambda v: {"reason": "r", "reference": v}),
]


@pytest.mark.parametrize(("what", "model", "path", "body"), FIELDS, ids=[f[0] for f in FIELDS])
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_EDGY)
def test_a_fields_documented_pattern_is_what_the_server_takes(
    what: str,
    model: type[BaseModel],
    path: tuple[str, ...],
    body: Callable[[str], dict[str, Any]],
    text: str,
) -> None:
    documented = re.search(_pattern(model, *path), text) is not None
    assert documented == _accepts(model, body(text)), (what, text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=_EDGY
    | st.from_regex(r"[0-9]{1,14}(\.[0-9]{0,3})?", fullmatch=True)
    | st.from_regex(r"\s*[0-9]{1,12}\.[0-9]{1,2}\s*", fullmatch=True)
)
def test_an_amount_strings_documented_pattern_is_what_the_server_takes(text: str) -> None:
    schema = AdmitIn.model_json_schema()["properties"]["amount"]
    [pattern] = [o["pattern"] for o in schema["anyOf"] if o["type"] == "string"]
    body = {"order_id": "B-1", "user_id": 1, "amount": text, "debtor": {}}
    assert (re.search(pattern, text) is not None) == _accepts(AdmitIn, body), text


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.VENDOR])
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=_EDGY
    | st.lists(
        st.sampled_from(["LOCKED", "gesperrt", "Blockiert", "ans  inkasso übergeben", " ", ""]),
        max_size=4,
    ).map(",".join)
)
def test_the_status_filters_documented_pattern_is_what_the_server_takes(
    role: Role, text: str
) -> None:
    pattern = filters.VENDOR_STATUS_PATTERN if role is Role.VENDOR else filters.STATUS_PATTERN
    try:
        filters.case_filter(role, None, None, text, None)
        taken = True
    except Exception:
        taken = False
    assert (re.search(pattern, text) is not None) == taken, text


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=_EDGY
    | st.from_regex(r"\s*(19|20)[0-9]{2}-[0-9]{2}\s*|\s*[Aa]lle?( +perioden)?", fullmatch=True)
)
def test_the_period_filters_documented_pattern_is_what_the_server_takes(text: str) -> None:
    try:
        filters.case_filter(Role.SUPPORT, None, None, None, text)
        taken = True
    except Exception:
        taken = False
    assert (re.search(filters.PERIOD_PATTERN, text) is not None) == taken, text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.from_regex(CSV_PATTERN))
def test_every_csv_file_the_document_describes_is_imported(
    make_container: Callable[..., Container], text: str
) -> None:
    container = make_container()
    report = import_cases(
        container.cases, text.encode("utf-8"), Actor.support("anna"), dry_run=True
    )
    assert report.ok, (text, report.errors)


def test_every_error_answer_is_a_problem_naming_its_codes() -> None:
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" in responses, (method, path)
            assert "unknown_parameter" in responses["422"]["description"]
            for status, answer in responses.items():
                if int(status) < 400 or (path == "/readyz" and status == "503"):
                    continue  # (not ready: its own answer with the failing checks)
                assert list(answer["content"]) == ["application/problem+json"], (path, status)
                schema = answer["content"]["application/problem+json"]["schema"]
                problem = schema["allOf"][-1] if "allOf" in schema else schema
                assert problem["properties"]["code"]["enum"], (path, status)
                assert problem["properties"]["status"]["enum"] == [int(status)]


def test_links_lead_from_admission_and_import_to_every_operation_taking_an_order_id() -> None:
    document = _document()
    takes_order = {
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if any(p["name"] == "order_id" for p in op.get("parameters", []))
    }
    admit = document["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["links"]
    imported = document["paths"]["/api/v1/support/cases/import"]["post"]["responses"]["200"]
    assert takes_order <= set(admit)
    assert takes_order <= set(imported["links"])
    assert admit["get_case_api_v1_cases__order_id__get"]["parameters"] == {
        "order_id": "$response.body#/order_id"
    }
