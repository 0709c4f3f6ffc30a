"""`debtcases import` and `debtcases export`, against a real database."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from debtcases.cli import app

HEADER = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"
runner = CliRunner()


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DEBTCASES_DATABASE_URL", database_url)
    monkeypatch.delenv("DEBTCASES_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    return database_url


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_cli_imports_a_list_once_and_exports_it_for_excel(database: str, tmp_path: Path) -> None:
    listing = write(
        tmp_path,
        "liste.csv",
        f"{HEADER}\r\n"
        "B-1;79424;49,90;EUR;Jürgen Groß;Hauptstraße 5;50667;Köln;DE;\r\n"
        "B-2;79424;5;EUR;@Evil;Weg 1;10969;Berlin;DE;Altfall\r\n",
        "cp1252",
    )

    dry = runner.invoke(app, ["import", listing, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "rows=2 created=2 unchanged=0 errors=0" in dry.output

    first = runner.invoke(app, ["import", listing])
    assert first.exit_code == 0, first.output
    assert "applied: rows=2 created=2" in first.output
    second = runner.invoke(app, ["import", listing])
    assert second.exit_code == 0, second.output
    assert "created=0 unchanged=2" in second.output

    out = tmp_path / "schulden.csv"
    exported = runner.invoke(
        app, ["export", "--user-id", "79424", "--status", "LOCKED", "--output", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = {
        r["Bestell-ID"]: r
        for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";")
    }
    assert set(rows) == {"B-1", "B-2"}
    assert rows["B-1"]["Kunde"] == "Jürgen Groß" and rows["B-1"]["Betrag"] == "49,90"
    assert rows["B-2"]["Kunde"] == "'@Evil"


def test_cli_rejects_a_bad_file_with_the_row_report_and_exit_code_1(
    database: str, tmp_path: Path
) -> None:
    listing = write(
        tmp_path,
        "bad.csv",
        f"{HEADER}\n"
        "B-1;79424;49,90;EUR;N;S 1;10969;Berlin;DE;\n"
        "B-2;79424;zwölf;EUR;N;S 1;10969;Berlin;DE;\n"
        "B-1;79424;49,90;EUR;N;S 1;10969;Berlin;DE;\n",
    )
    result = runner.invoke(app, ["import", listing])
    assert result.exit_code == 1
    assert "line 3: amount:" in result.output
    assert "line 4: order_id: order 'B-1' appears again (first in line 2)" in result.output
    assert "REJECTED, nothing imported" in result.output

    exported = runner.invoke(app, ["export", "--output", "-"])
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith("\ufeffBestell-ID;") and "B-1" not in exported.output


def test_cli_export_refuses_an_unknown_status_or_period(database: str) -> None:
    assert runner.invoke(app, ["export", "--status", "OPEN"]).exit_code == 2
    assert runner.invoke(app, ["export", "--period", "2024-13"]).exit_code == 2


def test_cli_refuses_a_file_over_the_row_limit_naming_it(database: str, tmp_path: Path) -> None:
    """The same 50,000-row limit as the API: nothing is imported."""
    rows = "".join(f"L-{i:06d};79424;1;EUR;A;B 1;10969;Berlin;DE;\n" for i in range(50_001))
    listing = write(tmp_path, "gross.csv", f"{HEADER}\n{rows}")
    result = runner.invoke(app, ["import", listing])
    assert result.exit_code == 1, result.output
    assert "Too many rows: at most 50,000 per file; split it." in result.output
    assert "REJECTED, nothing imported" in result.output
    counted = runner.invoke(app, ["export", "--output", str(tmp_path / "out.csv")])
    assert counted.exit_code == 0, counted.output
    assert (tmp_path / "out.csv").read_bytes().count(b"\n") == 1  # the header only
