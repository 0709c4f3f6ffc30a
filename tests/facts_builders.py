"""Builders of order facts for the eligibility tests (unit, integration, e2e, bench)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from debtcases.domain.debtor import Debtor
from debtcases.domain.order_facts import (
    Failure,
    OrderFacts,
    PaymentMethod,
    Reminder,
    ReminderKind,
)

GOOD_DEBTOR = Debtor("Erika Mustermann", "Hauptstraße 5", "10115", "Berlin", "DE")
T0 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)  # facts are recorded at or after this


def returned_debit(order_id: str = "B-1", **changes: Any) -> OrderFacts:
    """A returned direct debit, reminded, address fine: due 2024-05-15 + 14 days (Berlin)."""
    facts = OrderFacts(
        order_id=order_id,
        user_id=79424,
        amount=Decimal("49.90"),
        currency="EUR",
        payment_method=PaymentMethod.DIRECT_DEBIT,
        failure=Failure.RETURNED_DIRECT_DEBIT,
        failed_on=date(2024, 5, 15),
        invoice_number="R-2024-1",
        invoice_date=date(2024, 5, 1),
        due_date=date(2024, 5, 10),
        reminders=(Reminder(ReminderKind.PAYMENT_REMINDER, date(2024, 5, 20)),),
        refunded_on=None,
        cancelled_on=None,
        debtor=GOOD_DEBTOR,
        dunning_enabled=True,
    )
    return replace(facts, **changes)


def unpaid_invoice(order_id: str = "B-2", **changes: Any) -> OrderFacts:
    """An unpaid invoice with a Mahnung on 2024-06-01: due 06-11 (Mahnung + 10 days)."""
    facts = returned_debit(
        order_id,
        payment_method=PaymentMethod.INVOICE,
        failure=Failure.UNPAID_INVOICE,
        failed_on=None,
        due_date=date(2024, 5, 10),
        reminders=(
            Reminder(ReminderKind.PAYMENT_REMINDER, date(2024, 5, 20)),
            Reminder(ReminderKind.MAHNUNG, date(2024, 6, 1)),
        ),
    )
    return replace(facts, **changes)


def facts_json(f: OrderFacts) -> dict[str, Any]:
    """The API's body for one order (POST /api/v1/orders)."""
    d = f.as_dict()
    return {k: v for k, v in d.items() if v is not None}


_DEBTORS = [
    GOOD_DEBTOR,
    Debtor("Max Muster", "Ringstraße 1", "1010", "Wien", "AT"),
    Debtor("", "Hauptstraße 5", "10115", "Berlin", "DE"),
    Debtor("Hans Meier", "Hauptstraße", "10115", "Berlin", "DE"),
    Debtor("Jan Jansen", "Dorpsstraat 1", "1234 AB", "Utrecht", "NL"),
    Debtor("Eva Klein", "Bahnhofstr. 2", "123", "Zürich", "CH"),
]


def random_facts(rng: random.Random, order_id: str) -> OrderFacts:
    """Facts drawn to hit every condition green and red, dates around mid-2024."""
    base = date(2024, 3, 1)

    def maybe_date(p: float = 0.85) -> date | None:
        return base + timedelta(days=rng.randrange(0, 150)) if rng.random() < p else None

    reminders = tuple(
        Reminder(rng.choice(list(ReminderKind)), base + timedelta(days=rng.randrange(0, 150)))
        for _ in range(rng.choice([0, 1, 1, 2, 3]))
    )
    return OrderFacts(
        order_id=order_id,
        user_id=rng.choice([79424, 51234, 1000]),
        amount=rng.choice([Decimal("0"), Decimal("12.50"), Decimal("49.90"), Decimal("1000")]),
        currency="EUR",
        payment_method=rng.choice(list(PaymentMethod)),
        failure=rng.choice(list(Failure)),
        failed_on=maybe_date(),
        invoice_number=f"R-{order_id}",
        invoice_date=maybe_date(0.7),
        due_date=maybe_date(),
        reminders=reminders,
        refunded_on=maybe_date(0.08),
        cancelled_on=maybe_date(0.05),
        debtor=rng.choice(_DEBTORS),
        dunning_enabled=rng.random() < 0.9,
    )
