"""No control character reaches the event store through any free-text field (issue 7, 1a).

A NUL in a reason used to be stored and then stop the PostgreSQL views for good. Every
free-text field of every command, of the order facts and of the CSV import is checked by
the domain's one rule (``admission.free_text_error``): NUL and the other C0 controls and
DEL are a 422 naming the field; tab and line breaks, which a person types, stay allowed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from debtcases.bootstrap import Container
from tests.builders import DEBTOR_JSON, admit_body, callers

CONTROL = ["\u0000", "\u0001", "\u0007", "\u001b", "\u007f", "\u000b", "\u000c"]


@pytest.fixture
def api(database_url: str, make_container: Callable[..., Container]) -> dict[str, Any]:
    api = callers(make_container(database_url), prefix="/api/v1")
    for order_id in ("B-1", "B-2"):
        assert api["intake"].post("/cases", admit_body(order_id)).status_code == 201
    return api


def _bad(text: str, char: str) -> str:
    return f"{text[:2]}{char}{text[2:]}"


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field or f.endswith(f".{field}") for f in fields), fields
    assert "control characters" in response.text


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_every_command_refuses_a_control_character_in_its_free_text(
    api: dict[str, Any], char: str
) -> None:
    support, vendor, intake = api["support"], api["vendor"], api["intake"]
    bad = _bad("Rücklastschrift", char)
    _refused(intake.post("/cases", admit_body("B-9", reason=bad)), "reason")
    _refused(intake.post("/cases", admit_body("B-9", debtor={**DEBTOR_JSON, "city": bad})), "city")
    _refused(vendor.post("/cases/B-1/start", {"reason": bad}), "reason")
    _refused(vendor.post("/cases/B-1/cancel", {"reason": bad}), "reason")
    for path in ("hand-over", "block", "unblock"):
        _refused(support.post(f"/cases/B-1/{path}", {"reason": bad}), "reason")
    _refused(support.post("/cases/B-1/mark-paid", {"reason": bad, "reference": "R-1"}), "reason")
    _refused(support.post("/cases/B-1/mark-paid", {"reason": "ok", "reference": bad}), "reference")
    address = {"debtor": {**DEBTOR_JSON, "street": bad}, "reason": "Umzug"}
    _refused(support.post("/cases/B-1/address", address), "street")
    _refused(support.post("/cases/B-1/address", {"debtor": DEBTOR_JSON, "reason": bad}), "reason")
    _refused(support.post("/orders/B-1/admit", {"reason": bad}), "reason")
    # Nothing of it was stored: both cases are as admitted.
    for order_id in ("B-1", "B-2"):
        history = support.get(f"/cases/{order_id}/history", expect=200)["entries"]
        assert [e["event"] for e in history] == ["Locked"]


def test_tab_and_line_breaks_stay_allowed_where_a_person_types_text(
    api: dict[str, Any],
) -> None:
    reason = "Kunde ruft zurück:\n\tRatenzahlung angeboten\r\nbis Freitag"
    answer = api["support"].post("/cases/B-2/block", {"reason": reason}, expect=200)
    assert answer["status"] == "BLOCKED"
    history = api["support"].get("/cases/B-2/history", expect=200)["entries"]
    assert history[-1]["reason"] == reason


def test_a_csv_import_with_a_control_character_is_rejected_naming_the_line(
    api: dict[str, Any],
) -> None:
    header = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"
    good = "B-7;79424;49,90;EUR;Jana Schäfer;Lindenstraße 12;10969;Berlin;DE;Altliste"
    client = api["client"]

    def upload(rows: list[str]) -> Any:
        return client.post(
            "/api/v1/support/cases/import",
            content="\n".join([header, *rows, ""]).encode(),
            headers={**api["support"].headers, "Content-Type": "text/csv"},
        )

    bad = "B-8;79424;49,90;EUR;Jana Schäfer;Lindenstraße 12;10969;Berlin;DE;Alt\u0001liste"
    answer = upload([good, bad])
    assert answer.status_code == 422, answer.text
    errors = answer.json()["report"]["errors"]
    # The parser refuses the file at the line of the control character, naming it.
    assert [e["line"] for e in errors] == [3]
    assert "control character (U+0001)" in errors[0]["message"]
    # A NUL byte makes the whole upload a binary file, refused as such.
    answer = upload([good, bad.replace("\u0001", "\u0000")])
    assert answer.status_code == 422 and "NUL" in answer.text
    # All or nothing: the good row was not admitted either time.
    assert api["support"].get("/cases/B-7").status_code == 404
