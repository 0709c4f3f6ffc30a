"""List totals come from counts tables kept with the rows: they equal a COUNT of the rows
after commands, after a rebuild, and for a generation filled before the counts existed."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter
from debtcases.projections.rebuild import rebuild
from debtcases.projections.tables import CASES, tables_of
from tests.builders import DEBTOR
from tests.views_support import SUPPORT

VENDORS = (79424, 51234)

FILTERS: list[tuple[CaseFilter, int | None]] = [
    (CaseFilter(), None),
    (CaseFilter(statuses=(Status.RUNNING,)), None),
    (CaseFilter(statuses=(Status.BLOCKED, Status.LOCKED)), None),
    (CaseFilter(user_id=79424), None),
    (CaseFilter(user_id=79424, statuses=(Status.BLOCKED,)), None),
    (CaseFilter(), 51234),
    (CaseFilter(statuses=(Status.RUNNING,)), 51234),  # BLOCKED-from-RUNNING counts here
    (CaseFilter(statuses=(Status.BLOCKED,)), 51234),  # never: the vendor cannot see it
    (CaseFilter(order_id="T-0003"), None),
    (CaseFilter(order_id="T-0003"), 51234),
]


def _populate(container: Container) -> int:
    app = container.cases
    orders = [f"T-{i:04d}" for i in range(40)]
    app.admit_many(
        [
            Admission(o, VENDORS[i % 2], Decimal("9.90"), "EUR", DEBTOR)
            for i, o in enumerate(orders)
        ],
        Actor.system("intake"),
    )
    for o in orders[::3]:
        app.start_dunning(o, SUPPORT, "los")
    for o in orders[::9]:  # 9 and 27 belong to 51234
        app.block(o, SUPPORT, "Pause")
    out = app.cancel(orders[0], SUPPORT, "storniert")
    assert out.position is not None
    return out.position


def _assert_totals_equal_counts(views: Any) -> None:
    for f, vendor in FILTERS:
        direct = views.recorder.count_cases(f, vendor, direct=True)
        assert views.recorder.count_cases(f, vendor) == direct, (f, vendor)
        role = Role.VENDOR if vendor is not None else Role.SUPPORT
        assert views.page_cases(f, role, vendor, 1, 5)[1] == direct, (f, vendor)
    assert views.recorder.count_cases(CaseFilter(), None) == 40


def test_totals_equal_a_count_of_the_rows_after_commands_and_a_rebuild(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)
    views: Any = container.views
    assert container.runner.wait_for(_populate(container), 10)
    _assert_totals_equal_counts(views)
    assert views.page_cases(CaseFilter(statuses=(Status.BLOCKED,)), Role.VENDOR, 51234)[1] == 0
    rebuild(views, container.cases, [CASES])
    _assert_totals_equal_counts(views)


def test_a_generation_without_counts_is_counted_once_at_setup(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)
    views: Any = container.views
    assert container.runner.wait_for(_populate(container), 10)
    gen = views.recorder.generations()[CASES]
    _, counts, totals, *_ = tables_of(CASES, gen)
    views.recorder._execute_ddl([f"DROP TABLE {counts}", f"DROP TABLE {totals}"])
    views.recorder.setup()  # as a process started after the upgrade
    views.recorder.setup()  # and another one: counted once, not twice
    _assert_totals_equal_counts(views)
