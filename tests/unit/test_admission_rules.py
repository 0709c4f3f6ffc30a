"""The admission field rules (domain/admission.py) and the two edges that apply them: the
HTTP API's request body and the CSV import refuse the same orders for the same field."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from debtcases.api.schemas import AddressIn, AdmitIn
from debtcases.csvformat.parse import parse_import
from debtcases.domain.admission import (
    Admission,
    admission_errors,
    amount_error,
    has_control_characters,
)
from debtcases.domain.debtor import Debtor

GOOD_DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
GOOD = Admission("B-1", 79424, Decimal("49.90"), "EUR", GOOD_DEBTOR, "Rücklastschrift")
HEADER = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"
GOOD_CELLS = {
    "order_id": "B-1",
    "user_id": "79424",
    "amount": "49.90",
    "currency": "EUR",
    "name": "Jana Schäfer",
    "street": "Lindenstraße 12",
    "postal_code": "10969",
    "city": "Berlin",
    "country": "DE",
    "reason": "Rücklastschrift",
}
DEBTOR_FIELDS = ("name", "street", "postal_code", "city", "country")


def api_error_fields(cells: dict[str, str]) -> list[str]:
    body: dict[str, Any] = {k: v for k, v in cells.items() if k not in DEBTOR_FIELDS}
    body["debtor"] = {k: cells[k] for k in DEBTOR_FIELDS}
    # In JSON a User-ID is a number (the API refuses text, strictly): send what a client
    # sends for a cell of plain digits.
    user_id = cells["user_id"]
    if user_id.isascii() and user_id.isdigit():
        body["user_id"] = int(user_id)
    try:
        AdmitIn.model_validate(body)
    except ValidationError as exc:
        return [str(e["loc"][-1]) for e in exc.errors()]
    return []


def csv_error_fields(cells: dict[str, str]) -> list[str | None]:
    row = ";".join(cells[k] for k in GOOD_CELLS)
    return [e.field for e in parse_import(f"{HEADER}\n{row}\n".encode()).errors]


def test_a_well_formed_admission_breaks_no_rule() -> None:
    assert admission_errors(GOOD) == []
    assert api_error_fields(GOOD_CELLS) == [] and csv_error_fields(GOOD_CELLS) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_id", "-starts-with-a-dash"),
        ("order_id", "B 1"),
        ("order_id", "B" * 65),
        ("user_id", "0"),
        ("amount", "49.999"),
        ("amount", "1000000000000"),
        ("currency", "EURO"),
        ("country", "DEU"),
        ("name", "x" * 201),
        ("street", "x" * 201),
        ("postal_code", "1" * 17),
        ("city", "x" * 201),
        ("reason", "x" * 1001),
    ],
)
def test_the_api_and_the_csv_import_refuse_the_same_field(field: str, value: str) -> None:
    cells = {**GOOD_CELLS, field: value}
    assert api_error_fields(cells) == [field]
    assert csv_error_fields(cells) == [field]


def test_every_broken_rule_is_reported_once_in_field_order() -> None:
    bad = Admission("", 0, Decimal("-1"), "EURO", Debtor("x" * 201, "", "", "", "DEU"), "x" * 1001)
    fields = [e.field for e in admission_errors(bad)]
    assert fields == ["order_id", "user_id", "amount", "currency", "country", "name", "reason"]


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-0.01", "0.001", "1E+12"])
def test_an_amount_must_be_finite_not_negative_with_cents_below_a_trillion(amount: str) -> None:
    assert amount_error(Decimal(amount)) is not None


@pytest.mark.parametrize("amount", ["0", "0.00", "49.9", "1.000", "999999999999.99", "1E+11"])
def test_an_amount_is_judged_by_its_value_not_its_trailing_zeros(amount: str) -> None:
    assert amount_error(Decimal(amount)) is None


def test_a_csv_cell_may_not_write_a_third_decimal_even_a_zero() -> None:
    # "1,000": a thousand with a grouping comma, or one with a decimal comma? Refused.
    [error] = parse_import(f"{HEADER}\nB-1;79424;1,000;EUR;N;S 1;1;C;DE;\n".encode()).errors
    assert (error.field, error.message) == ("amount", "'1,000' has more than 2 decimals")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f"])
@pytest.mark.parametrize("field", ["name", "street", "postal_code", "city"])
def test_control_characters_are_refused_in_the_debtors_text(field: str, char: str) -> None:
    text = f"a{char}b"
    debtor = replace(GOOD_DEBTOR, **{field: text})
    assert [e.field for e in admission_errors(replace(GOOD, debtor=debtor))] == [field]
    with pytest.raises(ValidationError) as caught:
        AddressIn.model_validate({"debtor": debtor.as_dict(), "reason": "Adresse korrigiert"})
    [error] = caught.value.errors()
    assert error["loc"] == ("debtor", field)
    assert error["msg"] == "Value error, must not contain control characters"


@pytest.mark.parametrize("text", ["a\tb", "a\nb", "a\r\nb", "Ünal"])
def test_tabs_and_line_breaks_are_not_control_characters_here(text: str) -> None:
    assert not has_control_characters(text)
