"""The bench's one table and its JSON: each figure beside the baseline measured in the same
run, the ratio, and the target of issue 10 with a met / not-met mark.

Pure (no clock, no network): ``run.py`` measures and hands the figures here; the unit test
``tests/unit/test_bench_report.py`` runs this on fake figures so the writer cannot silently
break.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

# How a figure is held against its target:
#   ratio_min  value / baseline >= limit      (throughput beside its baseline)
#   ratio_max  value / baseline <= limit      (latency beside its baseline)
#   max        value <= limit                 (an absolute bound: ms, s, MB)
#   min        value >= limit
TargetKind = Literal["ratio_min", "ratio_max", "max", "min"]


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    limit: float
    text: str  # as the issue says it, e.g. "≥ 0.5 of encode+COPY"

    def met(self, value: float, ratio: float | None) -> bool | None:
        """None when it cannot be judged (no baseline for a ratio target)."""
        if self.kind in ("ratio_min", "ratio_max"):
            if ratio is None:
                return None
            return ratio >= self.limit if self.kind == "ratio_min" else ratio <= self.limit
        return value <= self.limit if self.kind == "max" else value >= self.limit


@dataclass(frozen=True)
class Figure:
    """One measured figure. ``value``/``baseline`` are medians over interleaved rounds
    (``rounds`` says how many); ``detail`` carries extras (p50 beside a p99, spread ...)."""

    key: str
    label: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    baseline_unit: str = ""
    target: Target | None = None
    rounds: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["met"] = self.met
        return out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return float(ordered[index])


def fmt_number(value: float) -> str:
    """Thousands separators; more digits for small numbers."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{fmt_number(value)} {unit}".strip()


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}"


def fmt_met(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "—"}[met]


def table_rows(figures: Sequence[Figure]) -> list[list[str]]:
    rows = [["figure", "value", "baseline (same run)", "ratio", "target", "met"]]
    for f in figures:
        baseline = fmt_value(f.baseline, f.baseline_unit or f.unit)
        if f.baseline_label:
            baseline = f"{f.baseline_label}: {baseline}"
        rows.append(
            [
                f.label,
                fmt_value(f.value, f.unit),
                baseline,
                fmt_ratio(f.ratio),
                f.target.text if f.target else "—",
                fmt_met(f.met),
            ]
        )
    return rows


def markdown_table(figures: Sequence[Figure]) -> str:
    """The table as Markdown (what `make bench` prints and the README shows)."""
    rows = table_rows(figures)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {1, 2, 3}

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [("-" * (w - 1) + ":") if i in right else "-" * w for i, w in enumerate(widths)]
    return "\n".join([line(rows[0]), "| " + " | ".join(rule) + " |", *map(line, rows[1:])])


def summary_line(figures: Sequence[Figure]) -> str:
    judged = [f for f in figures if f.met is not None]
    met = sum(1 for f in judged if f.met)
    return f"{met} of {len(judged)} targets met"


def result_document(
    *,
    date: str,
    machine: dict[str, Any],
    commit: str,
    bench_cases: int,
    figures: Sequence[Figure],
    notes: Sequence[str] = (),
    phases: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The JSON written under bench/results/."""
    return {
        "date": date,
        "machine": machine,
        "git_commit": commit,
        "bench_cases": bench_cases,
        "figures": [f.as_dict() for f in figures],
        "summary": summary_line(figures),
        "notes": list(notes),
        "phase_seconds": dict(phases or {}),
    }


def result_filename(date: str, bench_cases: int, commit: str) -> str:
    stamp = date.replace(":", "").replace("-", "")[:15]  # 20261127T134501
    return f"{stamp}-{bench_cases}-{commit[:10]}.json"


def write_result(directory: Path, document: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / result_filename(
        document["date"], document["bench_cases"], document["git_commit"]
    )
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def figures_from_document(document: dict[str, Any]) -> list[Figure]:
    """Read figures back from a result JSON (to reprint a table)."""
    out: list[Figure] = []
    for d in document["figures"]:
        target = Target(**d["target"]) if d.get("target") else None
        out.append(
            Figure(
                key=d["key"],
                label=d["label"],
                value=d["value"],
                unit=d["unit"],
                baseline=d.get("baseline"),
                baseline_label=d.get("baseline_label", ""),
                baseline_unit=d.get("baseline_unit", ""),
                target=target,
                rounds=d.get("rounds", 1),
                detail=d.get("detail", {}),
            )
        )
    return out
