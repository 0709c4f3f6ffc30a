"""`st run --checks all` against a served process, per role: the OpenAPI document tells the
whole truth (issue 12).

Every check schemathesis has runs, in every phase (examples, coverage, fuzzing, stateful),
among them positive-data acceptance (a schema-valid request is not refused), negative-data
rejection (a schema-invalid one is), ignored auth, use-after-free and resource availability
through the document's links. The run is bounded (examples per operation) and deterministic
(a fixed seed, deterministic generation), so the tier is stable in CI. What cannot hold is
in the README (section "Contract tier")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import FIGURES, Served

ST = [str(Path(sys.executable).parent / "st")]
MAX_EXAMPLES = 5  # per operation and phase
STATEFUL_EXAMPLES = 60  # scenarios of the stateful phase (chains along the links)
SEED = "20261127"
# Vendor 79424's demo cases: the vendor runs draw most order ids from them, so "own" drives
# its own cases (Play, cancel, history) and "other" (vendor 51234) gets 404 for the same ids.
OWN_ORDERS = ["B-2024-000123", "B-2024-000124"]
ROLES = {
    "support": "support",
    "vendor-own": "79424",
    "vendor-other": "51234",
    "system": "system",
    "no-token": None,
}
# Only the document's own links (from what creates cases): the figure says how many of them
# the stateful phase walked. (Schemathesis would add links it infers from names.)
_CONFIG = f"""
[generation]
max-examples = {MAX_EXAMPLES}

[phases.stateful]
max-steps = 6

[phases.stateful.generation]
max-examples = {STATEFUL_EXAMPLES}

[phases.stateful.inference]
algorithms = []
"""
_VENDOR_CONFIG = f"""
[dictionaries.own_orders]
values = {json.dumps(OWN_ORDERS)}

[parameters]
order_id = {{ dictionary = "own_orders", probability = 0.8 }}
"""


def _st_run(served: Served, role: str, workdir: Path) -> dict[str, Any]:
    token = served.tokens[ROLES[role]] if ROLES[role] else None
    path = workdir / "schemathesis.toml"
    path.write_text(_CONFIG + (_VENDOR_CONFIG if role.startswith("vendor") else ""))
    config = ["--config-file", str(path)]
    report = workdir / "report.json"
    events = workdir / "events.ndjson"
    command = [
        *ST,
        *config,
        "run",
        f"{served.base}/openapi.json",
        "--checks",
        "all",
        "--seed",
        SEED,
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json,ndjson",
        "--report-json-path",
        str(report),
        "--report-ndjson-path",
        str(events),
    ]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, check=False
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    data: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    walked = _links_walked(events)
    figures = {
        "backend": served.backend,
        "role": role,
        "generated": data.get("test_cases", {}).get("generated", 0),
        "links": f"{links[1]}/{links[2]}" if links else "-",
        "walked": walked,
        "failures": sum(f.get("count", 1) for f in data.get("failures", [])),
        "errors": len(data.get("errors", [])),
        "seconds": seconds,
        "exit": done.returncode,
        "output": output,
    }
    FIGURES.append({k: v for k, v in figures.items() if k not in ("output", "walked")})
    return figures


def _links_walked(events: Path) -> set[str]:
    """The document's links the stateful phase followed (transition ids from the events)."""
    walked: set[str] = set()
    if not events.exists():
        return walked
    for line in events.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        for case in finished.get("recorder", {}).get("cases", {}).values():
            transition = case.get("transition") or {}
            if transition.get("id") and not transition.get("is_inferred"):
                walked.add(transition["id"])
    return walked


@pytest.mark.parametrize("role", list(ROLES))
def test_schemathesis_with_every_check_finds_nothing(
    served: Served, role: str, tmp_path: Path
) -> None:
    run = _st_run(served, role, tmp_path)
    assert run["generated"] > 0, run["output"]
    assert (run["exit"], run["failures"], run["errors"]) == (0, 0, 0), run["output"]
