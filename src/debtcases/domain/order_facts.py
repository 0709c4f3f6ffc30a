"""What the platform knows of an unpaid order (its *facts*), and the event-sourced
``OrderFacts`` aggregate that keeps every version of them.

The facts are reported by the platform (``POST /api/v1/orders``) as a full snapshot each
time. Every snapshot that differs from the last one becomes a ``FactsReported`` event:
the facts have a history too (append-only, never overwritten), so an explanation can name
the version of the facts it used. Support's manual admission of an order is recorded here
as well (``AdmittedByHand``: by whom, why, and which conditions were red).

Dates are calendar dates (``date``); a time condition of the rule set turns green at
00:00 Europe/Berlin of the date plus its offset (see ``domain/eligibility_checks.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from debtcases.domain import admission as rules
from debtcases.domain.actors import Actor
from debtcases.domain.admission import FieldError
from debtcases.domain.debtor import Debtor

FACTS_NAMESPACE = uuid5(NAMESPACE_URL, "https://debtcases.example/order-facts")
MAX_REMINDERS = 50
INVOICE_NUMBER_LIMIT = 64


def facts_id_for(order_id: str) -> UUID:
    """The facts aggregate's id, derived from the order id (one history per order)."""
    return uuid5(FACTS_NAMESPACE, order_id)


class PaymentMethod(StrEnum):
    DIRECT_DEBIT = "direct_debit"
    CREDIT_CARD = "credit_card"
    PAYPAL = "paypal"
    INVOICE = "invoice"
    INSTALMENTS = "instalments"
    OTHER = "other"


class Failure(StrEnum):
    """What went wrong with the payment."""

    NONE = "none"
    RETURNED_DIRECT_DEBIT = "returned_direct_debit"  # Rücklastschrift
    CHARGEBACK = "chargeback"
    UNPAID_INVOICE = "unpaid_invoice"
    OVERDUE_INSTALMENT = "overdue_instalment"


class ReminderKind(StrEnum):
    PAYMENT_REMINDER = "payment_reminder"  # Zahlungserinnerung
    MAHNUNG = "mahnung"  # formal Mahnung


@dataclass(frozen=True)
class Reminder:
    kind: ReminderKind
    sent_on: date


