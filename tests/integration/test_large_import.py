"""A CSV import of 20,000 rows (it used to hang for ever on PostgreSQL, holding the events
table's lock) completes, all rows in one transaction, on both backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.imports import import_cases
from debtcases.domain.actors import Actor

HEADER = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"


def _csv(n: int) -> bytes:
    rows = [
        f"L-{i:06d};79424;49,90;EUR;Jana Schäfer;Lindenstraße 12;10969;Berlin;DE;Alt"
        for i in range(n)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.mark.timeout(240)
def test_an_import_of_20000_rows_completes_in_one_transaction(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url, run_workers=False)
    report = import_cases(container.cases, _csv(20_000), Actor.support("anna"))
    assert report.ok and report.applied and report.created == 20_000
    notifications = container.cases.recorder.select_notifications(1, 30_000)
    assert [n.id for n in notifications] == list(range(1, 20_001))  # one gap-free batch
    # The events table is free again: an ordinary command goes through.
    assert container.cases.has_case("L-019999")
