"""Request and response bodies (pydantic v2); the OpenAPI document is built from these."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from debtcases.domain import admission as rules
from debtcases.domain.actors import Role
from debtcases.domain.case import DunningCase
from debtcases.domain.debtor import Debtor
from debtcases.domain.history import Change, HistoryEntry
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.statuses import Status
from debtcases.projections.queries import case_shape

# The admission rules live in domain/admission.py. The constraints below repeat its
# constants so that the OpenAPI document shows them (and clients keep pydantic's error
# types); the validators call the domain functions, which decide.
#
# The document states what the server takes, exactly: a schema-valid value is accepted and
# a schema-invalid one refused (schemathesis checks both ways, tests/contract). Text fields
# are trimmed before their rules apply, so their patterns allow surrounding whitespace:
# WS is what pydantic trims (Unicode White_Space), the same class in JSON Schema (ECMA 262)
# and in Python. Lengths are counted after trimming, so they live in the patterns, not in
# maxLength (which would count the raw text).
# (Every pattern ends in WS*$, so Python's "$ also matches before a final newline" and
# ECMA's "$ is the end" accept the same texts.)
WS = r"[\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NOT_WS = "[^" + WS[1:]
_ANY = r"[\s\S]"
# admission.CONTROL_CHARACTERS, the other way round.
_NO_CONTROL = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]"
# Neither whitespace nor a control character (the first and last of a required text).
_NOT_WS_NO_CONTROL = "[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f" + WS[1:]
_TRIM = re.compile(f"^{WS}+|{WS}+$")


def trim(text: str) -> str:
    """``text`` without the surrounding whitespace pydantic trims (not ``str.strip``, which
    also takes control characters such as U+001F)."""
    return _TRIM.sub("", text)


def trimmed(core: str) -> str:
    """The pattern of a trimmed text whose trimmed value matches ``core``."""
    return f"^{WS}*(?:{core}){WS}*$"


def text_pattern(limit: int, *, required: bool = False, control_free: bool = False) -> str:
    """At most ``limit`` characters after trimming (and at least one, if ``required``)."""
    if required:
        edge, inner = (_NOT_WS_NO_CONTROL, _NO_CONTROL) if control_free else (_NOT_WS, _ANY)
        return trimmed(f"{edge}(?:{inner}{{0,{limit - 2}}}{edge})?")
    return trimmed(f"{_NO_CONTROL if control_free else _ANY}{{0,{limit}}}")


ORDER_ID_PATTERN = rules.ORDER_ID_PATTERN
# A moment with a UTC offset, ASCII digits only (a number would be read as epoch seconds):
# `?at=` of the eligibility explainer, `?as_of=` of the case and the lists, `?from=`/`?to=`.
# The pattern admits exactly the moments that exist (no month 13, no 30 February, 29
# February in leap years only, year 1 onwards), so what the document allows is served.
_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
AT_PATTERN = (
    rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
ORDER_ID_DOC_PATTERN = trimmed(ORDER_ID_PATTERN.removeprefix("^").removesuffix("$"))
# Trimmed, so " B-1001 " (pasted from a spreadsheet) is B-1001.
OrderIdStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=ORDER_ID_PATTERN),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": ORDER_ID_DOC_PATTERN,
            "description": "1 to 64 characters A-Z a-z 0-9 . _ -, starting with a letter or "
            "digit; surrounding whitespace is trimmed",
            "examples": ["B-2024-000123"],
        }
    ),
]
_LIMIT = rules.TEXT_LIMITS


def _enforce(error: rules.FieldError | None) -> None:
    if error is not None:
        raise ValueError(error.message)


def free_text(field: str) -> AfterValidator:
    """The domain's one free-text rule (no control characters; tab and line breaks
    allowed), as a validator for any text field of any request body."""

    def check(value: str) -> str:
        _enforce(rules.free_text_error(field, value))
        return value

    return AfterValidator(check)


def _limited(field: str, *, required: bool = False, control_free: bool = False) -> Any:
    limit = _LIMIT.get(field, REFERENCE_LIMIT)
    what = f"at most {limit} characters after trimming"
    if required:
        what = f"1 to {limit} characters after trimming (not blank)"
    if control_free:
        what += "; no control characters (tab, line feed and carriage return are allowed)"
    return WithJsonSchema(
        {
            "type": "string",
            "pattern": text_pattern(limit, required=required, control_free=control_free),
            "description": what,
        }
    )


REFERENCE_LIMIT = 200
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
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=_LIMIT["reason"]),
    free_text("reason"),
    _limited("reason", required=True, control_free=True),
]
OptionalReason = Annotated[
    str,
    StringConstraints(max_length=_LIMIT["reason"]),
    free_text("reason"),
    _limited("reason", control_free=True),
]
# An amount as a string: the digits 0-9, at most 12 before the point and 2 after it.
AMOUNT_STRING_PATTERN = trimmed(
    f"[0-9]{{1,{rules.AMOUNT_WHOLE_DIGITS}}}(?:\\.[0-9]{{1,{rules.AMOUNT_DECIMALS}}})?"
)
_AMOUNT_STRING = re.compile(AMOUNT_STRING_PATTERN)
_AMOUNT_SCHEMA = {
    "description": "Open amount: a JSON number or a string of the digits 0-9, at most "
    f"{rules.AMOUNT_WHOLE_DIGITS} before the point and {rules.AMOUNT_DECIMALS} after it "
    '(e.g. "49.90")',
    "anyOf": [
        {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 10**rules.AMOUNT_WHOLE_DIGITS,
            "multipleOf": 0.01,
        },
        {"type": "string", "pattern": AMOUNT_STRING_PATTERN},
    ],
    "examples": ["49.90"],
}


def _amount_text(v: Any) -> Any:
    # Decimal() reads any script's digits ("٤٩" is 49) and "1e2", "+5", ".5": an amount
    # string is what the document's pattern says, the digits 0-9 and one point.
    if isinstance(v, str):
        if not _AMOUNT_STRING.fullmatch(v):
            raise ValueError("must be an amount written with the digits 0-9, e.g. 49.90")
        return trim(v)
    return v


def _admissible_amount(v: Decimal) -> Decimal:
    _enforce(rules.amount_error(v))
    return v


# A promised amount is more than nothing (a number > 0, or a string with a digit 1-9).
POSITIVE_AMOUNT_STRING_PATTERN = trimmed(
    f"(?=[0-9.]*[1-9])[0-9]{{1,{rules.AMOUNT_WHOLE_DIGITS}}}"
    f"(?:[.][0-9]{{1,{rules.AMOUNT_DECIMALS}}})?"
)
_POSITIVE_AMOUNT_SCHEMA = {
    "description": 'An amount above 0: a JSON number or a string of the digits 0-9 (e.g. "49.90")',
    "anyOf": [
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 10**rules.AMOUNT_WHOLE_DIGITS,
            "multipleOf": 0.01,
        },
        {"type": "string", "pattern": POSITIVE_AMOUNT_STRING_PATTERN},
    ],
    "examples": ["49.90"],
}


def _above_zero(v: Decimal) -> Decimal:
    if v <= 0:
        raise ValueError("must be more than 0")
    return v


# An amount wherever a body takes one (admission, order facts, a promise to pay): a JSON
# number or a string of the digits 0-9, checked by the domain's amount rule.
Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_text),
    Field(
        gt=Decimal("-1"),
        max_digits=rules.AMOUNT_MAX_DIGITS,
        decimal_places=rules.AMOUNT_DECIMALS,
    ),
    AfterValidator(_admissible_amount),
    WithJsonSchema(_AMOUNT_SCHEMA),
]
# An amount above 0 (a promise to pay).
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(_amount_text),
    Field(max_digits=rules.AMOUNT_MAX_DIGITS, decimal_places=rules.AMOUNT_DECIMALS),
    AfterValidator(_admissible_amount),
    AfterValidator(_above_zero),
    WithJsonSchema(_POSITIVE_AMOUNT_SCHEMA),
]


def _day_text(v: Any) -> Any:
    # JSON has no date type: a day is the text YYYY-MM-DD. A number would otherwise be
    # read as epoch seconds.
    if not isinstance(v, str | date):
        raise ValueError("must be a day written YYYY-MM-DD, e.g. 2024-07-01")
    return v


# A calendar day in a request body (the text YYYY-MM-DD, nothing else).
Day = Annotated[date, BeforeValidator(_day_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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


class DebtorOut(BaseModel):
    name: str
    street: str
    postal_code: str
    city: str
    country: str


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


class ActorOut(BaseModel):
    role: str
    id: str


class CaseOut(BaseModel):
    """A case as a vendor sees it: the fields every reader gets (support's shape,
    ``SupportCaseOut``, adds its own). Built by ``case_shape``, the one shape of a case for
    the case endpoint, command answers, list items and CSV rows. For a vendor, ``status``
    is never BLOCKED and ``version``/``updated_at`` are those of the last change the vendor
    can see (a block moves neither)."""

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
    at_diagonal: bool = Field(
        description="Diagonal has this case or it is being sent (a handover was sent and "
        "not rejected since); the same definition as collection access counts"
    )
    fell_back: bool = Field(
        False,
        description="The status fell back by itself (Diagonal rejected the case after it "
        "was handed over or during support's repair): goes to a specialist",
    )
    entered_month: str = Field(description="YYYY-MM (Europe/Berlin) the case entered dunning")
    handed_over_at: datetime | None = None
    awaiting_diagonal_close: bool = Field(
        False, description="Cancelled/paid while at Diagonal; Diagonal has not closed it yet"
    )
    closed_at_diagonal_at: datetime | None = Field(
        None, description="When Diagonal confirmed it closed the case"
    )

    @classmethod
    def from_case(
        cls,
        case: DunningCase,
        role: Role,
        now: datetime | None = None,
        stuck_after_hours: float = 48.0,
    ) -> Self:
        """``case`` as ``role`` sees it (``now``: for support's stuck flag)."""
        at = now or case.state.updated_at or case.state.created_at
        return cls(**case_shape(case.state, role, at, stuck_after_hours))


class LastChange(BaseModel):
    at: datetime
    event: str
    actor: ActorOut
    reason: str


class HoldOut(BaseModel):
    """The terms of a block (support only; a vendor never sees a hold)."""

    code: HoldReason
    until: date | None
    promised_amount: str | None
    promised_date: date | None
    ends_at: datetime | None = Field(
        description="When the hold ends by itself (null: only when support unblocks)"
    )


class SupportCaseOut(CaseOut):
    """A case as support sees it: the vendor's fields (status BLOCKED included, the case's
    own version and last change) plus the support-only ones."""

    status_before_block: Status | None
    stuck: bool = Field(
        description="RUNNING longer than the configured bound without Diagonal's ack"
    )
    last_change: LastChange
    payment_reference: str | None
    hold: HoldOut | None = Field(None, description="While BLOCKED: the hold's terms")


def case_out(case: DunningCase, role: Role, now: datetime, stuck_after_hours: float) -> CaseOut:
    """The response model of ``case`` for ``role``."""
    model = CaseOut if role is Role.VENDOR else SupportCaseOut
    return model.from_case(case, role, now, stuck_after_hours)


class CaseChangeOut(CaseOut):
    """A command's answer to a vendor: the case after it, and whether it changed."""

    changed: bool = Field(
        description="false: the case already was what the command asked for "
        "(e.g. hand-over on a case Diagonal's ack had moved on); nothing was recorded",
    )


class SupportCaseChangeOut(SupportCaseOut):
    """A command's answer to support: the case after it, and whether it changed."""

    changed: bool = Field(description=CaseChangeOut.model_fields["changed"].description)


class HistoryEntryOut(BaseModel):
    version: int = Field(
        description="The case's version after this change (a correction's "
        "`details.corrects_version` names the entry it corrects)"
    )
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
            version=e.version,
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


class FieldChangeOut(BaseModel):
    before: Any = Field(description="The value before the change (null: none)")
    after: Any = Field(description="The value after it (null: none)")


class ChangeOut(HistoryEntryOut):
    """One change between the two moments: the history entry (who, when, why) and what it
    changed of the case's `status`, `debtor` (the address), `amount` and `hold` (support
    only); fields it did not change are absent."""

    changed: dict[str, FieldChangeOut]

    @classmethod
    def from_change(cls, c: Change) -> ChangeOut:
        entry = HistoryEntryOut.from_entry(c.entry)
        changed = {k: FieldChangeOut(before=b, after=a) for k, (b, a) in c.changed.items()}
        return cls(**entry.model_dump(), changed=changed)


class ChangesOut(BaseModel):
    order_id: str
    from_: datetime | None = Field(
        serialization_alias="from",
        description="The first moment (null: since the case was admitted)",
    )
    to: datetime = Field(description="The second moment")
    before: SupportCaseOut | CaseOut | None = Field(
        description="The case as it was at `from` (null: not admitted yet, or no `from`)"
    )
    after: SupportCaseOut | CaseOut | None = Field(
        description="The case as it was at `to` (null: not admitted yet)"
    )
    changes: list[ChangeOut] = Field(description="Every change in between, oldest first")


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
