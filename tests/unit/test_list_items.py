"""A list item is made straight from its cases-view row (``case_item``), without building
the row's ``CaseState`` first: it must be exactly the one shape of a case
(``case_shape(state_from_row(row), ...)``), for support and for a vendor, key for key,
in the same order, with values of the same types, on any row the view can hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from debtcases.domain.actors import Role
from debtcases.domain.holds import HoldReason
from debtcases.domain.statuses import Status
from debtcases.projections.cases_rows import CASE_COLUMNS, state_from_row
from debtcases.projections.queries import case_item, case_shape

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-5)), ZoneInfo("Europe/Berlin")])
MOMENTS = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 12, 31), timezones=ZONES
)
TEXT = st.text(max_size=12)  # any unicode, NULs and emoji included
STATUS = st.sampled_from([s.value for s in Status])
AMOUNTS = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), allow_nan=False, places=None
).map(str) | st.sampled_from(["7.5", "49.90", "1E+2", "0", "0.001", "-0.00"])
DAYS = st.dates(min_value=date(2001, 1, 1), max_value=date(2090, 12, 31)).map(date.isoformat)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A cases-view row as the queries hand it over (``CaseRowStore._case_from_db``):
    every column, timestamps as aware datetimes, booleans, the errors as a list."""
    held = draw(st.booleans())
    row: dict[str, Any] = {
        "case_id": str(UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "order_id": draw(TEXT),
        "user_id": draw(st.integers(1, 2**53)),
        "status": draw(STATUS),
        "status_before_block": draw(st.none() | STATUS),
        "vendor_status": draw(STATUS),
        "amount": draw(AMOUNTS),
        "currency": draw(TEXT),
        "debtor_name": draw(TEXT),
        "debtor_street": draw(TEXT),
        "debtor_postal_code": draw(TEXT),
        "debtor_city": draw(TEXT),
        "debtor_country": draw(TEXT),
        "errors": draw(st.lists(TEXT, max_size=3)),
        "created_at": draw(MOMENTS),
        # NOT NULL in the table; None too, for the shape's "or created_at".
        "updated_at": draw(st.none() | MOMENTS),
        "entered_month": draw(TEXT),
        "last_event": draw(TEXT),
        "last_actor_role": draw(st.sampled_from([r.value for r in Role])),
        "last_actor_id": draw(TEXT),
        "last_reason": draw(TEXT),
        "at_diagonal": draw(st.booleans()),
        "handed_over_at": draw(st.none() | MOMENTS),
        "running_since": draw(st.none() | MOMENTS),
        "awaiting_diagonal_close": draw(st.booleans()),
        "closed_at_diagonal_at": draw(st.none() | MOMENTS),
        "fell_back": draw(st.booleans()),
        "payment_reference": draw(st.none() | TEXT),
        "version": draw(st.integers(1, 10_000)),
        "position": draw(st.integers(1, 2**62)),
        "in_repair": draw(st.booleans()),
        "vendor_version": draw(st.integers(1, 10_000)),
        "vendor_updated_at": draw(st.none() | MOMENTS),
        "hold_reason": draw(st.sampled_from([h.value for h in HoldReason])) if held else None,
        "hold_until": draw(st.none() | DAYS) if held else None,
        "hold_promised_amount": draw(st.none() | AMOUNTS) if held else None,
        "hold_promised_date": draw(st.none() | DAYS) if held else None,
        "hold_ends_at": draw(st.none() | MOMENTS) if held else None,
    }
    assert list(row) == list(CASE_COLUMNS)
    return row


def typed(value: Any) -> Any:
    """``value`` with the type of every part beside it (``==`` alone takes a str for a
    StrEnum and 1 for True), dicts with their keys' order."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value), value)


@settings(max_examples=400, deadline=None)
@given(
    row=rows(),
    role=st.sampled_from([Role.SUPPORT, Role.VENDOR]),
    now=MOMENTS,
    hours=st.sampled_from([0.0, 1.5, 48.0, 24 * 365 * 100.0]),
)
def test_a_list_item_is_the_one_shape_of_the_state_its_row_holds(
    row: dict[str, Any], role: Role, now: datetime, hours: float
) -> None:
    expected = case_shape(state_from_row(row), role, now, hours)

    assert typed(case_item(row, role, now, hours)) == typed(expected)


def test_a_stuck_running_case_and_a_blocked_one_are_shaped_like_their_states() -> None:
    t0 = datetime(2024, 3, 31, 22, 30, tzinfo=UTC)  # 1 April in Berlin
    base = {c: None for c in CASE_COLUMNS} | {
        "case_id": str(UUID(int=1)),
        "order_id": "Ö-1",
        "user_id": 10001,
        "status": "RUNNING",
        "vendor_status": "RUNNING",
        "amount": "12.5",
        "currency": "EUR",
        "debtor_name": "Jürgen 😀 Groß",
        "debtor_street": "Straße 1",
        "debtor_postal_code": "10969",
        "debtor_city": "Berlin",
        "debtor_country": "DE",
        "errors": ["postal_code"],
        "created_at": t0,
        "updated_at": t0,
        "last_event": "DunningStarted",
        "last_actor_role": "support",
        "last_actor_id": "mia",
        "last_reason": "los",
        "at_diagonal": False,
        "running_since": t0,
        "awaiting_diagonal_close": False,
        "fell_back": False,
        "version": 2,
        "position": 7,
        "in_repair": False,
        "vendor_version": 2,
        "vendor_updated_at": t0,
    }
    blocked = base | {
        "status": "BLOCKED",
        "status_before_block": "RUNNING",
        "version": 3,
        "hold_reason": "promise_to_pay",
        "hold_promised_amount": "7.5",
        "hold_promised_date": "2024-04-10",
    }
    now = t0 + timedelta(days=3)
    for row in (base, blocked):
        for role in (Role.SUPPORT, Role.VENDOR):
            item = case_item(row, role, now, 48.0)
            assert typed(item) == typed(case_shape(state_from_row(row), role, now, 48.0))
    assert case_item(base, Role.SUPPORT, now, 48.0)["stuck"] is True
    assert case_item(base, Role.SUPPORT, now, 48.0)["entered_month"] == "2024-04"
    assert case_item(blocked, Role.VENDOR, now, 48.0)["status"] is Status.RUNNING
    assert case_item(blocked, Role.SUPPORT, now, 48.0)["hold"] == {
        "code": "promise_to_pay",
        "until": None,
        "promised_amount": "7.50",
        "promised_date": "2024-04-10",
        "ends_at": "2024-04-10T22:00:00+00:00",
    }
