"""CSV export and import over HTTP, on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Role

IMPORT = "/api/v1/support/cases/import"
HEADER = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"


@dataclass
class Api:
    client: TestClient
    support: dict[str, str]
    vendor: dict[str, str]  # User-ID 79424
    other_vendor: dict[str, str]  # User-ID 51234
    system: dict[str, str]

    def admit(
        self, order_id: str, user_id: int = 79424, name: str = "Jana Schäfer", amount: str = "49.90"
    ) -> None:
        body = {
            "order_id": order_id,
            "user_id": user_id,
            "amount": amount,
            "currency": "EUR",
            "debtor": {
                "name": name,
                "street": "Lindenstraße 12",
                "postal_code": "10969",
                "city": "Köln",
                "country": "DE",
            },
        }
        answer = self.client.post("/api/v1/cases", json=body, headers=self.system)
        assert answer.status_code == 201, answer.text

    def block(self, order_id: str) -> None:
        answer = self.client.post(
            f"/api/v1/cases/{order_id}/block",
            json={"reason": "Vendor unsicher"},
            headers=self.support,
        )
        assert answer.status_code == 200, answer.text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(container: Container) -> Iterator[Api]:
    if container.views is None:
        pytest.skip("container.views is not wired yet (read-model part); run again once it is")
    container.start_workers()
    keys = container.keys
    with TestClient(create_app(container)) as client:
        yield Api(
            client,
            support=_bearer(keys.create(Role.SUPPORT, name="anna")),
            vendor=_bearer(keys.create(Role.VENDOR, user_id=79424)),
            other_vendor=_bearer(keys.create(Role.VENDOR, user_id=51234)),
            system=_bearer(keys.create(Role.SYSTEM, name="intake")),
        )


def rows_of(body: bytes, sep: str = ";") -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=sep))


def test_support_export_then_import_dry_run_round_trips(api: Api) -> None:
    api.admit("B-1", name="Jörg Weiß-Müller")
    api.admit("B-2", user_id=51234, name='=HYPERLINK("http://evil")', amount="1234.5")
    api.admit("B-3")
    api.block("B-3")

    answer = api.client.get("/api/v1/support/cases.csv", headers=api.support)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="schulden_alle.csv"'
    assert b"\r\n" in answer.content
    rows = {r["Bestell-ID"]: r for r in rows_of(answer.content)}
    assert set(rows) == {"B-1", "B-2", "B-3"}
    assert rows["B-1"]["Kunde"] == "Jörg Weiß-Müller"
    assert rows["B-2"]["Kunde"] == '\'=HYPERLINK("http://evil")'
    assert rows["B-2"]["Betrag"] == "1234,50"
    assert (rows["B-3"]["Status"], rows["B-3"]["Status (Code)"]) == ("Blockiert", "BLOCKED")

    dry = api.client.post(
        f"{IMPORT}?dry_run=true",
        headers=api.support,
        files={"file": ("schulden_alle.csv", answer.content, "text/csv")},
    )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "dry_run": True,
        "applied": False,
        "rows": 3,
        "created": 0,
        "unchanged": 3,
        "errors": [],
        "cases": [
            {"order_id": "B-3", "user_id": 79424},
            {"order_id": "B-2", "user_id": 51234},
            {"order_id": "B-1", "user_id": 79424},
        ],
    }


def test_export_applies_the_list_filters_and_names_the_file_after_them(api: Api) -> None:
    api.admit("B-1")
    api.admit("B-2")
    api.admit("B-9", user_id=51234)
    api.block("B-2")
    answer = api.client.get(
        "/api/v1/support/cases.csv",
        headers=api.support,
        params={"user_id": 79424, "status": "LOCKED,BLOCKED", "period": "all", "sep": ","},
    )
    assert answer.status_code == 200, answer.text
    assert (
        'filename="schulden_79424_locked-blocked_alle.csv"' in answer.headers["content-disposition"]
    )
    rows = rows_of(answer.content, sep=",")
    assert [r["Bestell-ID"] for r in rows] == ["B-2", "B-1"]  # newest change first
    assert rows[0]["Betrag"] == "49.90"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "OPEN"}, "status"),
        ({"period": "2024-13"}, "period"),
        ({"period": "Mai"}, "period"),
    ],
)
def test_an_unknown_status_or_period_is_a_422_problem(
    api: Api, params: dict[str, str], field: str
) -> None:
    for path, headers in (
        ("/api/v1/support/cases.csv", api.support),
        ("/api/v1/vendor/cases.csv", api.vendor),
    ):
        answer = api.client.get(path, headers=headers, params=params)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "validation_error"
        assert field in answer.json()["detail"]


def test_vendor_export_shows_only_own_cases_and_never_blocked(api: Api) -> None:
    api.admit("B-1")
    api.admit("B-2")
    api.admit("B-9", user_id=51234)
    api.block("B-2")
    answer = api.client.get("/api/v1/vendor/cases.csv", headers=api.vendor)
    assert answer.status_code == 200, answer.text
    assert 'filename="inkasso_79424_alle.csv"' in answer.headers["content-disposition"]
    rows = rows_of(answer.content)
    assert sorted(r["Bestell-ID"] for r in rows) == ["B-1", "B-2"]
    assert {(r["Status"], r["Status (Code)"]) for r in rows} == {("Gesperrt", "LOCKED")}
    assert b"BLOCKED" not in answer.content and b"Blockiert" not in answer.content

    other = api.client.get("/api/v1/vendor/cases.csv", headers=api.other_vendor)
    assert [r["Bestell-ID"] for r in rows_of(other.content)] == ["B-9"]
    asked = api.client.get(
        "/api/v1/vendor/cases.csv", headers=api.vendor, params={"status": "BLOCKED"}
    )
    assert asked.status_code == 422


def test_importing_the_same_file_twice_changes_nothing(api: Api) -> None:
    text = (
        f"{HEADER}\r\nB-1;79424;49,90;EUR;Jürgen Groß;Hauptstraße 5;50667;Köln;DE;Altliste"
        "\r\nB-2;51234;10;;Zoë;Weg 1;1010;Wien;AT;\r\n"
    )
    data = text.encode("cp1252")  # as Excel-DE saves "CSV (Trennzeichen-getrennt)"
    headers = {**api.support, "Content-Type": "text/csv"}
    first = api.client.post(IMPORT, content=data, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "dry_run": False,
        "applied": True,
        "rows": 2,
        "created": 2,
        "unchanged": 0,
        "errors": [],
        "cases": [{"order_id": "B-1", "user_id": 79424}, {"order_id": "B-2", "user_id": 51234}],
    }
    case = api.client.get("/api/v1/cases/B-1", headers=api.support).json()
    assert case["debtor"]["name"] == "Jürgen Groß" and case["status"] == "LOCKED"
    history = api.client.get("/api/v1/cases/B-1/history", headers=api.support).json()
    assert history["entries"][0]["actor"] == {"role": "support", "id": "anna"}

    second = api.client.post(IMPORT, content=data, headers=headers)
    assert second.status_code == 200, second.text
    assert (second.json()["created"], second.json()["unchanged"]) == (0, 2)
    again = api.client.get("/api/v1/cases/B-1", headers=api.support).json()
    assert again["version"] == case["version"]
    # read-your-writes: the import shows in the export at once
    listed = rows_of(api.client.get("/api/v1/support/cases.csv", headers=api.support).content)
    assert sorted(r["Bestell-ID"] for r in listed) == ["B-1", "B-2"]


def test_a_file_with_one_bad_row_is_rejected_whole_with_the_report(api: Api) -> None:
    api.admit("B-3", amount="5.00")
    rows = [f"B-{i};79424;1,00;EUR;N;S 1;10969;Berlin;DE;" for i in range(10, 20)]
    rows[4] = "B-14;79424;1,001;EUR;N;S 1;10969;Berlin;DE;"
    rows.append("B-3;79424;7,00;EUR;N;S 1;10969;Berlin;DE;")  # admitted with other data
    data = ("\n".join([HEADER, *rows]) + "\n").encode()
    answer = api.client.post(
        IMPORT, headers=api.support, files={"file": ("liste.csv", data, "text/csv")}
    )
    assert answer.status_code == 422
    problem: dict[str, Any] = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "validation_error"
    report = problem["report"]
    assert (report["applied"], report["rows"], report["created"]) == (False, 11, 0)
    assert [(e["line"], e["field"], e["code"]) for e in report["errors"]] == [
        (6, "amount", "invalid"),
        (12, "order_id", "order_conflict"),
    ]
    assert api.client.get("/api/v1/cases/B-10", headers=api.support).status_code == 404


def test_a_file_with_wrong_columns_or_encoding_is_a_422_at_line_1(api: Api) -> None:
    for data in (b"Bestell-ID;Foo\nB-1;x\n", b"\x00\x01\x02binary"):
        answer = api.client.post(
            IMPORT, content=data, headers={**api.support, "Content-Type": "text/csv"}
        )
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["report"]["errors"]
        assert (error["line"], error["code"]) == (1, "invalid_file")


def test_only_support_may_import_or_export_the_schulden_list(api: Api) -> None:
    data = f"{HEADER}\nB-1;79424;1;EUR;N;S 1;10969;Berlin;DE;\n".encode()
    for headers in (api.vendor, api.system):
        answer = api.client.post(
            IMPORT, content=data, headers={**headers, "Content-Type": "text/csv"}
        )
        assert answer.status_code == 403
        assert api.client.get("/api/v1/support/cases.csv", headers=headers).status_code == 403
    assert api.client.get("/api/v1/vendor/cases.csv", headers=api.support).status_code == 403
    assert api.client.post(IMPORT, content=data).status_code == 401
    assert api.client.get("/api/v1/cases/B-1", headers=api.support).status_code == 404


def test_a_file_above_the_import_limit_is_refused_with_413(api: Api) -> None:
    """The import takes up to 16 MiB (room for its 50,000 rows); other routes 1 MiB."""
    data = HEADER.encode() + b"\n" + b"x" * (16 * 1024 * 1024)
    answer = api.client.post(
        IMPORT, content=data, headers={**api.support, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"
    assert str(16 * 1024 * 1024) in answer.json()["detail"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: the same limit, read bounded
        yield HEADER.encode() + b"\n"
        for _ in range(16 * 1024 + 1):
            yield b"x" * 1024

    streamed = api.client.post(
        IMPORT, content=chunked(), headers={**api.support, "Content-Type": "text/csv"}
    )
    assert streamed.status_code == 413


def test_an_import_over_one_mebibyte_is_read_and_other_bodies_are_not(api: Api) -> None:
    rows = "".join(f"L-{i:06d};79424;1;EUR;A;B 1;10969;Berlin;DE;\n" for i in range(30_000))
    data = f"{HEADER}\n{rows}".encode()
    assert len(data) > 1024 * 1024
    answer = api.client.post(
        f"{IMPORT}?dry_run=true", content=data, headers={**api.support, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["created"] == 30_000
    other = api.client.post(
        "/api/v1/cases",
        content=b"{" + b" " * (1024 * 1024) + b"}",
        headers={**api.system, "Content-Type": "application/json"},
    )
    assert other.status_code == 413


def test_the_openapi_document_describes_the_csv_endpoints(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "text/csv" in paths["/api/v1/support/cases.csv"]["get"]["responses"]["200"]["content"]
    assert "/api/v1/vendor/cases.csv" in paths
    body = paths[IMPORT]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "text/csv"} <= set(body)


def test_a_valid_file_meeting_cases_with_other_data_is_a_409_order_conflict(api: Api) -> None:
    """As POST /api/v1/cases answers a conflict: 409, not 422 (the file itself is valid)."""
    api.admit("B-1", amount="49.90")
    text = f"{HEADER}\nB-1;79424;12,00;EUR;N;S 1;10969;Berlin;DE;\n"
    answer = api.client.post(
        IMPORT, content=text.encode(), headers={**api.support, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["code"] == "order_conflict"
    assert [e["code"] for e in problem["report"]["errors"]] == ["order_conflict"]
    assert problem["report"]["cases"] == []


def test_the_file_may_come_as_a_plain_multipart_field_but_no_other_field(api: Api) -> None:
    text = f"{HEADER}\nB-7;79424;12,00;EUR;N;S 1;10969;Berlin;DE;\n"
    plain = api.client.post(IMPORT, headers=api.support, files={"file": (None, text)})
    assert plain.status_code == 200, plain.text
    assert plain.json()["cases"] == [{"order_id": "B-7", "user_id": 79424}]
    extra = api.client.post(
        IMPORT,
        headers=api.support,
        data={"note": "x"},
        files={"file": ("l.csv", text.encode(), "text/csv")},
    )
    assert extra.status_code == 422
    assert [e["field"] for e in extra.json()["errors"]] == ["note"]
