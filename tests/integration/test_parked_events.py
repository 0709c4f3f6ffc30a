"""No single event stalls a view or the outbox: an event a processor cannot write is parked
with its error (in the transaction whose tracking skips it), the processor goes on, /readyz
says not ready, /metrics and support's endpoint show it, and a fixed version re-applies it.
Also: a view that lags and does not move makes /readyz fail, whatever the lag bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.consumers import outbox as outbox_module
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import case_id_for
from debtcases.domain.debtor import Debtor
from debtcases.projections import cases_view
from debtcases.projections.cases_rows import CASE_COLUMNS
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild
from tests.views_support import SUPPORT, assert_views_equal_fold

DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
ORDERS = ["P-1", "P-2", "P-3"]


def _admit(container: Container, order_ids: list[str]) -> None:
    container.cases.admit_many(
        [Admission(o, 79424, Decimal("5.00"), "EUR", DEBTOR) for o in order_ids],
        Actor.system("intake"),
    )


def _client(container: Container) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    support = container.keys.create(Role.SUPPORT, name="anna")
    vendor = container.keys.create(Role.VENDOR, user_id=79424)
    return (
        TestClient(create_app(container)),
        {"Authorization": f"Bearer {support}"},
        {"Authorization": f"Bearer {vendor}"},
    )


def _status(container: Container, order_id: str) -> str:
    rows, _ = container.views.page_cases(CaseFilter(order_id=order_id), Role.SUPPORT, None)
    return str(rows[0]["status"]) if rows else "-"


def test_a_nul_in_free_text_does_not_stop_the_views(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)  # inline: read-your-writes steps the runner
    _admit(container, ["N-1", "N-2"])
    outcome = container.cases.cancel("N-1", SUPPORT, "a\u0000b")
    started = time.monotonic()
    assert container.wait_for_views(outcome.position, timeout=5.0)
    later = container.cases.block("N-2", SUPPORT, "Pause")
    assert container.wait_for_views(later.position, timeout=5.0)
    assert time.monotonic() - started < 4.0, "read-your-writes waited for a stalled view"
    assert _status(container, "N-1") == "CANCELLED"
    assert _status(container, "N-2") == "BLOCKED"
    assert container.runner.parked() == []
    client = _client(container)[0]
    assert client.get("/readyz").status_code == 200
    # A rebuild replays the same event without failing.
    rebuild(container.views, container.cases)
    assert _status(container, "N-1") == "CANCELLED"


def test_an_event_a_view_cannot_write_is_parked_and_the_view_goes_on(
    database_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(database_url, run_workers=False)
    poison = case_id_for("P-2")
    real_fold = cases_view.fold_row

    def failing_fold(row: Any, event: Any, position: int) -> Any:
        if event.originator_id == poison and event.originator_version == 2:
            raise RuntimeError("injected: this version cannot fold P-2's second event")
        return real_fold(row, event, position)

    monkeypatch.setattr(cases_view, "fold_row", failing_fold)
    _admit(container, ORDERS)
    container.cases.start_dunning("P-2", SUPPORT, "los")  # the poison event
    container.cases.start_dunning("P-1", SUPPORT, "los")
    container.cases.block("P-2", SUPPORT, "Pause")
    container.cases.cancel("P-3", SUPPORT, "storniert")

    container.runner.catch_up()  # never raises, never stops
    head = container.cases.recorder.max_notification_id()
    assert container.views.positions() == {"cases": head, "vendor_access": head}
    assert _status(container, "P-1") == "RUNNING"
    assert _status(container, "P-3") == "CANCELLED"

    parked = container.runner.parked()
    assert [(p.processor, p.view, p.originator_version) for p in parked] == [("views", "cases", 2)]
    assert "injected" in parked[0].error and parked[0].attempts == 1
    assert parked[0].originator_id == str(poison) and parked[0].topic.endswith("DunningStarted")

    client, support, vendor = _client(container)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["parked_events"] == {
        "ok": False,
        "unresolved": {"views": 1, "outbox": 0},
    }
    metrics = client.get("/metrics").text
    assert 'debtcases_parked_events{processor="views"} 1.0' in metrics
    assert "debtcases_runner_failures_total" in metrics
    listed = client.get("/api/v1/support/parked-events", headers=support)
    assert listed.status_code == 200
    assert listed.json()["unresolved"] == 1
    assert listed.json()["items"][0]["notification_id"] == parked[0].notification_id
    assert client.get("/api/v1/support/parked-events", headers=vendor).status_code == 403

    # Still broken: a retry counts the attempt and keeps it parked.
    assert container.runner.retry_parked()["views"] == (0, 1)
    assert container.runner.parked()[0].attempts == 2

    # A fixed version re-applies it through the same fold; the views equal the replay.
    monkeypatch.setattr(cases_view, "fold_row", real_fold)
    assert container.runner.retry_parked()["views"] == (1, 0)
    assert_views_equal_fold(container.views, container.cases, ORDERS)
    assert _status(container, "P-2") == "BLOCKED"
    assert container.runner.parked() == []
    resolved = container.runner.parked(include_resolved=True)
    assert len(resolved) == 1 and resolved[0].resolved_at is not None
    assert client.get("/readyz").status_code == 200
    # Later events of the case apply on top of the re-folded row.
    container.cases.unblock("P-2", SUPPORT, "weiter")
    container.runner.catch_up()
    assert_views_equal_fold(container.views, container.cases, ORDERS)


def test_a_row_that_violates_a_view_constraint_is_parked(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url, run_workers=False)
    _admit(container, ["C-1"])
    container.runner.catch_up()
    # A stray row holding C-2's order id under another case id: C-2's row cannot be written.
    recorder: Any = container.views.recorder
    row = recorder.all_case_rows()[0]
    row.update(case_id="00000000-0000-0000-0000-000000000000", order_id="C-2")
    with recorder.datastore.transaction(commit=True) as cur:
        cur.execute(
            recorder.dialect.q(
                f"INSERT INTO view_cases_g1 ({', '.join(CASE_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(CASE_COLUMNS))})"
            ),
            recorder._case_to_db(row),
        )
    _admit(container, ["C-2", "C-3"])
    container.cases.start_dunning("C-1", SUPPORT, "los")
    container.runner.catch_up()
    assert [(p.view, p.originator_version) for p in container.runner.parked()] == [("cases", 1)]
    assert _status(container, "C-3") == "LOCKED"
    assert _status(container, "C-1") == "RUNNING"


def test_an_event_the_outbox_cannot_record_is_parked_and_messages_go_on(
    database_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(database_url, run_workers=False)
    real = outbox_module.messages_for

    def failing(event: Any, case: Any) -> Any:
        if case.order_id == "P-2":
            raise ValueError("injected: no message for P-2")
        return real(event, case)

    monkeypatch.setattr(outbox_module, "messages_for", failing)
    _admit(container, ORDERS)
    for order_id in ORDERS:
        container.cases.start_dunning(order_id, SUPPORT, "los")
    container.runner.catch_up()
    outbox = container.diagonal.outbox
    sent_for = {m.order_id for m in outbox.messages()}
    assert {"P-1", "P-3"} <= sent_for and "P-2" not in sent_for
    parked = container.runner.parked()
    assert [(p.processor, p.originator_version) for p in parked] == [("outbox", 2)]

    monkeypatch.setattr(outbox_module, "messages_for", real)
    assert container.runner.retry_parked()["outbox"] == (1, 0)
    assert "P-2" in {m.order_id for m in outbox.messages()}
    assert container.runner.parked() == []


def test_readyz_fails_when_a_lagging_view_makes_no_progress_whatever_the_bound(
    tmp_path: Path, make_container: Callable[..., Container]
) -> None:
    # Another process is meant to project, and it has stopped; the lag is tiny.
    container = make_container(
        f"sqlite:///{tmp_path}/s.sqlite",
        run_workers=False,
        ready_max_lag=1000,
        ready_stall_seconds=0.3,
    )
    client = TestClient(create_app(container))
    _admit(container, ["S-1"])
    assert client.get("/readyz").status_code == 200  # first seen at this position
    time.sleep(0.4)
    stalled = client.get("/readyz")
    assert stalled.status_code == 503
    check = stalled.json()["checks"]["progress:cases"]
    assert check["ok"] is False and check["lag"] == 1 and check["stalled_seconds"] >= 0.3
    assert stalled.json()["checks"]["view:cases"]["ok"] is True  # within the lag bound
    container.runner.catch_up()
    assert client.get("/readyz").status_code == 200
