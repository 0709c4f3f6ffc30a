"""Holds: why support paused a case (a reason code) and, optionally, until when.

Days are calendar days in Europe/Berlin (the platform's and the article's calendar). A hold
``until`` a day ends at the **start** of that day (00:00 Berlin): "until 1 July" means the
case runs again on 1 July. A promise to pay by a day is kept until the end of that day: if
the case is not paid by then, the hold ends at the start of the next day (the promise is
broken; the history says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


class HoldReason(StrEnum):
    DISPUTE = "dispute"  # the debtor disputes the claim
    PROMISE_TO_PAY = "promise_to_pay"  # the debtor promised to pay an amount by a date
    VENDOR_UNSURE = "vendor_unsure"  # the article's case: the vendor is unsure whether to dun
    LEGAL_CHECK = "legal_check"  # a legal question is being checked
    OTHER = "other"  # anything else (and every block recorded before reason codes)


def start_of_day(day: date) -> datetime:
    """00:00 of ``day`` in Europe/Berlin, as a UTC moment."""
    return datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)


@dataclass(frozen=True)
class Hold:
    """The terms of a block: its reason code, when it ends by itself (``until``, or for a
    promise to pay the day after ``promised_date``) and the promise's amount."""

    code: HoldReason = HoldReason.OTHER
    until: date | None = None
    promised_amount: Decimal | None = None
    promised_date: date | None = None

    @property
    def ends_at(self) -> datetime | None:
        """The moment the hold ends by itself (None: only when support unblocks it)."""
        if self.code is HoldReason.PROMISE_TO_PAY and self.promised_date is not None:
            return start_of_day(self.promised_date + timedelta(days=1))
        if self.until is not None:
            return start_of_day(self.until)
        return None

    @property
    def is_promise(self) -> bool:
        return self.code is HoldReason.PROMISE_TO_PAY

    def problems(self, now: datetime) -> list[str]:
        """What is wrong with these terms at ``now`` (empty: a valid hold)."""
        out: list[str] = []
        if self.is_promise:
            if self.promised_amount is None or self.promised_amount <= 0:
                out.append("promise_to_pay needs the promised amount (> 0)")
            if self.promised_date is None:
                out.append("promise_to_pay needs the promised date")
            if self.until is not None:
                out.append("promise_to_pay ends the day after the promised date; no until")
        elif self.promised_amount is not None or self.promised_date is not None:
            out.append("a promised amount and date belong to promise_to_pay only")
        ends = self.ends_at
        if ends is not None and ends <= now:
            out.append("the hold would end before it starts (until / promised date must lie ahead)")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (the history, the events' transcoding)."""
        ends = self.ends_at
        return {
            "code": self.code.value,
            "until": self.until.isoformat() if self.until else None,
            "promised_amount": f"{self.promised_amount:.2f}"
            if self.promised_amount is not None
            else None,
            "promised_date": self.promised_date.isoformat() if self.promised_date else None,
            "ends_at": ends.isoformat() if ends else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hold:
        amount = data.get("promised_amount")
        try:
            promised = Decimal(amount) if amount is not None else None
        except InvalidOperation:
            promised = None
        until, promised_date = data.get("until"), data.get("promised_date")
        return cls(
            code=HoldReason(data.get("code") or HoldReason.OTHER),
            until=date.fromisoformat(until) if until else None,
            promised_amount=promised,
            promised_date=date.fromisoformat(promised_date) if promised_date else None,
        )
