"""The totals of the support lists as of a moment come from the as-of counts (per month,
day and hour, plus an exact count within the moment's hour): they equal counting the
versions valid then, at and around every bucket boundary (an event at the last
microsecond of a month, at midnight, on the hour), after commands, after a clock that went
back, after a rebuild, after a parked event was re-folded, and for a generation that had
versions before the counts existed. The counts table always equals what its versions
add up to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import case_id_for
from debtcases.domain.statuses import Status
from debtcases.projections import cases_view
from debtcases.projections.case_versions import as_of_deltas
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild
from debtcases.projections.tables import CASES, tables_of
from tests.builders import DEBTOR
from tests.views_support import SUPPORT

US = timedelta(microseconds=1)
# The last microsecond of January (UTC), then midnight, the hour, within an hour ...
EDGE = datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
FILTERS = [
    CaseFilter(),
    CaseFilter(statuses=(Status.RUNNING,)),
    CaseFilter(statuses=(Status.LOCKED, Status.BLOCKED)),
    CaseFilter(period="2024-02"),
    CaseFilter(statuses=(Status.LOCKED,), period="2024-01"),
]


def _history(container: Container) -> list[datetime]:
    """Cases admitted and changed at bucket edges; returns every event moment."""
    app = container.cases
    moments: list[datetime] = []

    def admit(order_id: str, at: datetime) -> None:
        app.admit(Admission(order_id, 79424, Decimal("5.00"), "EUR", DEBTOR), SYSTEM, now=at)
        moments.append(at)

    def change(command: Callable[..., Any], order_id: str, at: datetime, *args: Any) -> None:
        command(order_id, SUPPORT, *args, now=at)
        moments.append(at)

    admit("E-1", EDGE)  # last microsecond of January (Berlin: already February)
    admit("E-2", EDGE + US)  # midnight, 1 February
    admit("E-3", datetime(2024, 1, 15, 13, 0, tzinfo=UTC))  # on the hour
    admit("E-4", datetime(2024, 1, 15, 13, 59, 59, 999999, tzinfo=UTC))
    admit("E-5", datetime(2024, 1, 15, 13, 30, tzinfo=UTC))
    change(app.start_dunning, "E-3", EDGE, "los")  # valid from one month to the next
    change(app.block, "E-3", EDGE + US, "Pause")  # the version before lived 1 microsecond
    change(app.start_dunning, "E-4", datetime(2024, 1, 15, 14, 0, tzinfo=UTC), "los")
    change(app.start_dunning, "E-5", datetime(2024, 1, 15, 13, 45, tzinfo=UTC), "los")
    change(app.block, "E-5", datetime(2024, 1, 15, 13, 45, tzinfo=UTC), "sofort")  # same moment
    change(app.unblock, "E-3", datetime(2024, 3, 1, 0, 0, tzinfo=UTC), "weiter")
    # The clock goes back: the version is valid from the stream's latest moment, not this.
    change(app.cancel, "E-4", datetime(2024, 1, 10, 8, 0, tzinfo=UTC), "storniert")
    change(app.start_dunning, "E-1", datetime(2024, 2, 29, 23, 0, tzinfo=UTC), "los")
    return moments


SYSTEM = Actor.system("intake")


def _probes(moments: list[datetime]) -> list[datetime]:
    """Each moment, just before and after it, and the edges of its hour, day and month."""
    out = {datetime(2023, 12, 31, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)}
    for m in moments:
        hour = m.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        month = day.replace(day=1)
        for edge in (m, hour, day, month, hour + timedelta(hours=1), day + timedelta(days=1)):
            out.update((edge - US, edge, edge + US))
    return sorted(out)


def assert_counts_add_up_to_the_versions(views: Any) -> None:
    """The as-of counts table equals the deltas of every stored version (zeros aside)."""
    recorder = views.recorder
    versions_t, counts_t = tables_of(CASES, recorder.live_generation(CASES))[3:5]
    ts = recorder.dialect.ts_out
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(f"SELECT status, entered_month, valid_from, valid_to FROM {versions_t}")
        changes = []
        for r in cur.fetchall():
            changes.append((ts(r["valid_from"]), r["status"], r["entered_month"], 1))
            if r["valid_to"] is not None:
                changes.append((ts(r["valid_to"]), r["status"], r["entered_month"], -1))
        cur.execute(f"SELECT grain, bucket, status, entered_month, n FROM {counts_t}")
        stored = {
            (r["grain"], r["bucket"], r["status"], r["entered_month"]): r["n"]
            for r in cur.fetchall()
        }
    want = {k: n for k, n in as_of_deltas(changes).items() if n}
    assert {k: n for k, n in stored.items() if n} == want


def assert_totals_equal_the_versions_valid_then(views: Any, probes: list[datetime]) -> None:
    for at in probes:
        for f in FILTERS:
            listed = sum(1 for _ in views.iter_cases(f, Role.SUPPORT, None, as_of=at))
            # Page size 1: the total is counted (not the short last page's length).
            total = views.page_cases(f, Role.SUPPORT, None, 1, 1, as_of=at)[1]
            assert total == listed, (at, f)


def test_as_of_totals_equal_the_versions_valid_then_at_every_bucket_edge(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)
    views: Any = container.views
    moments = _history(container)
    container.runner.catch_up()
    probes = _probes(moments)
    assert views.page_cases(CaseFilter(), Role.SUPPORT, None, 1, 1, as_of=EDGE - US)[1] == 3
    assert views.page_cases(CaseFilter(), Role.SUPPORT, None, 1, 1, as_of=EDGE)[1] == 4
    assert views.page_cases(CaseFilter(), Role.SUPPORT, None, 1, 1, as_of=EDGE + US)[1] == 5
    running = CaseFilter(statuses=(Status.RUNNING,))
    assert views.page_cases(running, Role.SUPPORT, None, 1, 1, as_of=EDGE)[1] == 1  # E-3
    assert views.page_cases(running, Role.SUPPORT, None, 1, 1, as_of=EDGE + US)[1] == 0
    assert_counts_add_up_to_the_versions(views)
    assert_totals_equal_the_versions_valid_then(views, probes)

    rebuild(views, container.cases, [CASES])
    assert_counts_add_up_to_the_versions(views)
    assert_totals_equal_the_versions_valid_then(views, probes)

    # A generation whose versions were written before the counts: counted once at setup.
    gen = views.recorder.generations()[CASES]
    views.recorder._execute_ddl([f"DROP TABLE {tables_of(CASES, gen)[4]}"])
    views.recorder.setup()
    views.recorder.setup()
    assert_counts_add_up_to_the_versions(views)
    assert_totals_equal_the_versions_valid_then(views, probes)


def test_a_refolded_case_moves_its_as_of_counts_with_its_versions(
    database_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(database_url, run_workers=False)
    views: Any = container.views
    poison = case_id_for("E-3")
    real_fold = cases_view.fold_row

    def failing_fold(row: Any, event: Any, position: int) -> Any:
        if event.originator_id == poison and event.originator_version == 3:
            raise RuntimeError("injected: E-3's block cannot be folded")
        return real_fold(row, event, position)

    monkeypatch.setattr(cases_view, "fold_row", failing_fold)
    moments = _history(container)
    container.runner.catch_up()
    assert [p.originator_version for p in container.runner.parked()] == [3]
    assert_counts_add_up_to_the_versions(views)
    monkeypatch.setattr(cases_view, "fold_row", real_fold)
    assert container.runner.retry_parked()["views"] == (1, 0)
    assert_counts_add_up_to_the_versions(views)
    assert_totals_equal_the_versions_valid_then(views, _probes(moments))
