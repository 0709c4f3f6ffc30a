"""Rebuild while serving: commands and list queries go on during the rebuild; afterwards
the new generation is live and its rows equal the fold of the event streams."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild
from debtcases.projections.tables import CASES, VENDOR_ACCESS
from tests.builders import DEBTOR
from tests.views_support import SUPPORT, assert_views_equal_fold


def test_rebuild_while_serving_gives_identical_rows(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)
    container.start_workers()
    app, views = container.cases, container.views
    assert views is not None
    v: Any = views
    order_ids = [f"R-{i:04d}" for i in range(600)]
    app.admit_many(
        [
            Admission(o, 79424 + i % 3, Decimal("5.00"), "EUR", DEBTOR)
            for i, o in enumerate(order_ids)
        ],
        Actor.system("intake"),
    )
    before = v.recorder.generations()
    stop = threading.Event()
    failures: list[BaseException] = []
    answered = [0]

    def commands() -> None:
        try:
            for o in order_ids[::7]:
                if stop.is_set():
                    return
                app.start_dunning(o, SUPPORT, "los")
        except BaseException as exc:
            failures.append(exc)

    def queries() -> None:
        try:
            while not stop.is_set():
                v.page_cases(CaseFilter(), Role.SUPPORT, None, 1, 20)
                answered[0] += 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=commands), threading.Thread(target=queries)]
    for t in threads:
        t.start()
    try:
        results = rebuild(v, container.cases, batch_size=100)
        threads[0].join(60)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures, failures
    assert answered[0] > 0, "the service kept answering during the rebuild"
    after = v.recorder.generations()
    assert after[CASES] == before[CASES] + 1 and after[VENDOR_ACCESS] == before[VENDOR_ACCESS] + 1
    assert {r.view for r in results} == {CASES, VENDOR_ACCESS}
    assert container.runner.wait_for(app.recorder.max_notification_id(), 30)
    assert_views_equal_fold(v, app, order_ids)
    # A second rebuild drops the generation before the previous one.
    rebuild(v, container.cases, [CASES])
    assert v.recorder.generations()[CASES] == before[CASES] + 2
    assert not v.recorder._table_exists(f"view_cases_g{before[CASES]}")
    assert_views_equal_fold(v, app, order_ids)


def test_a_switch_never_puts_a_generation_live_behind_the_old_one(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    """The race at the switch, made deterministic: the rebuild has selected its last batch,
    then the runner applies newer events to the old generation, then the switch happens.
    The new generation must include those events, or a command whose read-your-writes wait
    was satisfied by the old generation would not find itself in the list."""
    container = make_container(database_url, run_workers=False)
    app, v = container.cases, container.views
    assert v is not None
    views: Any = v
    app.admit_many(
        [Admission(f"S-{i}", 79424, Decimal("5.00"), "EUR", DEBTOR) for i in range(3)],
        Actor.system("intake"),
    )
    log, mapper = app.recorder, app.mapper
    selected = [(n.id, mapper.to_domain_event(n)) for n in log.select_notifications(1, 100)]
    # Meanwhile: two more cases, and the runner applies them to the live (old) generation.
    late = app.admit_many(
        [Admission(f"S-late-{i}", 79424, Decimal("5.00"), "EUR", DEBTOR) for i in range(2)],
        Actor.system("intake"),
    )
    while container.runner.step():
        pass
    old_position = views.positions()[CASES]
    assert old_position == late[0].position == 5

    gen = views.recorder.new_generation(CASES)

    def between(after: int, upto: int) -> list[tuple[int, Any]]:
        return [
            (n.id, mapper.to_domain_event(n))
            for n in log.select_notifications(after + 1, upto - after, stop=upto)
        ]

    views.recorder.process(CASES, gen, selected, switch=True, catch_up=between)
    assert views.recorder.generations()[CASES] == gen
    assert views.positions()[CASES] >= old_position
    listed = {r["order_id"] for r in views.iter_cases(CaseFilter(), Role.SUPPORT, None)}
    assert {"S-late-0", "S-late-1"} <= listed
