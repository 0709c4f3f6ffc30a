"""CSV export and import (csvformat, commands.imports): Excel-safe export, strict
all-or-nothing import."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from debtcases.bootstrap import utc_now
from debtcases.commands.app import Admission, DunningCases
from debtcases.commands.imports import ImportReport, import_cases
from debtcases.csvformat.export import export_csv, export_filename, neutralise
from debtcases.csvformat.parse import parse_import
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.statuses import Status

SUPPORT = Actor.support("anna")
HEADER_DE = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"


@pytest.fixture
def cases() -> DunningCases:
    return DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)


def case_row(order_id: str = "B-1", name: str = "Jana Schäfer", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "user_id": 79424,
        "status": "LOCKED",
        "status_label": "Gesperrt",
        "amount": "1234.50",
        "currency": "EUR",
        "debtor": {
            "name": name,
            "street": "Lindenstraße 12",
            "postal_code": "10969",
            "city": "Köln",
            "country": "DE",
        },
        "errors": [],
        "created_at": datetime(2024, 5, 3, 12, 0, tzinfo=UTC),
        "updated_at": "2024-05-04T08:30:00+00:00",
        "version": 1,
    }
    row.update(overrides)
    return row


def exported(rows: list[dict[str, Any]], sep: str = ";") -> bytes:
    return b"".join(export_csv(iter(rows), sep))


def read_back(data: bytes, sep: str = ";") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=sep))


def lines_of(report: ImportReport) -> list[tuple[int | None, str | None]]:
    return [(e.line, e.field) for e in report.errors]


# ------------------------------------------------------------------------------ export


def test_export_starts_with_a_bom_and_german_headers_and_uses_crlf() -> None:
    data = exported([case_row()])
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.split("\r\n")[0] == (
        "Bestell-ID;User-ID;Status;Status (Code);Betrag;Währung;Kunde;Straße;PLZ;Ort;Land;"
        "Fehler;Erstellt am;Geändert am"
    )
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")


def test_export_writes_labels_decimal_comma_and_berlin_times_for_excel_de() -> None:
    [_, row] = read_back(exported([case_row()]))
    assert row[:6] == ["B-1", "79424", "Gesperrt", "LOCKED", "1234,50", "EUR"]
    assert row[12:] == ["2024-05-03 14:00:00", "2024-05-04 10:30:00"]


def test_export_with_comma_separator_uses_a_decimal_point() -> None:
    [_, row] = read_back(exported([case_row()], sep=","), sep=",")
    assert row[4] == "1234.50"


def test_export_joins_the_handover_errors_of_a_failed_case() -> None:
    row = case_row(
        status="FAILED", status_label="Failed", errors=["Straße fehlt.", "Postleitzahl fehlt."]
    )
    [_, cells] = read_back(exported([row]))
    assert cells[11] == "Straße fehlt. | Postleitzahl fehlt."


@pytest.mark.parametrize(
    "dangerous", ['=HYPERLINK("http://x")', "+49 123", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
)
def test_export_neutralises_cells_a_spreadsheet_would_run_as_a_formula(dangerous: str) -> None:
    row = case_row(name=dangerous)
    row["debtor"]["city"] = dangerous
    [_, cells] = read_back(exported([row]))
    assert cells[6] == "'" + dangerous
    assert cells[9] == "'" + dangerous


def test_export_leaves_ordinary_cells_alone() -> None:
    assert neutralise("Jana = Schäfer") == "Jana = Schäfer"
    assert neutralise("") == ""


def test_export_streams_in_chunks_without_reading_everything_first() -> None:
    produced = 0

    def endless() -> Any:
        nonlocal produced
        while True:
            produced += 1
            yield case_row(f"B-{produced}")

    stream = export_csv(endless(), chunk_bytes=16 * 1024)
    first = next(stream)
    # One chunk of about chunk_bytes (rows are written 256 at a time), holding every row
    # read so far: nothing was read ahead of what was written.
    assert 16 * 1024 <= len(first) < 16 * 1024 + 256 * 200
    assert first.count(b"\r\n") == 1 + produced


def test_export_filename_names_the_filters() -> None:
    assert (
        export_filename(Role.SUPPORT, user_id=79424, period="2024-05")
        == "schulden_79424_2024-05.csv"
    )
    assert (
        export_filename(Role.VENDOR, user_id=79424, statuses=(Status.LOCKED, Status.RUNNING))
        == "inkasso_79424_locked-running_alle.csv"
    )


# ------------------------------------------------------------------------------ import


def test_an_exported_file_imports_as_the_same_admissions_umlauts_and_formulas_included(
    cases: DunningCases,
) -> None:
    rows = [case_row("B-1", name="Jörg Weiß-Müller"), case_row("B-2", name="=cmd|' /C calc'!A0")]
    parsed = parse_import(exported(rows))
    assert parsed.errors == []
    debtors = [r.admission.debtor for r in parsed.rows]
    assert [d.name for d in debtors] == ["Jörg Weiß-Müller", "=cmd|' /C calc'!A0"]
    assert debtors[0] == Debtor("Jörg Weiß-Müller", "Lindenstraße 12", "10969", "Köln", "DE")
    assert [r.admission.amount for r in parsed.rows] == [Decimal("1234.50")] * 2


def test_a_comma_separated_export_round_trips_too() -> None:
    parsed = parse_import(exported([case_row()], sep=","))
    assert parsed.errors == []
    assert parsed.rows[0].admission.amount == Decimal("1234.50")


def test_a_windows_1252_file_as_excel_writes_it_is_accepted(cases: DunningCases) -> None:
    text = (
        HEADER_DE + "\r\nB-7;79424;49,90;EUR;Jürgen Groß;Hauptstraße 5;50667;Köln;DE;Altliste\r\n"
    )
    report = import_cases(cases, text.encode("cp1252"), SUPPORT)
    assert report.ok and report.applied and report.created == 1
    case = cases.get_case("B-7", SUPPORT)
    assert case.debtor.name == "Jürgen Groß" and case.debtor.street == "Hauptstraße 5"
    assert case.amount == Decimal("49.90")


def test_utf8_with_and_without_bom_and_english_headers_are_accepted() -> None:
    text = (
        "order_id,user_id,amount,currency,name,street,postal_code,city,country\n"
        "B-8,79424,10.5,,Zoë Ünal,Weg 1,1010,Wien,at\n"
    )
    for data in (text.encode(), b"\xef\xbb\xbf" + text.encode()):
        parsed = parse_import(data)
        assert parsed.errors == []
        admission = parsed.rows[0].admission
        assert (admission.currency, admission.debtor.country) == ("EUR", "AT")
        assert admission.debtor.name == "Zoë Ünal"


def test_header_names_match_case_insensitively_and_an_excel_sep_line_is_honoured() -> None:
    text = (
        "sep=;\nBESTELL-ID;user id;BETRAG;name;STRASSE;plz;ORT;land\n"
        "B-9;79424;1.234,56;A;B 1;10969;Berlin;DE\n"
    )
    parsed = parse_import(text.encode())
    assert parsed.errors == []
    assert parsed.rows[0].admission.amount == Decimal("1234.56")
    assert parsed.rows[0].line == 2


def test_one_bad_row_among_many_rejects_the_whole_file_with_its_line(
    cases: DunningCases,
) -> None:
    good = [f"B-{i};79424;49,90;EUR;Name {i};Weg {i};10969;Berlin;DE;" for i in range(50)]
    good[30] = "B-30;79424;49,999;EUR;Name;Weg 1;10969;Berlin;DE;"
    data = ("\r\n".join([HEADER_DE, *good]) + "\r\n").encode()
    report = import_cases(cases, data, SUPPORT)
    assert not report.applied
    assert lines_of(report) == [(32, "amount")]
    assert "2 decimals" in report.errors[0].message
    assert report.rows == 50 and report.created == 0
    assert not cases.has_case("B-0") and not cases.has_case("B-49")


def test_every_bad_field_is_reported_with_its_line() -> None:
    rows = [
        "-bad;79424;1;EUR;N;S 1;1;C;DE;",  # order id pattern
        "B-2;0;1;EUR;N;S 1;1;C;DE;",  # user id not positive
        "B-3;abc;1;EUR;N;S 1;1;C;DE;",  # user id not a number
        "B-4;79424;-1;EUR;N;S 1;1;C;DE;",  # negative amount
        "B-5;79424;1;EURO;N;S 1;1;C;DE;",  # currency
        "B-6;79424;1;EUR;N;S 1;1;C;DEU;",  # country
        "B-7;79424;;EUR;N;S 1;1;C;DE;",  # amount missing
    ]
    parsed = parse_import(("\n".join([HEADER_DE, *rows]) + "\n").encode())
    assert [(e.line, e.field) for e in parsed.errors] == [
        (2, "order_id"),
        (3, "user_id"),
        (4, "user_id"),
        (5, "amount"),
        (6, "currency"),
        (7, "country"),
        (8, "amount"),
    ]
    assert parsed.rows == []


def test_a_file_with_wrong_columns_is_rejected_at_the_header(cases: DunningCases) -> None:
    data = b"Bestell-ID;Kundennummer;Betrag\nB-1;42;1,00\n"
    report = import_cases(cases, data, SUPPORT)
    assert lines_of(report) == [(1, None)]
    message = report.errors[0].message
    assert "unknown column 'Kundennummer'" in message and "missing column(s) user_id" in message
    assert not cases.has_case("B-1")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"\xff\xfeB\x00e\x00s\x00",
        HEADER_DE.encode() + b"\nB-1;79424;1;EUR;\x81\x8d;S 1;1;C;DE;\n",
        HEADER_DE.encode() + b"\nB-1;79424;1;EUR;N\x07;S 1;1;C;DE;\n",
    ],
)
def test_a_binary_or_undecodable_file_is_rejected_with_a_clear_message(data: bytes) -> None:
    parsed = parse_import(data)
    assert len(parsed.errors) == 1 and parsed.rows == []
    error = parsed.errors[0]
    assert error.code == "invalid_file"
    assert any(w in error.message for w in ("binary", "UTF-16", "neither UTF-8", "control"))


def test_an_undecodable_byte_is_reported_at_its_line() -> None:
    data = (
        HEADER_DE.encode() + b"\nB-1;79424;1;EUR;N;S 1;1;C;DE;\n"
        b"B-2;79424;1;EUR;\x81\x8d;x;1;C;DE;\n"
    )
    [error] = parse_import(data).errors
    assert error.line == 3


def test_an_empty_file_and_a_header_without_rows_are_rejected() -> None:
    assert "empty" in parse_import(b"").errors[0].message
    assert "no data rows" in parse_import(HEADER_DE.encode()).errors[0].message


def test_an_order_appearing_twice_in_one_file_is_reported_on_the_later_line() -> None:
    rows = [
        "B-1;79424;1;EUR;N;S 1;1;C;DE;",
        "B-2;79424;1;EUR;N;S 1;1;C;DE;",
        "",
        "B-1;79424;1;EUR;N;S 1;1;C;DE;",
    ]
    parsed = parse_import(("\n".join([HEADER_DE, *rows]) + "\n").encode())
    [error] = parsed.errors
    assert (error.line, error.field, error.code) == (5, "order_id", "duplicate_order")
    assert "first in line 2" in error.message


def test_too_many_rows_are_refused() -> None:
    rows = [f"B-{i};79424;1;EUR;N;S 1;1;C;DE;" for i in range(4)]
    parsed = parse_import(("\n".join([HEADER_DE, *rows])).encode(), max_rows=3)
    assert [(e.line, e.code) for e in parsed.errors] == [(5, "invalid_file")]
    assert "at most 3" in parsed.errors[0].message


def test_importing_the_same_file_twice_changes_nothing(cases: DunningCases) -> None:
    data = exported([case_row("B-1"), case_row("B-2")])
    first = import_cases(cases, data, SUPPORT)
    assert (first.applied, first.created, first.unchanged) == (True, 2, 0)
    version = cases.get_case("B-1", SUPPORT).version
    second = import_cases(cases, data, SUPPORT)
    assert (second.applied, second.created, second.unchanged, second.errors) == (True, 0, 2, ())
    assert second.position is None
    assert cases.get_case("B-1", SUPPORT).version == version


def test_an_order_admitted_with_other_data_is_an_order_conflict_and_nothing_applies(
    cases: DunningCases,
) -> None:
    cases.admit(
        Admission(
            "B-2", 79424, Decimal("5.00"), "EUR", Debtor("X", "Y 1", "10969", "Berlin", "DE")
        ),
        SUPPORT,
    )
    report = import_cases(cases, exported([case_row("B-1"), case_row("B-2")]), SUPPORT)
    assert [(e.line, e.code) for e in report.errors] == [(3, "order_conflict")]
    assert "amount" in report.errors[0].message and "debtor" in report.errors[0].message
    assert not report.applied and not cases.has_case("B-1")


def test_a_dry_run_reports_what_would_happen_and_changes_nothing(cases: DunningCases) -> None:
    cases.admit(
        Admission(
            "B-2",
            79424,
            Decimal("1234.50"),
            "EUR",
            Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Köln", "DE"),
        ),
        SUPPORT,
    )
    report = import_cases(
        cases, exported([case_row("B-1"), case_row("B-2")]), SUPPORT, dry_run=True
    )
    assert report.as_dict() == {
        "dry_run": True,
        "applied": False,
        "rows": 2,
        "created": 1,
        "unchanged": 1,
        "errors": [],
        "cases": [{"order_id": "B-1", "user_id": 79424}, {"order_id": "B-2", "user_id": 79424}],
    }
    assert not cases.has_case("B-1")


def test_imported_cases_record_the_support_actor_and_the_reason(cases: DunningCases) -> None:
    text = HEADER_DE + "\nB-5;79424;0;EUR;N;S 1;1;C;DE;\nB-6;79424;2,5;EUR;N;S 1;1;C;DE;Altfall\n"
    import_cases(cases, text.encode(), SUPPORT, default_reason="CSV-Import (liste.csv)")
    [entry5] = cases.history("B-5", SUPPORT)
    [entry6] = cases.history("B-6", SUPPORT)
    assert entry5.actor == {"role": "support", "id": "anna"}
    assert (entry5.reason, entry6.reason) == ("CSV-Import (liste.csv)", "Altfall")
    assert cases.get_case("B-6", SUPPORT).amount == Decimal("2.5")


def test_other_scripts_digits_are_not_numbers_in_a_csv_file() -> None:
    """Python's \\d and Decimal() read any script's digits; a User-ID, an amount and a
    postal code are written with 0-9 (issue 7, point 13)."""
    from debtcases.csvformat.parse import parse_import

    header = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"
    rows = [
        "B-1;٧٩٤٢٤;49,90;EUR;Jana Schäfer;Lindenstraße 12;10969;Berlin;DE;x",
        "B-2;79424;٤٩,٩٠;EUR;Jana Schäfer;Lindenstraße 12;10969;Berlin;DE;x",
    ]
    report = parse_import("\n".join([header, *rows, ""]).encode())
    assert [(e.line, e.field) for e in report.errors] == [(2, "user_id"), (3, "amount")]


def test_the_handover_check_wants_a_postal_code_and_house_number_in_0_to_9() -> None:
    from decimal import Decimal

    from debtcases.domain.debtor import Debtor, handover_errors

    arabic = Debtor("Jana Schäfer", "Lindenstraße ١٢", "١٠٩٦٩", "Berlin", "DE")
    errors = handover_errors(arabic, Decimal("49.90"), ["DE"])
    assert any("Postleitzahl" in e for e in errors), errors
