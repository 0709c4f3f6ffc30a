"""The list pages read an index in the list's order (newest change first), on both
backends: a cursor page (`after=`) enters the index at its key instead of sorting or
walking, with one status (`=`), a vendor, a period, the worklist, and as of a moment.

The plans are asked with the planner's ways around an index switched off (PostgreSQL) or
read as they come (SQLite); a plan that sorts means no index has the list's order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter, Keyset
from debtcases.projections.tables import CASES
from tests.builders import INTAKE, admission

AFTER = Keyset(datetime(2024, 6, 1, tzinfo=UTC), 12345)
MOMENT = datetime(2024, 7, 1, tzinfo=UTC)
# (filter, vendor scope): what the support list and the vendor list send.
LISTS = [
    (CaseFilter(), None),
    (CaseFilter(statuses=(Status.RUNNING,)), None),
    (CaseFilter(user_id=79424), None),
    (CaseFilter(user_id=79424, statuses=(Status.BLOCKED,)), None),
    (CaseFilter(period="2024-05"), None),
    (CaseFilter(fell_back=True), None),
    (CaseFilter(), 79424),
    (CaseFilter(statuses=(Status.RUNNING,)), 79424),
    (CaseFilter(period="2024-05"), 79424),
]


def _plans(container: Container, as_of: datetime | None) -> list[tuple[Any, str]]:
    rec: Any = container.views.recorder
    postgres = rec.dialect.kind == "postgres"
    found = []
    with rec.datastore.transaction(commit=False) as cur:
        gen = rec.live_generation(CASES, cur)
        if postgres:
            for switch in ("enable_sort", "enable_seqscan", "enable_bitmapscan"):
                cur.execute(f"SET LOCAL {switch} = off")
        for f, vendor in LISTS:
            where, params = rec._where(f, vendor)
            table = f"view_cases_g{gen}"
            if as_of is not None:
                table, where, params = rec._as_of(gen, where, params, vendor, as_of)
            changed = rec._changed_column(vendor)
            sql, ps = rec._page_sql(table, where, params, changed, AFTER, 51)
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            cur.execute(rec.dialect.q(explain + sql), ps)
            key = "QUERY PLAN" if postgres else "detail"
            found.append(((f, vendor), "\n".join(str(r[key]) for r in cur.fetchall())))
    return found


@pytest.mark.parametrize("as_of", [None, MOMENT], ids=["today", "as_of"])
def test_a_cursor_page_reads_an_index_in_the_lists_order(
    database_url: str, make_container: Callable[..., Container], as_of: datetime | None
) -> None:
    container = make_container(database_url)
    container.cases.admit_many([admission(f"X-{i:03d}") for i in range(20)], INTAKE)
    for which, plan in _plans(container, as_of):
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, (which, plan)
        assert "Seq Scan" not in plan and "SCAN view_" not in plan, (which, plan)
        # The key is an index condition, not a filter over rows read before it.
        if "Index Cond: " in plan:  # PostgreSQL
            cond = plan.split("Index Cond: ", 1)[1].split("\n", 1)[0]
            assert "ROW(" in cond and '"position")' in cond, (which, plan)
        else:  # SQLite: SEARCH ... USING INDEX ... (... AND (updated_at,position)<(?,?))
            assert "USING INDEX" in plan and ",position)<(?,?))" in plan, (which, plan)
