"""A cases view written by an earlier release (without the columns added since) keeps
working after an upgrade: setup adds the columns. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.projections.cases_rows import ADDED_CASE_COLUMNS
from debtcases.projections.queries import CaseFilter

INTAKE = Actor.system("intake")
SUPPORT = Actor.support("anna")
DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")


def test_a_view_of_an_earlier_release_gets_the_added_columns_on_start(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    first = make_container(database_url)
    first.cases.admit(Admission("B-9901", 79424, Decimal("9.90"), "EUR", DEBTOR), INTAKE)
    first.runner.catch_up()
    datastore = first.views.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as cur:
        for index in ("vendor", "vendor_vstatus", "vendor_month", "hold_ends", "hold_reason"):
            cur.execute(f"DROP INDEX view_cases_g1_{index}")
        cur.execute("ALTER TABLE view_vendor_access_cases_g1 DROP COLUMN at_diagonal")
        for name, _kind, _default in ADDED_CASE_COLUMNS:  # as the earlier release made it
            cur.execute(f"ALTER TABLE view_cases_g1 DROP COLUMN {name}")
    first.close()

    again = make_container(database_url)
    again.cases.start_dunning("B-9901", Actor.vendor(79424))
    again.cases.admit(Admission("B-9902", 79424, Decimal("9.90"), "EUR", DEBTOR), INTAKE)
    again.runner.catch_up()
    rows, total = again.views.page_cases(CaseFilter(), Role.SUPPORT, None)
    assert total == 2 and {r["order_id"] for r in rows} == {"B-9901", "B-9902"}
    vendor_rows, _ = again.views.page_cases(CaseFilter(), Role.VENDOR, 79424)
    assert [r["order_id"] for r in vendor_rows] == ["B-9902", "B-9901"]
    assert again.views.collection_access(79424)["cases_at_diagonal"] == 1


def test_a_blocked_row_of_an_earlier_release_gets_the_hold_reason_other(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    first = make_container(database_url)
    first.cases.admit(Admission("B-9901", 79424, Decimal("9.90"), "EUR", DEBTOR), INTAKE)
    first.cases.block("B-9901", SUPPORT, "alt")
    first.runner.catch_up()
    datastore = first.views.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as cur:
        for index in ("hold_ends", "hold_reason"):
            cur.execute(f"DROP INDEX view_cases_g1_{index}")
        for name, _kind, _default in ADDED_CASE_COLUMNS:
            if name.startswith("hold_"):
                cur.execute(f"ALTER TABLE view_cases_g1 DROP COLUMN {name}")
    first.close()

    again = make_container(database_url)
    rows, total = again.views.page_cases(CaseFilter(hold_reason="other"), Role.SUPPORT, None)
    assert total == 1 and rows[0]["hold"]["code"] == "other" and rows[0]["hold"]["until"] is None
    again.cases.unblock("B-9901", SUPPORT, "weiter")
    again.runner.catch_up()
    assert again.views.page_cases(CaseFilter(hold_reason="other"), Role.SUPPORT, None)[1] == 0
