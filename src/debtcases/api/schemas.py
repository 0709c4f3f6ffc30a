"""Request and response bodies (pydantic v2); the OpenAPI document is built from these."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from debtcases.domain import admission as rules
from debtcases.domain.actors import Role
from debtcases.domain.case import DunningCase
from debtcases.domain.debtor import Debtor
from debtcases.domain.history import HistoryEntry
from debtcases.domain.statuses import Status

# The admission rules live in domain/admission.py. The constraints below repeat its
# constants so that the OpenAPI document shows them (and clients keep pydantic's error
# types); the validators call the domain functions, which decide.
ORDER_ID_PATTERN = rules.ORDER_ID_PATTERN
OrderIdStr = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
_LIMIT = rules.TEXT_LIMITS
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=_LIMIT["reason"])
]


def _enforce(error: rules.FieldError | None) -> None:
    if error is not None:
        raise ValueError(error.message)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DebtorIn(Strict):
    """The debtor's postal address. Incomplete addresses are accepted at admission; the
    handover check (start / hand-over) reports what is missing."""

    name: Annotated[str, StringConstraints(max_length=_LIMIT["name"])] = ""
    street: Annotated[str, StringConstraints(max_length=_LIMIT["street"])] = ""
    postal_code: Annotated[str, StringConstraints(max_length=_LIMIT["postal_code"])] = ""
    city: Annotated[str, StringConstraints(max_length=_LIMIT["city"])] = ""
    country: Annotated[str, StringConstraints(pattern=rules.COUNTRY_PATTERN)] = ""

    @field_validator("name", "street", "postal_code", "city")
    @classmethod
    def _admissible_text(cls, v: str, info: ValidationInfo) -> str:
        assert info.field_name is not None
        _enforce(rules.text_error(info.field_name, v))
        return v

    @field_validator("country")
    @classmethod
    def _admissible_country(cls, v: str) -> str:
        _enforce(rules.country_error(v))
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
    user_id: int = Field(gt=0, lt=rules.USER_ID_LIMIT, description="The vendor's User-ID")
    amount: Decimal = Field(
        gt=Decimal("-1"),
        max_digits=rules.AMOUNT_MAX_DIGITS,
        decimal_places=rules.AMOUNT_DECIMALS,
        description='Open amount, e.g. "49.90"',
    )
    currency: Annotated[str, StringConstraints(pattern=rules.CURRENCY_PATTERN)] = "EUR"
    debtor: DebtorIn
    reason: Annotated[str, StringConstraints(max_length=_LIMIT["reason"])] = ""

    @field_validator("order_id")
    @classmethod
    def _admissible_order_id(cls, v: str) -> str:
        _enforce(rules.order_id_error(v))
        return v

    @field_validator("user_id")
    @classmethod
    def _admissible_user_id(cls, v: int) -> int:
        _enforce(rules.user_id_error(v))
        return v

    @field_validator("amount")
    @classmethod
    def _admissible_amount(cls, v: Decimal) -> Decimal:
        _enforce(rules.amount_error(v))
        return v

    @field_validator("currency")
    @classmethod
    def _admissible_currency(cls, v: str) -> str:
        _enforce(rules.currency_error(v))
        return v

    @field_validator("reason")
    @classmethod
    def _admissible_reason(cls, v: str) -> str:
        _enforce(rules.text_error("reason", v))
        return v


class EmptyIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=_LIMIT["reason"])] = ""


class ReasonIn(Strict):
    reason: Reason


class MarkPaidIn(Strict):
    reason: Reason
    reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]


class CorrectedDebtorIn(DebtorIn):
    """A corrected address is complete: every field given and non-empty (a 422 lists the
    missing ones), so a correction never blanks what it leaves out."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=_LIMIT["name"])]
    street: Annotated[str, StringConstraints(min_length=1, max_length=_LIMIT["street"])]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=_LIMIT["postal_code"])]
    city: Annotated[str, StringConstraints(min_length=1, max_length=_LIMIT["city"])]
    country: Annotated[str, StringConstraints(min_length=1, pattern=rules.COUNTRY_PATTERN)]


class AddressIn(Strict):
    debtor: CorrectedDebtorIn
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


class CaseChangeOut(CaseOut):
    """A command's answer: the case after it, and whether the command changed it."""

    changed: bool = Field(
        True,
        description="false: the case already was what the command asked for "
        "(e.g. hand-over on a case Diagonal's ack had moved on); nothing was recorded",
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
