"""A case's row of the cases view, column by column: ``case_values`` makes the row as a
list in column order (the rebuild writes it so), ``row_from_state`` names it; each column
holds the state's value it is named for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.state import CaseState
from debtcases.domain.statuses import Status
from debtcases.projections.cases_rows import CASE_COLUMNS, case_values, row_from_state

T0 = datetime(2024, 5, 17, 13, 0, tzinfo=UTC)


def test_every_column_of_a_row_holds_the_state_value_it_is_named_for() -> None:
    hold = Hold(
        HoldReason.PROMISE_TO_PAY, promised_amount=Decimal("7.5"), promised_date=date(2024, 6, 3)
    )
    state = CaseState(
        case_id=UUID(int=7),
        order_id="O-7",
        user_id=10007,
        amount=Decimal("49.9"),
        currency="EUR",
        debtor=Debtor("Jana", "Lindenstraße 12", "10969", "Berlin", "DE"),
        admitted_debtor=Debtor("Alt", "Weg 1", "10115", "Berlin", "DE"),
        created_at=T0,
        created_by=Actor.system("intake"),
        status=Status.BLOCKED,
        status_before_block=Status.HANDED_OVER,
        hold=hold,
        errors=("a", "b"),
        fell_back=True,
        in_repair=False,
        handover_sent=True,
        handed_over_at=T0 + timedelta(hours=1),
        running_since=T0 + timedelta(hours=2),
        payment_reference="REF-1",
        awaiting_diagonal_close=True,
        closed_at_diagonal_at=T0 + timedelta(hours=3),
        updated_at=T0 + timedelta(hours=4),
        last_event="Blocked",
        last_actor=Actor.support("mia"),
        last_reason="zahlt",
        version=5,
        vendor_version=4,
        vendor_updated_at=T0 + timedelta(hours=5),
    )

    row = row_from_state(state, position=99)

    assert list(row) == list(CASE_COLUMNS)
    assert list(row.values()) == case_values(state, 99)
    # The rebuild hands in the case id and the month it has already: the same row.
    assert case_values(state, 99, str(UUID(int=7)), "2024-05") == list(row.values())
    assert row == {
        "case_id": str(UUID(int=7)),
        "order_id": "O-7",
        "user_id": 10007,
        "status": "BLOCKED",
        "status_before_block": "HANDED_OVER",
        "vendor_status": "HANDED_OVER",  # vendors never see BLOCKED
        "amount": "49.90",
        "currency": "EUR",
        "debtor_name": "Jana",
        "debtor_street": "Lindenstraße 12",
        "debtor_postal_code": "10969",
        "debtor_city": "Berlin",
        "debtor_country": "DE",
        "errors": ["a", "b"],
        "created_at": T0,
        "updated_at": T0 + timedelta(hours=4),
        "entered_month": "2024-05",
        "last_event": "Blocked",
        "last_actor_role": "support",
        "last_actor_id": "mia",
        "last_reason": "zahlt",
        "at_diagonal": True,
        "handed_over_at": T0 + timedelta(hours=1),
        "running_since": T0 + timedelta(hours=2),
        "awaiting_diagonal_close": True,
        "closed_at_diagonal_at": T0 + timedelta(hours=3),
        "fell_back": True,
        "payment_reference": "REF-1",
        "version": 5,
        "position": 99,
        "in_repair": False,
        "vendor_version": 4,
        "vendor_updated_at": T0 + timedelta(hours=5),
        "hold_reason": "promise_to_pay",
        "hold_until": None,
        "hold_promised_amount": "7.50",
        "hold_promised_date": "2024-06-03",
        "hold_ends_at": hold.ends_at,
    }
