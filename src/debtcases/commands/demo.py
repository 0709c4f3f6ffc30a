"""Demo data for the embedded default: several vendors, among them User 79424 with two
LOCKED orders (the support article's example), a case failing on a wrong address, a
blocked one whose hold ends tomorrow, a paid one, one handed over by support, two RUNNING
cases that the Diagonal simulator of `make run` answers (one received, one rejected: unknown
postal code), a broken promise to pay and a cancellation corrected by support (reopened)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from debtcases.commands.app import DunningCases
from debtcases.commands.holds import HOLD_SCHEDULER
from debtcases.commands.orders import Orders
from debtcases.domain.actors import Actor
from debtcases.domain.admission import Admission
from debtcases.domain.debtor import Debtor
from debtcases.domain.eligibility_checks import BERLIN
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.order_facts import (
    Failure,
    OrderFacts,
    PaymentMethod,
    Reminder,
    ReminderKind,
)

INTAKE = Actor.system("order-intake")
SUPPORT = Actor.support("demo-support")


def _admission(order_id: str, user_id: int, amount: str, debtor: Debtor) -> Admission:
    return Admission(
        order_id,
        user_id,
        Decimal(amount),
        "EUR",
        debtor,
        reason="Rücklastschrift, Mahnungen ohne Erfolg",
    )


def seed_demo(cases: DunningCases) -> list[str]:
    """Admit and move the demo cases; returns their order ids. Safe to call twice."""
    if cases.has_case("B-2024-000123"):
        return []
    admissions = [
        _admission(
            "B-2024-000123",
            79424,
            "49.90",
            Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE"),
        ),
        _admission(
            "B-2024-000124",
            79424,
            "129.00",
            Debtor("Jürgen Müller", "Am Weiher 3", "80331", "München", "DE"),
        ),
        _admission(
            "B-2024-000200",
            51234,
            "19.99",
            Debtor("Lena Groß", "Hauptplatz 1", "8010", "Graz", "AT"),
        ),
        _admission(
            "B-2024-000201",
            51234,
            "89.00",
            # Wrong address: no house number, postal code too short.
            Debtor("Tobias Weiß", "Musterweg", "123", "Köln", "DE"),
        ),
        _admission(
            "B-2024-000203",
            51234,
            "59.00",
            # Passes our checks, but Diagonal (the simulator) does not know the PLZ.
            Debtor("Frank Nowak", "Gartenweg 9", "00999", "Leipzig", "DE"),
        ),
        _admission(
            "B-2024-000202",
            51234,
            "39.00",
            Debtor("Sabine Keller", "Bahnhofstrasse 5", "8001", "Zürich", "CH"),
        ),
        _admission(
            "B-2024-000300",
            66001,
            "249.00",
            Debtor("Özlem Aydın", "Königsallee 27", "40212", "Düsseldorf", "DE"),  # noqa: RUF001
        ),
        _admission(
            "B-2024-000301",
            66001,
            "15.00",
            Debtor("Peter Brandt", "Ringstraße 8", "1010", "Wien", "AT"),
        ),
    ]
    cases.admit_many(admissions, INTAKE)
    now = cases.clock()
    tomorrow = now.astimezone(BERLIN).date() + timedelta(days=1)
    vendor_51234, vendor_66001 = Actor.vendor(51234), Actor.vendor(66001)
    cases.start_dunning("B-2024-000200", vendor_51234)
    cases.start_dunning("B-2024-000201", vendor_51234)  # -> FAILED, wrong address
    cases.start_dunning("B-2024-000202", vendor_51234)
    cases.start_dunning("B-2024-000203", vendor_51234)  # the simulator rejects it
    cases.hand_over("B-2024-000202", SUPPORT, "Diagonal hat den Fall telefonisch bestätigt")
    # A hold that ends tomorrow (00:00 Berlin): the scheduler in `serve` ends it then.
    cases.block(
        "B-2024-000300",
        SUPPORT,
        "Vendor ist unsicher, ob gemahnt werden soll",
        hold=Hold(HoldReason.VENDOR_UNSURE, until=tomorrow),
    )
    cases.start_dunning("B-2024-000301", vendor_66001)
    cases.mark_paid("B-2024-000301", SUPPORT, "Zahlung im Admin hinterlegt", "ZE-2024-7781")
    return [a.order_id for a in admissions] + _broken_promise(cases, now) + _reopened(cases)


def _broken_promise(cases: DunningCases, now: datetime) -> list[str]:
    """Two weeks ago the debtor promised to pay by three days ago, and did not: the hold
    ended the day after (the scheduler's own decision, as `serve` would have taken it)."""
    order_id, start = "B-2024-000302", now - timedelta(days=14)
    promised = (now - timedelta(days=3)).astimezone(BERLIN).date()
    cases.admit(
        _admission(
            order_id, 66001, "75.00", Debtor("Marta Lind", "Uferweg 4", "24103", "Kiel", "DE")
        ),
        INTAKE,
        start,
    )
    cases.start_dunning(order_id, Actor.vendor(66001), now=start)
    cases.block(
        order_id,
        SUPPORT,
        "Kundin hat telefonisch Zahlung zugesagt",
        start + timedelta(days=2),
        Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("75.00"), promised),
    )
    cases.expire_hold(order_id, HOLD_SCHEDULER, now)
    return [order_id]


