"""The bench's table and JSON writer on fake figures (pure logic; no timing here: the
benchmarks themselves never run in the tests)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import (
    Figure,
    Target,
    figures_from_document,
    markdown_table,
    percentile,
    result_document,
    summary_line,
    write_result,
)

FIGURES = [
    Figure(
        "intake",
        "intake: admit_many",
        2036.0,
        "cases/s",
        17600.0,
        "encode+COPY",
        target=Target("ratio_min", 0.5, "≥ 0.5 of encode+COPY"),
        rounds=10,
    ),
    Figure(
        "list_deep",
        "list page p99: deep page",
        3.0,
        "ms",
        2.0,
        "one case by id",
        target=Target("ratio_max", 2.0, "p99 ≤ 2x one case by id"),
    ),
    Figure("csv", "CSV export", 3.2, "s", 0.25, "csv.writer", target=Target("max", 1.0, "≤ 1 s")),
    Figure("cores", "cores busy", 1.6, "cores", target=Target("min", 1.5, "≥ 1.5")),
    Figure("copy", "COPY alone", 90000.0, "rows/s"),
]


def test_each_figure_is_judged_against_its_target_by_its_ratio_or_its_value() -> None:
    intake, deep, csv, cores, copy = FIGURES
    assert intake.ratio is not None and round(intake.ratio, 3) == 0.116
    assert intake.met is False  # 0.12 of the baseline, 0.5 wanted
    assert deep.met is True  # 1.5x the single read, 2x allowed
    assert csv.met is False  # 3.2 s, 1 s allowed
    assert cores.met is True
    assert copy.met is None and copy.ratio is None


def test_a_ratio_target_without_a_baseline_cannot_be_judged() -> None:
    figure = Figure("x", "x", 1.0, "ms", target=Target("ratio_max", 2.0, "≤ 2x"))
    assert figure.met is None


def test_the_table_shows_each_figure_beside_its_baseline_ratio_target_and_mark() -> None:
    table = markdown_table(FIGURES)
    lines = table.splitlines()
    assert lines[0].startswith("| figure") and "baseline (same run)" in lines[0]
    assert len(lines) == 2 + len(FIGURES)
    intake_line = lines[2]
    for cell in ("2,036 cases/s", "encode+COPY: 17,600 cases/s", "0.12", "NOT met"):
        assert cell in intake_line
    assert "| met" in lines[3]
    assert all(line.count("|") == 7 for line in lines)
    assert summary_line(FIGURES) == "2 of 4 targets met"


def test_the_json_carries_date_machine_commit_cases_and_every_figure(tmp_path: Path) -> None:
    document = result_document(
        date="2026-11-27T13:45:01+00:00",
        machine={"cores": 2, "memory_gb": 23.5, "cpu_model": "fake", "python": "3.11"},
        commit="89b8fca2719d",
        bench_cases=20000,
        figures=FIGURES,
        notes=["fake"],
        phases={"intake": 1.0},
    )
    path = write_result(tmp_path / "results", document)
    assert path.name == "20261127T134501-20000-89b8fca271.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert {"date", "machine", "git_commit", "bench_cases", "figures"} <= stored.keys()
    first = stored["figures"][0]
    assert first["value"] == 2036.0 and first["unit"] == "cases/s"
    assert first["baseline"] == 17600.0 and first["met"] is False
    assert first["target"] == {"kind": "ratio_min", "limit": 0.5, "text": "≥ 0.5 of encode+COPY"}
    assert markdown_table(figures_from_document(stored)) == markdown_table(FIGURES)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) in (50.0, 51.0)
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