@dataclass(frozen=True)
class OrderFacts:
    """One snapshot of what the platform knows of an unpaid order."""

    order_id: str
    user_id: int  # the vendor
    amount: Decimal  # open amount
    currency: str
    payment_method: PaymentMethod
    failure: Failure
    failed_on: date | None  # when the debit came back / the chargeback / the payment was due
    invoice_number: str
    invoice_date: date | None
    due_date: date | None  # payment due date of the invoice (or the overdue instalment)
    reminders: tuple[Reminder, ...]
    refunded_on: date | None
    cancelled_on: date | None
    debtor: Debtor
    dunning_enabled: bool  # the vendor has dunning enabled

    # ------------------------------------------------------------ derived

    def last_reminder_on(self, kind: ReminderKind | None = None) -> date | None:
        dates = [r.sent_on for r in self.reminders if kind is None or r.kind is kind]
        return max(dates) if dates else None

    def reminder_count(self, kind: ReminderKind | None = None) -> int:
        return sum(1 for r in self.reminders if kind is None or r.kind is kind)

    # ------------------------------------------------------------ encoding

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (strings, numbers, booleans); the stored form in events."""
        return {
            "order_id": self.order_id,
            "user_id": self.user_id,
            "amount": f"{self.amount:.2f}",
            "currency": self.currency,
            "payment_method": self.payment_method.value,
            "failure": self.failure.value,
            "failed_on": _d(self.failed_on),
            "invoice_number": self.invoice_number,
            "invoice_date": _d(self.invoice_date),
            "due_date": _d(self.due_date),
            "reminders": [
                {"kind": r.kind.value, "sent_on": r.sent_on.isoformat()} for r in self.reminders
            ],
            "refunded_on": _d(self.refunded_on),
            "cancelled_on": _d(self.cancelled_on),
            "debtor": self.debtor.as_dict(),
            "dunning_enabled": self.dunning_enabled,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderFacts:
        return cls(
            order_id=str(data["order_id"]),
            user_id=int(data["user_id"]),
            amount=Decimal(str(data["amount"])),
            currency=str(data["currency"]).upper(),
            payment_method=PaymentMethod(data["payment_method"]),
            failure=Failure(data["failure"]),
            failed_on=_date(data.get("failed_on")),
            invoice_number=str(data.get("invoice_number", "")),
            invoice_date=_date(data.get("invoice_date")),
            due_date=_date(data.get("due_date")),
            reminders=tuple(
                sorted(
                    (
                        Reminder(ReminderKind(r["kind"]), date.fromisoformat(r["sent_on"]))
                        for r in data.get("reminders", ())
                    ),
                    key=lambda r: (r.sent_on, r.kind.value),
                )
            ),
            refunded_on=_date(data.get("refunded_on")),
            cancelled_on=_date(data.get("cancelled_on")),
            debtor=Debtor.from_dict(data["debtor"]),
            dunning_enabled=bool(data["dunning_enabled"]),
        )

    def normalised(self) -> OrderFacts:
        """The canonical form (reminders sorted, currency upper case), so that equal
        snapshots compare equal."""
        return replace(
            self,
            currency=self.currency.upper(),
            reminders=tuple(sorted(self.reminders, key=lambda r: (r.sent_on, r.kind.value))),
        )


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def facts_errors(facts: OrderFacts) -> list[FieldError]:
    """Every broken field rule of a facts snapshot (the admission rules where the fields
    are the same, plus the facts' own). Empty: the snapshot may be recorded."""
    found: list[FieldError | None] = [
        rules.order_id_error(facts.order_id),
        rules.user_id_error(facts.user_id),
        rules.amount_error(facts.amount),
        rules.currency_error(facts.currency),
        *rules.debtor_errors(facts.debtor),
    ]
    if len(facts.invoice_number) > INVOICE_NUMBER_LIMIT:
        found.append(
            FieldError(
                "invoice_number", "too_long", f"must be at most {INVOICE_NUMBER_LIMIT} characters"
            )
        )
    elif rules.has_control_characters(facts.invoice_number):
        found.append(
            FieldError("invoice_number", "control_character", "must not contain control characters")
        )
    if len(facts.reminders) > MAX_REMINDERS:
        found.append(FieldError("reminders", "too_many", f"at most {MAX_REMINDERS} reminders"))
    return [e for e in found if e is not None]


def parse_amount(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True)
class FactsVersion:
    """One recorded snapshot: its number (1, 2, ...), when and by whom it was recorded."""

    version: int
    recorded_at: datetime
    recorded_by: Actor
    facts: OrderFacts


@dataclass(frozen=True)
class ManualAdmission:
    """Support admitted the order by hand (possibly despite red conditions)."""

    at: datetime
    by: Actor
    reason: str
    ruleset_version: str
    red_conditions: tuple[str, ...]


@dataclass
class FactsHistory:
    """The state of an ``OrderFacts`` aggregate: every snapshot, oldest first."""

    versions: list[FactsVersion] = field(default_factory=list)
    manual: ManualAdmission | None = None


class OrderFactsAggregate(Aggregate):
    """One order's facts, every version kept (append-only)."""

    class Event(Aggregate.Event):
        actor: Actor

    class FactsReported(Event):
        """A snapshot of the order's facts (differing from the last one)."""

        facts: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            history: FactsHistory = aggregate.history
            history.versions.append(
                FactsVersion(
                    version=len(history.versions) + 1,
                    recorded_at=self.timestamp,
                    recorded_by=self.actor,
                    facts=OrderFacts.from_dict(self.facts),
                )
            )

    class FirstReported(FactsReported, Aggregate.Created):
        """The order's first facts."""

        order_id: str

    class AdmittedByHand(Event):
        """Support admitted the order into dunning by hand; ``red_conditions`` were red
        in every group of the rule set at that moment (empty: it was eligible anyway)."""

        order_id: str
        reason: str
        ruleset_version: str
        red_conditions: list[str]

        def apply(self, aggregate: Any) -> None:
            history: FactsHistory = aggregate.history
            history.manual = ManualAdmission(
                at=self.timestamp,
                by=self.actor,
                reason=self.reason,
                ruleset_version=self.ruleset_version,
                red_conditions=tuple(self.red_conditions),
            )

    history: FactsHistory

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        self.history = FactsHistory()
        # FirstReported.apply runs after __init__ and appends the first snapshot.

    @classmethod
    def report_first(cls, facts: OrderFacts, actor: Actor, now: datetime) -> OrderFactsAggregate:
        return cls._create(
            cls.FirstReported,
            id=facts_id_for(facts.order_id),
            timestamp=now,
            order_id=facts.order_id,
            facts=facts.normalised().as_dict(),
            actor=actor,
        )

    def report(self, facts: OrderFacts, actor: Actor, now: datetime) -> bool:
        """Record a new snapshot; False (nothing recorded) when it equals the latest."""
        facts = facts.normalised()
        if facts == self.latest.facts:
            return False
        self.trigger_event(self.FactsReported, timestamp=now, facts=facts.as_dict(), actor=actor)
        return True

    def admit_by_hand(
        self,
        actor: Actor,
        now: datetime,
        reason: str,
        ruleset_version: str,
        red_conditions: list[str],
    ) -> None:
        self.trigger_event(
            self.AdmittedByHand,
            timestamp=now,
            order_id=self.order_id,
            actor=actor,
            reason=reason,
            ruleset_version=ruleset_version,
            red_conditions=list(red_conditions),
        )

    @property
    def latest(self) -> FactsVersion:
        return self.history.versions[-1]

    def as_of(self, at: datetime) -> FactsVersion | None:
        """The snapshot known at ``at`` (the last one recorded at or before it)."""
        known = [v for v in self.history.versions if v.recorded_at <= at]
        return known[-1] if known else None
