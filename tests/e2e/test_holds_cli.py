"""`debtcases expire-holds [--at ISO]` against a real database: ends the due holds once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from debtcases.bootstrap import Container
from debtcases.cli import app
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.statuses import Status
from tests.builders import INTAKE, SUPPORT, admission

runner = CliRunner()
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def test_cli_expire_holds_ends_due_holds_once(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, make_container: Callable[..., Container]
) -> None:
    url = f"sqlite:///{tmp_path}/cases.sqlite"
    monkeypatch.setenv("DEBTCASES_DATABASE_URL", url)
    monkeypatch.delenv("DEBTCASES_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    c = make_container(url, run_workers=False)
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.block("B-1", SUPPORT, "Streit", T0, Hold(HoldReason.DISPUTE, date(2024, 7, 1)))
    early = runner.invoke(app, ["expire-holds", "--at", "2024-06-30T23:59:59+02:00"])
    assert early.exit_code == 0, early.output
    assert "0 ended" in early.output
    result = runner.invoke(app, ["expire-holds", "--at", "2024-07-01T00:00:00+02:00"])
    assert result.exit_code == 0, result.output
    assert "1 ended" in result.output and "ended B-1" in result.output
    again = runner.invoke(app, ["expire-holds", "--at", "2024-07-01T00:00:00+02:00"])
    assert "0 ended" in again.output
    assert c.cases.get_case("B-1", SUPPORT).status is Status.LOCKED
    bad = runner.invoke(app, ["expire-holds", "--at", "2024-07-01T00:00:00"])
    assert bad.exit_code == 2
