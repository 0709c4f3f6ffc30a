"""Request and response bodies (pydantic v2); the OpenAPI document is built from these."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from debtcases.domain.actors import Role
from debtcases.domain.case import DunningCase
from debtcases.domain.debtor import Debtor
from debtcases.domain.history import HistoryEntry
from debtcases.domain.statuses import Status

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Trimmed, so " B-1001 " (pasted from a spreadsheet) is B-1001.
OrderIdStr = Annotated[str, StringConstraints(strip_whitespace=True, pattern=ORDER_ID_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DebtorIn(Strict):
    """The debtor's postal address. Incomplete addresses are accepted at admission; the
    handover check (start / hand-over) reports what is missing."""

    name: Text = ""
    street: Text = ""
    postal_code: Annotated[str, StringConstraints(max_length=16)] = ""
    city: Text = ""
    country: Annotated[str, StringConstraints(pattern=r"^([A-Za-z]{2})?$")] = ""

    @field_validator("name", "street", "postal_code", "city")
    @classmethod
    def _no_control_characters(cls, v: str) -> str:
        if _CONTROL.search(v):
            raise ValueError("must not contain control characters")
        return v

    def to_domain(self) -> Debtor:
        return Debtor(self.name, self.street, self.postal_code, self.city, self.country.upper())


class DebtorOut(BaseModel):
    name: str
    street: str
    postal_code: str
    city: str
    country: str


class AdmitIn(Strict):
    order_id: OrderIdStr
    # strict: `true` is not User 1, and "79424" (text) is not a number either.
    user_id: int = Field(gt=0, lt=2**53, strict=True, description="The vendor's User-ID")
    amount: Decimal = Field(
        gt=Decimal("-1"), max_digits=14, decimal_places=2, description='Open amount, e.g. "49.90"'
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = "EUR"
    debtor: DebtorIn
    reason: Annotated[str, StringConstraints(max_length=1000)] = ""

    @field_validator("amount", mode="before")
    @classmethod
    def _ascii_digits(cls, v: Any) -> Any:
        # Decimal() reads any script's digits ("٤٩" is 49): only 0-9 are an amount here.
        if isinstance(v, str) and not v.isascii():
            raise ValueError("must be an amount written with the digits 0-9, e.g. 49.90")
        return v

    @field_validator("amount")
    @classmethod
    def _not_negative(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0:
            raise ValueError("must be a finite amount >= 0")
        return v


class EmptyIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=1000)] = ""


class ReasonIn(Strict):
    reason: Reason


class MarkPaidIn(Strict):
    reason: Reason
    reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]


class AddressIn(Strict):
    debtor: DebtorIn
    reason: Reason


class CaseOut(BaseModel):
    order_id: str
    user_id: int
    status: Status
    status_label: str
    amount: str
    currency: str
    debtor: DebtorOut
    errors: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    at_diagonal: bool = Field(description="Diagonal has (or is being sent) this case")
    fell_back: bool = Field(
        False,
        description="The status fell back to FAILED by itself "
        "after a handover: goes to a specialist",
    )

    @classmethod
    def from_case(cls, case: DunningCase, role: Role) -> CaseOut:
        status = case.status_for(role)
        return cls(
            order_id=case.order_id,
            user_id=case.user_id,
            status=status,
            status_label=status.label,
            amount=f"{case.amount:.2f}",
            currency=case.currency,
            debtor=DebtorOut(**case.debtor.as_dict()),
            errors=list(case.errors),
            created_at=case.created_on,
            updated_at=case.modified_on,
            version=case.version,
            at_diagonal=case.at_diagonal,
            fell_back=case.fell_back,
        )


class ActorOut(BaseModel):
    role: str
    id: str


class HistoryEntryOut(BaseModel):
    at: datetime
    event: str
    from_status: Status | None
    to_status: Status
    actor: ActorOut
    reason: str
    details: dict[str, Any]

    @classmethod
    def from_entry(cls, e: HistoryEntry) -> HistoryEntryOut:
        details = {k: (f"{v:.2f}" if isinstance(v, Decimal) else v) for k, v in e.details.items()}
        return cls(
            at=e.at,
            event=e.event,
            from_status=e.from_status,
            to_status=e.to_status,
            actor=ActorOut(**e.actor),
            reason=e.reason,
            details=details,
        )


class HistoryOut(BaseModel):
    order_id: str
    entries: list[HistoryEntryOut]


class Problem(BaseModel):
    """application/problem+json"""

    type: str
    title: str
    status: int
    detail: str
    code: str


class TransitionProblem(Problem):
    from_: str | None = Field(None, alias="from")
    to: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = {}
