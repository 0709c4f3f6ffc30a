"""The list pages answer with bytes they serialise themselves (and their items shaped
straight from the rows): byte for byte, header for header, what the routes sent before,
when FastAPI serialised the returned ``CasePage`` as the ``response_model`` and every item
was ``case_shape`` of the row's ``CaseState``. The old path is mounted beside the real one
on the same app and data (SQLite and PostgreSQL): None fields, holds of every kind, a
debtor in any script with quotes and control characters, odd amounts, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.api.deps import ContainerDep, SupportActor, VendorActor
from debtcases.api.responses import CaseOut, SupportCaseOut
from debtcases.api.routes_queries import CasePage
from debtcases.bootstrap import Container, build_container
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.statuses import Status, parse_statuses
from debtcases.projections.cases_rows import state_from_row
from debtcases.projections.queries import CaseFilter, case_shape
from tests.builders import INTAKE, SUPPORT, WRONG_DEBTOR

NOW = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)
VENDOR = 79424
ODD = Debtor('Zoë "Ünal" \\ 😀 東京\t\u0007', "Straße 7\nHof", "10969", "Berlin", "DE")
AMOUNTS = ["0.01", "7.5", "49.90", "123456.78", "1E+2", "1000000"]


@pytest.fixture
def client(database_url: str) -> Iterator[tuple[TestClient, Container]]:
    clock = [NOW]
    container = build_container(
        Settings(database_url=database_url, run_workers=False), lambda: clock[0]
    )
    try:
        _populate(container, clock)
        app = create_app(container)
        _mount_the_old_path(app)
        support = container.keys.create(Role.SUPPORT, name="bytes")
        vendor = container.keys.create(Role.VENDOR, user_id=VENDOR)
        with TestClient(app) as c:
            c.headers["X-Support"] = support
            c.headers["X-Vendor"] = vendor
            yield c, container
    finally:
        container.close()


def _populate(container: Container, clock: list[datetime]) -> None:
    app = container.cases
    admissions = [
        Admission(
            f"B-{i:02d}",
            VENDOR if i % 2 else 10001,
            Decimal(AMOUNTS[i % len(AMOUNTS)]),
            "EUR",
            ODD if i % 3 == 0 else (WRONG_DEBTOR if i == 4 else ODD.__class__(*_plain(i))),
        )
        for i in range(14)
    ]
    app.admit_many(admissions, INTAKE, now=NOW - timedelta(days=40))
    later = NOW - timedelta(days=10)
    for i in range(14):
        if i % 7 != 6:
            app.start_dunning(f"B-{i:02d}", SUPPORT, "los 😀", now=later)  # B-04 fails
    app.hand_over("B-01", SUPPORT, "übergeben", now=later)
    app.block("B-02", SUPPORT, "Ratenzahlung", now=later, hold=_promise())
    app.block(
        "B-03", SUPPORT, "Klärung", now=later, hold=Hold(HoldReason.DISPUTE, until=date(2024, 7, 1))
    )
    app.block("B-05", SUPPORT, "", now=later)
    app.block("B-01", SUPPORT, "beim Inkasso", now=later, hold=Hold(HoldReason.LEGAL_CHECK))
    app.cancel("B-07", SUPPORT, "storno", now=later)
    app.mark_paid("B-08", SUPPORT, "bezahlt", 'REF "ü" 1', now=later)
    app.start_dunning("B-13", Actor.vendor(VENDOR), "", now=later)
    while container.runner.step():
        pass
    clock[0] = NOW


def _plain(i: int) -> tuple[str, str, str, str, str]:
    return (f"Kunde {i}", f"Weg {i}", "10115", "Berlin", "DE")


def _promise() -> Hold:
    return Hold(
        HoldReason.PROMISE_TO_PAY, promised_amount=Decimal("7.5"), promised_date=date(2024, 6, 20)
    )


def _mount_the_old_path(app: Any) -> None:
    """The two lists as they were: a CasePage returned for FastAPI to serialise, its
    items ``case_shape`` of the state each row holds (page, page_size and status only)."""

    def old(container: Any, role: Role, vendor: int | None, **q: Any) -> CasePage:
        f = CaseFilter(statuses=tuple(parse_statuses(q["status"])) if q["status"] else ())
        size, number = q["page_size"], q["page"]
        found = container.views.recorder.list_case_rows(f, vendor, size, offset=(number - 1) * size)
        now, hours = container.clock(), container.settings.stuck_after_hours
        model = CaseOut if role is Role.VENDOR else SupportCaseOut
        items = [model(**case_shape(state_from_row(r), role, now, hours)) for r in found.items]
        return CasePage(
            items=items,
            total=found.total,
            page=number,
            page_size=size,
            next_after=None if found.next_after is None else _cursor(found, number),
        )

    @app.get("/api/v1/old/support/cases", response_model=CasePage)
    def old_support(
        actor: SupportActor,
        container: ContainerDep,
        page: int = 1,
        page_size: int = 50,
        status: str | None = None,
    ) -> CasePage:
        return old(container, Role.SUPPORT, None, page=page, page_size=page_size, status=status)

    @app.get("/api/v1/old/vendor/cases", response_model=CasePage)
    def old_vendor(
        actor: VendorActor,
        container: ContainerDep,
        page: int = 1,
        page_size: int = 50,
        status: str | None = None,
    ) -> CasePage:
        return old(
            container, Role.VENDOR, actor.vendor_id, page=page, page_size=page_size, status=status
        )


def _cursor(found: Any, number: int) -> str:
    from debtcases.api.cursors import encode_cursor

    return encode_cursor(found.next_after, number + 1)


QUERIES = [
    {},
    {"page_size": 5},
    {"page_size": 5, "page": 2},
    {"page_size": 4, "page": 4},  # the last page: no cursor
    {"page_size": 5, "page": 9},  # past the end: no items
    {"status": "BLOCKED"},  # the holds (support only: a vendor never sees BLOCKED)
    {"status": "HANDED_OVER"},  # a vendor sees B-01 so, blocked or not
    {"status": "RUNNING"},  # stuck
    {"status": "FAILED"},  # errors
]
CASES = [
    (role, q)
    for role in ("support", "vendor")
    for q in QUERIES
    if not (role == "vendor" and q.get("status") == "BLOCKED")
]


@pytest.mark.parametrize(
    ("role", "query"),
    CASES,
    ids=[f"{r}?" + "&".join(f"{k}={v}" for k, v in q.items()) for r, q in CASES],
)
def test_a_list_page_is_byte_for_byte_what_fastapi_sent_for_its_model(
    client: tuple[TestClient, Container], role: str, query: dict[str, Any]
) -> None:
    c, _container = client
    token = c.headers["X-Support" if role == "support" else "X-Vendor"]
    auth = {"Authorization": f"Bearer {token}"}

    new = c.get(f"/api/v1/{role}/cases", params=query, headers=auth)
    old = c.get(f"/api/v1/old/{role}/cases", params=query, headers=auth)

    assert new.status_code == old.status_code == 200
    assert new.content == old.content
    assert new.headers["content-type"] == old.headers["content-type"] == "application/json"
    assert new.headers["content-length"] == old.headers["content-length"]
    assert sorted(new.headers.keys()) == sorted(old.headers.keys())


def test_the_pages_compared_hold_the_tricky_values(client: tuple[TestClient, Container]) -> None:
    c, _container = client
    auth = {"Authorization": f"Bearer {c.headers['X-Support']}"}
    items = c.get("/api/v1/support/cases", headers=auth).json()["items"]
    by_id = {i["order_id"]: i for i in items}

    assert len(items) == 14
    assert by_id["B-00"]["debtor"]["name"] == ODD.name
    assert by_id["B-02"]["hold"]["code"] == "promise_to_pay"
    assert by_id["B-02"]["hold"]["promised_amount"] == "7.50"
    assert by_id["B-03"]["hold"]["until"] == "2024-07-01"
    assert by_id["B-01"]["status_before_block"] == Status.HANDED_OVER.value
    assert by_id["B-04"]["status"] == "FAILED" and by_id["B-04"]["errors"]
    assert by_id["B-08"]["payment_reference"] == 'REF "ü" 1'
    assert by_id["B-06"]["handed_over_at"] is None and by_id["B-06"]["hold"] is None
    assert by_id["B-10"]["stuck"] is True
    assert {i["amount"] for i in items} >= {"0.01", "7.50", "100.00", "1000000.00"}