def _reopened(cases: DunningCases) -> list[str]:
    """Cancelled by mistake, corrected by support: LOCKED again, both in the history."""
    order_id = "B-2024-000303"
    cases.admit(
        _admission(
            order_id,
            66001,
            "22.50",
            Debtor("Karl Sommer", "Lange Reihe 2", "20099", "Hamburg", "DE"),
        ),
        INTAKE,
    )
    cases.cancel(order_id, SUPPORT, "Bestellung storniert")
    cases.reopen(order_id, SUPPORT, "Falsche Bestellung storniert; gemeint war B-2024-000330")
    return [order_id]


def seed_demo_orders(orders: Orders, now: datetime) -> list[str]:
    """Order facts for the eligibility explainer, one order (at least) per verdict:
    in_dunning (admitted by the scheduler; by hand; directly, B-2024-000123), eligible_on,
    not_eligible, missing (due, no case: until the scheduler's first round in `serve`) and
    unknown_order (any other id, e.g. B-2024-999999). Safe to call twice."""
    if orders.facts.get("B-2024-000500") is not None:
        return []
    today = now.astimezone(BERLIN).date()

    def facts(order_id: str, user_id: int, amount: str, debtor: Debtor, **kw: Any) -> OrderFacts:
        base: dict[str, Any] = dict(
            order_id=order_id,
            user_id=user_id,
            amount=Decimal(amount),
            currency="EUR",
            payment_method=PaymentMethod.DIRECT_DEBIT,
            failure=Failure.RETURNED_DIRECT_DEBIT,
            failed_on=today - timedelta(days=30),
            invoice_number=f"R-{order_id}",
            invoice_date=today - timedelta(days=45),
            due_date=today - timedelta(days=35),
            reminders=(Reminder(ReminderKind.PAYMENT_REMINDER, today - timedelta(days=20)),),
            refunded_on=None,
            cancelled_on=None,
            debtor=debtor,
            dunning_enabled=True,
        )
        base.update(kw)
        return OrderFacts(**base)

    lena = Debtor("Lena Groß", "Hauptplatz 1", "8010", "Graz", "AT")
    jana = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
    # 1. Due long ago: the scheduler admits it (in_dunning, by rule-set version and group).
    scheduled = [
        facts(
            "B-2024-000504",
            66001,  # not 79424: the article's vendor keeps exactly two LOCKED cases
            "64.00",
            Debtor("Karl Berger", "Schillerstraße 4", "04109", "Leipzig", "DE"),
        )
    ]
    # The article's example order has facts too (its case was admitted directly).
    scheduled.append(facts("B-2024-000123", 79424, "49.90", jana))
    orders.report(scheduled, INTAKE, now)
    orders.admit_due(now)
    later = [
        # eligible_on: returned 5 days ago, reminded 2 days ago -> due in 9 days.
        facts(
            "B-2024-000500",
            79424,
            "29.90",
            jana,
            failed_on=today - timedelta(days=5),
            reminders=(Reminder(ReminderKind.PAYMENT_REMINDER, today - timedelta(days=2)),),
        ),
        # not_eligible: the vendor has dunning disabled.
        facts("B-2024-000501", 51234, "19.00", lena, dunning_enabled=False),
        # not_eligible: refunded; and an invoice without a Mahnung yet.
        facts(
            "B-2024-000502",
            51234,
            "75.00",
            lena,
            payment_method=PaymentMethod.INVOICE,
            failure=Failure.UNPAID_INVOICE,
            refunded_on=today - timedelta(days=1),
        ),
        # missing: due for weeks, no case (until the scheduler runs).
        facts(
            "B-2024-000503",
            66001,
            "99.00",
            Debtor("Ute Lang", "Marktplatz 2", "50667", "Köln", "DE"),
        ),
        # admitted by hand despite red conditions (address without house number).
        facts(
            "B-2024-000505",
            66001,
            "120.00",
            Debtor("Olaf Sommer", "Am Anger", "99084", "Erfurt", "DE"),
        ),
    ]
    orders.report(later, INTAKE, now)
    orders.admit_by_hand(
        "B-2024-000505",
        SUPPORT,
        "Vendor hat die Adresse telefonisch bestätigt; Hausnummer folgt",
        now,
    )
    return [f.order_id for f in [*scheduled, *later]]
