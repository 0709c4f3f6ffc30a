"""Property: for random command histories over several vendors, every view row equals the
fold of the event streams (the aggregates), on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import DomainError
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter
from tests.builders import DEBTOR as GOOD
from tests.views_support import SUPPORT, assert_views_equal_fold

VENDORS = (79424, 51234, 60001)
BAD = Debtor("Jana Schäfer", "Lindenstraße", "10969", "Berlin", "DE")  # no house number
START = datetime(2024, 1, 20, 9, 0, tzinfo=UTC)

OPS = (
    "start_vendor",
    "start_support",
    "hand_over",
    "cancel_vendor",
    "cancel_support",
    "block",
    "unblock",
    "mark_paid",
    "correct_good",
    "correct_bad",
    "ack_received",
    "ack_rejected",
    "ack_closed",
    "ack_duplicate",
)

# Starting is the gate to most of the lifecycle: draw it more often.
op = st.one_of(
    st.sampled_from(("start_vendor", "start_support", "hand_over")), st.sampled_from(OPS)
)
commands = st.lists(st.tuples(op, st.integers(0, 3), st.integers(0, 40)), min_size=1, max_size=30)
# Random list filters: who asks (support, or one of the vendors), order id, User-ID,
# statuses, period.
list_filters = st.lists(
    st.tuples(
        st.sampled_from((None, *VENDORS)),
        st.sampled_from((None, "own", "unknown")),
        st.sampled_from((None, *VENDORS, 99999)),
        st.lists(st.sampled_from(tuple(Status)), max_size=3, unique=True),
        st.sampled_from((None, "2024-01", "2024-02", "2024-03", "2024-04", "2024-05")),
    ),
    min_size=1,
    max_size=8,
)
admissions = st.lists(
    st.tuples(st.sampled_from(VENDORS), st.booleans(), st.integers(0, 120)),
    min_size=1,
    max_size=4,
)


def _run(
    container: Container,
    prefix: str,
    cases: list[tuple[int, bool, int]],
    history: list[tuple[str, int, int]],
) -> tuple[list[str], int | None]:
    app = container.cases
    order_ids = [f"{prefix}-{i}" for i in range(len(cases))]
    last: int | None = None
    for i, (vendor, good, day) in enumerate(cases):
        out = app.admit(
            Admission(order_ids[i], vendor, Decimal("10.50") + i, "EUR", GOOD if good else BAD),
            Actor.system("intake"),
            now=START + timedelta(days=day),
        )
        last = out.position or last
    acks: list[str] = []
    for step, (op, index, hours) in enumerate(history):
        order_id = order_ids[index % len(order_ids)]
        vendor = Actor.vendor(cases[index % len(cases)][0])
        now = START + timedelta(days=130, hours=step * 7 + hours)
        try:
            if op == "start_vendor":
                out = app.start_dunning(order_id, vendor, now=now)
            elif op == "start_support":
                out = app.start_dunning(order_id, SUPPORT, "repair", now=now)
            elif op == "hand_over":
                out = app.hand_over(order_id, SUPPORT, "manuell", now=now)
            elif op == "cancel_vendor":
                out = app.cancel(order_id, vendor, "storniert", now=now)
            elif op == "cancel_support":
                out = app.cancel(order_id, SUPPORT, "storniert", now=now)
            elif op == "block":
                out = app.block(order_id, SUPPORT, "Vendor unsicher", now=now)
            elif op == "unblock":
                out = app.unblock(order_id, SUPPORT, "weiter", now=now)
            elif op == "mark_paid":
                out = app.mark_paid(order_id, SUPPORT, "bezahlt", f"REF-{step}", now=now)
            elif op in ("correct_good", "correct_bad"):
                out = app.correct_address(
                    order_id, SUPPORT, GOOD if op == "correct_good" else BAD, "neu", now=now
                )
            else:
                kind = {
                    "ack_received": "received",
                    "ack_rejected": "rejected",
                    "ack_closed": "closed",
                }.get(op, "received")
                message = acks[-1] if op == "ack_duplicate" and acks else f"m-{prefix}-{step}"
                acks.append(message)
                out = app.apply_ack(
                    order_id, kind=kind, message_id=message, errors=["Adresse unbekannt"], now=now
                )
        except DomainError:
            continue
        last = out.position or last
    return order_ids, last


def _check_lists(container: Container, order_ids: list[str]) -> None:
    """The list items match the single-case answer for each role, vendor isolation holds."""
    from debtcases.api.responses import CaseOut

    views: Any = container.views
    app = container.cases
    support_items = {i["order_id"]: i for i in views.iter_cases(CaseFilter(), Role.SUPPORT, None)}
    for vendor in VENDORS:
        mine = list(views.iter_cases(CaseFilter(), Role.VENDOR, vendor))
        assert all(i["user_id"] == vendor for i in mine)
        assert all(i["status"] != "BLOCKED" for i in mine)
        for item in mine:
            expected = CaseOut.from_case(app.get_case(item["order_id"], SUPPORT), Role.VENDOR)
            assert CaseOut(**item) == expected
    for order_id in order_ids:
        expected = CaseOut.from_case(app.get_case(order_id, SUPPORT), Role.SUPPORT)
        assert CaseOut(**support_items[order_id]) == expected
    times = [(i["updated_at"]) for i in support_items.values()]
    listed = [i["updated_at"] for i in views.iter_cases(CaseFilter(), Role.SUPPORT, None)]
    assert listed == sorted(times, reverse=True), "newest change first"


def _check_totals(
    container: Container,
    order_ids: list[str],
    filters: list[tuple[int | None, str | None, int | None, list[Status], str | None]],
) -> None:
    """The list totals (summed from the counts tables) equal a COUNT of the rows."""
    views: Any = container.views
    for vendor, order, user_id, statuses, period in filters:
        f = CaseFilter(
            order_id={None: None, "own": order_ids[0], "unknown": "NOPE"}[order],
            user_id=user_id,
            statuses=tuple(statuses),
            period=period,
        )
        counted = views.recorder.count_cases(f, vendor)
        assert counted == views.recorder.count_cases(f, vendor, direct=True), (f, vendor)
        role = Role.VENDOR if vendor is not None else Role.SUPPORT
        for page_size in (1, 1000):
            _, total = views.page_cases(f, role, vendor, 1, page_size)
            assert total == counted, (f, vendor, page_size)


def test_every_view_row_equals_the_fold_of_the_event_streams(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url, run_workers=True)
    all_orders: list[str] = []

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(cases=admissions, history=commands, filters=list_filters)
    def check(
        cases: list[tuple[int, bool, int]],
        history: list[tuple[str, int, int]],
        filters: list[tuple[int | None, str | None, int | None, list[Status], str | None]],
    ) -> None:
        order_ids, last = _run(container, uuid.uuid4().hex[:8], cases, history)
        all_orders.extend(order_ids)
        assert container.views is not None
        assert container.runner.wait_for(last, 10)
        assert_views_equal_fold(container.views, container.cases, all_orders)
        _check_lists(container, order_ids)
        _check_totals(container, order_ids, filters)

    check()
