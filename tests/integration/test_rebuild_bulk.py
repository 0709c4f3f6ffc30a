"""The bulk rebuild (one read of the log, folded in memory, written in bulk) gives the very
tables the runner builds incrementally, row for row: the cases rows, their versions (the
temporal view), the counts and the vendor-access rows, on SQLite and on PostgreSQL; also
when it holds only a few cases in memory at a time; and an event it cannot fold is parked,
not a stalled rebuild."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor
from debtcases.domain.holds import Hold, HoldReason
from debtcases.projections import bulk
from debtcases.projections.rebuild import rebuild
from debtcases.projections.tables import CASES, VENDOR_ACCESS, VIEW_NAMES, tables_of
from tests.builders import DEBTOR
from tests.integration.test_views_property import OPS, VENDORS, _run
from tests.views_support import SUPPORT, assert_views_equal_fold


def _history(seed: int, cases: int, steps: int) -> tuple[list[Any], list[Any]]:
    rnd = random.Random(seed)
    admitted = [(rnd.choice(VENDORS), rnd.random() < 0.8, rnd.randrange(120)) for _ in range(cases)]
    ops = ("start_vendor", "start_support", "hand_over", *OPS)
    # Hours may go back a little (a clock that went back): versions stay in stream order.
    history = [(rnd.choice(ops), rnd.randrange(cases), rnd.randrange(-9, 40)) for _ in range(steps)]
    return admitted, history


def _snapshot(views: Any, view: str, gen: int) -> list[list[tuple[str, ...]]]:
    """Every table of a generation, each as its sorted rows (zero counts left out: the
    runner keeps a key whose count went back to 0, a fresh count has no such key)."""
    out = []
    recorder = views.recorder
    with recorder.datastore.transaction(commit=False) as cur:
        for table in tables_of(view, gen):
            cur.execute(f"SELECT * FROM {table}")
            rows = [dict(r) for r in cur.fetchall()]
            if "n" in (rows[0] if rows else {}):
                rows = [r for r in rows if int(r["n"]) != 0]
            out.append(sorted(tuple(f"{k}={r[k]!r}" for k in sorted(r)) for r in rows))
    return out


@pytest.mark.parametrize(("batch_size", "in_memory"), [(5000, 400_000), (9, 4)])
def test_a_rebuild_equals_the_runners_tables_row_for_row(
    database_url: str,
    make_container: Callable[..., Container],
    batch_size: int,
    in_memory: int,
) -> None:
    container = make_container(database_url, run_workers=False)
    views: Any = container.views
    cases, history = _history(seed=10, cases=30, steps=160)
    order_ids, _ = _run(container, "B", cases, history)
    container.runner.batch_size = 7  # the runner's batches differ from the rebuild's
    container.runner.catch_up()
    before = views.recorder.generations()
    incremental = {v: _snapshot(views, v, before[v]) for v in VIEW_NAMES}
    assert len(incremental[CASES][3]) > len(order_ids), "cases with several versions"

    results = rebuild(views, container.cases, batch_size=batch_size, max_cases_in_memory=in_memory)

    after = views.recorder.generations()
    assert {r.view: r.generation for r in results} == after
    assert after == {v: before[v] + 1 for v in VIEW_NAMES}
    for view in VIEW_NAMES:
        rebuilt = _snapshot(views, view, after[view])
        for table, old, new in zip(
            tables_of(view, after[view]), incremental[view], rebuilt, strict=True
        ):
            assert new == old, table
    assert views.recorder.parked() == []
    assert_views_equal_fold(views, container.cases, order_ids)
    # The runner carries on on the rebuilt generation.
    container.cases.cancel(order_ids[0], SUPPORT, "storniert")
    container.runner.catch_up()
    assert_views_equal_fold(views, container.cases, order_ids)


def _indexes(views: Any, gen: int) -> list[tuple[str, str]]:
    """Every index (keys included) of a generation's tables: name and definition, the
    generation's number taken out."""
    recorder = views.recorder
    postgres = recorder.dialect.kind == "postgres"
    names = [t for v in VIEW_NAMES for t in tables_of(v, gen)]
    with recorder.datastore.transaction(commit=False) as cur:
        if postgres:
            sql = "SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE tablename = %s"
        else:
            sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        found = []
        for table in names:
            cur.execute(sql, (table,))
            found += [(str(r["name"]), str(r["sql"])) for r in cur.fetchall()]
    return sorted((n.replace(f"_g{gen}", "_g*"), d.replace(f"_g{gen}", "_g*")) for n, d in found)


@pytest.mark.parametrize("in_memory", [400_000, 4])
def test_a_rebuilt_generation_has_every_key_and_index_of_a_new_one(
    database_url: str, make_container: Callable[..., Container], in_memory: int
) -> None:
    # Holding few cases, the rebuild writes them out and reads them back by key: some
    # keys are made during the load, the others after it; all of them in the end.
    container = make_container(database_url, run_workers=False)
    views: Any = container.views
    cases, history = _history(seed=13, cases=20, steps=60)
    _run(container, "K", cases, history)
    container.runner.catch_up()
    assert views.recorder.generations() == {v: 1 for v in VIEW_NAMES}
    made_by_setup = _indexes(views, 1)
    assert any(name.endswith("_pkey") or "autoindex" in name for name, _ in made_by_setup)

    rebuild(views, container.cases, batch_size=9, max_cases_in_memory=in_memory)

    assert views.recorder.generations() == {v: 2 for v in VIEW_NAMES}
    assert _indexes(views, 2) == made_by_setup


