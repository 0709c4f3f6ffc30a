"""Request bodies (pydantic v2); the OpenAPI document is built from these. Their field
types live in ``api/fields.py``, the response bodies in ``api/responses.py``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    RootModel,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from debtcases.api.fields import (
    _LIMIT,
    REFERENCE_LIMIT,
    Amount,
    Day,
    OptionalReason,
    OrderIdStr,
    PositiveAmount,
    Reason,
    Strict,
    _enforce,
    _limited,
    free_text,
    trimmed,
)
from debtcases.domain import admission as rules
from debtcases.domain.debtor import Debtor
from debtcases.domain.holds import Hold, HoldReason

_COUNTRY_DOC = WithJsonSchema(
    {
        "type": "string",
        "pattern": trimmed(rules.COUNTRY_PATTERN.removeprefix("^").removesuffix("$")),
        "description": "ISO country code, 2 letters (either case), or empty",
    }
)
_CURRENCY_DOC = WithJsonSchema(
    {
        "type": "string",
        "pattern": trimmed(rules.CURRENCY_PATTERN.removeprefix("^").removesuffix("$")),
        "description": "ISO currency code, 3 letters (either case)",
    }
)


class DebtorIn(Strict):
    """The debtor's postal address. Incomplete addresses are accepted at admission; the
    handover check (start / hand-over) reports what is missing."""

    name: Annotated[
        str,
        StringConstraints(max_length=_LIMIT["name"]),
        _limited("name", control_free=True),
    ] = ""
    street: Annotated[
        str,
        StringConstraints(max_length=_LIMIT["street"]),
        _limited("street", control_free=True),
    ] = ""
    postal_code: Annotated[
        str,
        StringConstraints(max_length=_LIMIT["postal_code"]),
        _limited("postal_code", control_free=True),
    ] = ""
    city: Annotated[
        str,
        StringConstraints(max_length=_LIMIT["city"]),
        _limited("city", control_free=True),
    ] = ""
    country: Annotated[str, StringConstraints(pattern=rules.COUNTRY_PATTERN), _COUNTRY_DOC] = ""

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


class AdmitIn(Strict):
    order_id: OrderIdStr
    # strict: `true` is not User 1, and "79424" (text) is not a number either.
    user_id: int = Field(
        gt=0, lt=rules.USER_ID_LIMIT, strict=True, description="The vendor's User-ID"
    )
    amount: Amount
    currency: Annotated[str, StringConstraints(pattern=rules.CURRENCY_PATTERN), _CURRENCY_DOC] = (
        "EUR"
    )
    debtor: DebtorIn
    reason: OptionalReason = ""

    @field_validator("order_id")
    @classmethod
    def _admissible_order_id(cls, v: str) -> str:
        _enforce(rules.order_id_error(v))
        return v

    @field_validator("user_id", mode="before")
    @classmethod
    def _integral_number(cls, v: Any) -> Any:
        # JSON (and JSON Schema's "integer") does not tell 79424.0 from 79424: the same
        # number. Text and true stay refused (strict).
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    @field_validator("user_id")
    @classmethod
    def _admissible_user_id(cls, v: int) -> int:
        _enforce(rules.user_id_error(v))
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
    reason: OptionalReason = ""


class ReasonIn(Strict):
    reason: Reason


class PlainHoldIn(Strict):
    """A hold for a dispute, an unsure vendor, a legal check or anything else: why, and
    optionally the day it ends by itself."""

    reason: Reason
    code: Literal["dispute", "vendor_unsure", "legal_check", "other"] = Field(
        "other", description="Reason code (`other` when not given)"
    )
    until: Day | None = Field(
        None,
        description="The hold ends by itself at 00:00 (Europe/Berlin) of this day: "
        "`until: 2024-07-01` means dunning resumes on 1 July. Must lie ahead (else 409 "
        "`invalid_hold`)",
    )

    def to_domain(self) -> Hold:
        return Hold(HoldReason(self.code), self.until, None, None)


class PromiseHoldIn(Strict):
    """A promise to pay: the amount and the day by which the debtor promised it. Not paid
    by the end of that day: the hold ends at 00:00 of the next day and the history says the
    promise was broken."""

    reason: Reason
    code: Literal["promise_to_pay"]
    promised_amount: PositiveAmount = Field(description='The amount promised, e.g. "49.90"')
    promised_date: Day = Field(description="The day by which the debtor promised to pay")

    def to_domain(self) -> Hold:
        return Hold(HoldReason.PROMISE_TO_PAY, None, self.promised_amount, self.promised_date)


def _hold_kind(value: Any) -> str:
    code = value.get("code") if isinstance(value, dict) else getattr(value, "code", None)
    return "promise" if code == "promise_to_pay" else "plain"


# The code decides which terms a hold takes, so a mistake is reported against those terms.
HoldTerms = Annotated[
    Annotated[PlainHoldIn, Tag("plain")] | Annotated[PromiseHoldIn, Tag("promise")],
    Discriminator(_hold_kind),
]


class BlockIn(RootModel[HoldTerms]):
    """A hold: why (`code` and the free-text `reason`) and, optionally, when it ends by
    itself; a promise to pay carries the promised amount and day instead. Days are
    Europe/Berlin calendar days."""

    @property
    def reason(self) -> str:
        return self.root.reason

    def to_domain(self) -> Hold:
        return self.root.to_domain()


class MarkPaidIn(Strict):
    reason: Reason
    reference: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=REFERENCE_LIMIT),
        free_text("reference"),
        _limited("reference", required=True, control_free=True),
    ]


class CorrectedDebtorIn(DebtorIn):
    """A corrected address is complete: every field given and non-empty (a 422 lists the
    missing ones), so a correction never blanks what it leaves out."""

    name: Annotated[
        str,
        StringConstraints(min_length=1, max_length=_LIMIT["name"]),
        _limited("name", required=True, control_free=True),
    ]
    street: Annotated[
        str,
        StringConstraints(min_length=1, max_length=_LIMIT["street"]),
        _limited("street", required=True, control_free=True),
    ]
    postal_code: Annotated[
        str,
        StringConstraints(min_length=1, max_length=_LIMIT["postal_code"]),
        _limited("postal_code", required=True, control_free=True),
    ]
    city: Annotated[
        str,
        StringConstraints(min_length=1, max_length=_LIMIT["city"]),
        _limited("city", required=True, control_free=True),
    ]
    country: Annotated[str, StringConstraints(min_length=1, pattern=rules.COUNTRY_PATTERN)]


class AddressIn(Strict):
    debtor: CorrectedDebtorIn
    reason: Reason
