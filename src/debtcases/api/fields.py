"""Field types of the request bodies (pydantic v2): the text, order-id, moment and amount
patterns the OpenAPI document shows, and the validators that hand each value to the
domain's admission rules."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from debtcases.domain import admission as rules

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