def test_an_event_the_bulk_rebuild_cannot_fold_is_parked_and_the_rebuild_goes_on(
    database_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(database_url, run_workers=False)
    views: Any = container.views
    cases, history = _history(seed=11, cases=12, steps=40)
    order_ids, _ = _run(container, "Q", cases, history)
    order_ids.append("Q-poison")
    container.cases.admit(
        Admission("Q-poison", VENDORS[0], Decimal("5.00"), "EUR", DEBTOR), Actor.system("intake")
    )
    container.cases.start_dunning("Q-poison", SUPPORT, "los")  # the poison event
    container.cases.block("Q-poison", SUPPORT, "Pause")
    container.runner.catch_up()
    poison = container.cases.get_case("Q-poison", SUPPORT)
    real = bulk.fold_state

    def failing(state: Any, event: Any) -> Any:
        if event.originator_id == poison.id and event.originator_version == 2:
            raise RuntimeError("injected: this version cannot fold it")
        return real(state, event)

    monkeypatch.setattr(bulk, "fold_state", failing)
    rebuild(views, container.cases, batch_size=10, max_cases_in_memory=3)

    gen = views.recorder.generations()[CASES]
    parked = views.recorder.parked()
    assert [(p.view, p.generation, p.originator_version) for p in parked] == [(CASES, gen, 2)]
    assert "injected" in parked[0].error
    head = container.cases.recorder.max_notification_id()
    assert views.positions() == {CASES: head, VENDOR_ACCESS: head}
    # The other cases are complete; a fixed version re-applies the parked event.
    monkeypatch.setattr(bulk, "fold_state", real)
    assert views.retry_parked() == (1, 0)
    assert_views_equal_fold(views, container.cases, order_ids)


def test_rebuilding_one_view_alone_equals_the_runners_tables(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url, run_workers=False)
    views: Any = container.views
    cases, history = _history(seed=12, cases=20, steps=90)
    _run(container, "A", cases, history)
    container.runner.catch_up()
    for view in VIEW_NAMES:
        before = views.recorder.generations()[view]
        incremental = _snapshot(views, view, before)
        rebuild(views, container.cases, [view], batch_size=6, max_cases_in_memory=5)
        assert views.recorder.generations()[view] == before + 1
        assert _snapshot(views, view, before + 1) == incremental


def test_a_log_of_whole_batches_with_nul_in_free_text_and_holds_rebuilds_as_the_runner_wrote_it(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    # The read-ahead selects the batch after a full one before the full one is folded: a
    # log of exactly 3 batches ends on an empty one. A NUL in free text is written as
    # U+FFFD on PostgreSQL (``text_in``), by the bulk rows as by the runner's.
    container = make_container(database_url, run_workers=False)
    views: Any = container.views
    order_ids = [f"Z-{n}" for n in range(6)]
    for order_id in order_ids:
        container.cases.admit(
            Admission(order_id, VENDORS[0], Decimal("5.00"), "EUR", DEBTOR),
            Actor.system("intake"),
        )
    container.cases.start_dunning("Z-0", SUPPORT, "los\x00jetzt")
    container.cases.start_dunning("Z-1", SUPPORT, "los")
    container.cases.block("Z-1", SUPPORT, "Pause\x00!")
    # Holds that end by themselves: every column of a hold set (the binary COPY's types).
    ahead = date.today() + timedelta(days=40)
    container.cases.start_dunning("Z-2", SUPPORT, "los")
    container.cases.block("Z-2", SUPPORT, "Streit", hold=Hold(HoldReason.DISPUTE, until=ahead))
    promise = Hold(HoldReason.PROMISE_TO_PAY, promised_amount=Decimal("2.50"), promised_date=ahead)
    container.cases.block("Z-3", SUPPORT, "zahlt", hold=promise)
    assert container.cases.recorder.max_notification_id() == 12
    container.runner.catch_up()
    before = views.recorder.generations()
    incremental = {v: _snapshot(views, v, before[v]) for v in VIEW_NAMES}

    rebuild(views, container.cases, batch_size=3)

    after = views.recorder.generations()
    assert after == {v: before[v] + 1 for v in VIEW_NAMES}
    for view in VIEW_NAMES:
        assert _snapshot(views, view, after[view]) == incremental[view], view
    reasons = {r["order_id"]: r["last_reason"] for r in views.recorder.all_case_rows()}
    nul = "\x00" if views.recorder.kind == "sqlite" else "\ufffd"
    assert reasons["Z-0"] == f"los{nul}jetzt"
    assert reasons["Z-1"] == f"Pause{nul}!"
    rows = {r["order_id"]: r for r in views.recorder.all_case_rows()}
    assert rows["Z-2"]["hold_until"] == ahead.isoformat()
    assert rows["Z-3"]["hold_promised_amount"] == "2.50"
    assert rows["Z-2"]["hold_ends_at"] is not None and rows["Z-3"]["hold_ends_at"] is not None
    assert_views_equal_fold(views, container.cases, order_ids)
