"""An order entering dunning, and THE field rules it must meet to be admitted.

Every edge that admits orders (the HTTP API's pydantic models, the CSV import) checks its
input with these functions, so a rule is written once. The edges may add rules of their own
syntax (how a CSV cell spells an amount), never a second copy of these.

The rules:

- order id: ``^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$``;
- User-ID: an integer, 0 < id < 2**53 (what a JSON number carries exactly);
- amount: finite, >= 0, at most 2 decimal places, at most 12 digits before the point
  (14 in total), judged by value (``1.000`` has no more decimals than ``1``);
- currency: 3 letters (either case: it is stored in upper case);
- debtor: name, street and city at most 200 characters, postal code at most 16, country
  empty or 2 letters; the free-text fields without control characters;
- reason: at most 1000 characters.

Free text (every field a person or a system types: the debtor's fields, every command's
reason, a payment reference, an invoice number) never holds control characters: C0
controls other than tab, line feed and carriage return, and DEL. NUL in particular is
refused here, at the edge, with the field named, instead of reaching the event store and
every view. ``free_text_error`` is that one rule; the API's request models and the CSV
import both call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from debtcases.domain.debtor import Debtor

ORDER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CURRENCY_PATTERN: Final = r"^[A-Za-z]{3}$"
COUNTRY_PATTERN: Final = r"^([A-Za-z]{2})?$"
USER_ID_LIMIT: Final = 2**53  # exclusive
AMOUNT_DECIMALS: Final = 2
AMOUNT_WHOLE_DIGITS: Final = 12
AMOUNT_MAX_DIGITS: Final = AMOUNT_WHOLE_DIGITS + AMOUNT_DECIMALS
# Longest accepted text per field, in characters.
TEXT_LIMITS: Final[dict[str, int]] = {
    "name": 200,
    "street": 200,
    "postal_code": 16,
    "city": 200,
    "reason": 1000,
    "reference": 200,
}
# The fields an admission is checked on, in the order their errors are reported.
ADMISSION_FIELDS: Final = (
    "order_id",
    "user_id",
    "amount",
    "currency",
    "country",
    "name",
    "street",
    "postal_code",
    "city",
    "reason",
)
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Every free-text field of the admission is held to the control-character rule.
CONTROL_CHECKED_FIELDS: Final = frozenset({"name", "street", "postal_code", "city", "reason"})

_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_CURRENCY = re.compile(CURRENCY_PATTERN)
_COUNTRY = re.compile(COUNTRY_PATTERN)


@dataclass(frozen=True)
class Admission:
    """An order entering dunning, as the intake (or support, by hand) hands it over."""

    order_id: str
    user_id: int
    amount: Decimal
    currency: str
    debtor: Debtor
    reason: str = ""


@dataclass(frozen=True)
class FieldError:
    """One broken rule: the field (``order_id`` ... ``country``, ``reason``; debtor fields
    by their ``Debtor`` name), a stable code, and an English message."""

    field: str
    code: str
    message: str


def order_id_error(order_id: str) -> FieldError | None:
    if _ORDER_ID.fullmatch(order_id):
        return None
    return FieldError(
        "order_id",
        "pattern",
        "must be letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit",
    )


def user_id_error(user_id: int) -> FieldError | None:
    if 0 < user_id < USER_ID_LIMIT:
        return None
    return FieldError("user_id", "range", f"must be a positive integer below {USER_ID_LIMIT}")


def amount_error(amount: Decimal) -> FieldError | None:
    if not amount.is_finite() or amount < 0:
        return FieldError("amount", "not_an_amount", "must be a finite amount >= 0")
    decimals, whole = _decimal_places(amount)
    if decimals > AMOUNT_DECIMALS:
        return FieldError(
            "amount", "decimals", f"must have at most {AMOUNT_DECIMALS} decimal places"
        )
    if whole > AMOUNT_WHOLE_DIGITS:
        return FieldError(
            "amount",
            "too_large",
            f"must have at most {AMOUNT_WHOLE_DIGITS} digits before the point",
        )
    return None


def _decimal_places(amount: Decimal) -> tuple[int, int]:
    """(digits after the point, digits before it) of a finite amount's value: trailing
    zeros after the point do not count (``1.000`` is ``1``). No rounding, unlike
    ``Decimal.normalize`` (which rounds to the context's precision)."""
    if amount.is_zero():
        return 0, 0
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite
    length = len(digits)
    while exponent < 0 and digits[length - 1] == 0:
        length -= 1
        exponent += 1
    if exponent >= 0:
        return 0, length + exponent
    return -exponent, max(0, length + exponent)


def currency_error(currency: str) -> FieldError | None:
    if _CURRENCY.fullmatch(currency):
        return None
    return FieldError("currency", "pattern", "must be 3 letters (e.g. EUR)")


def country_error(country: str) -> FieldError | None:
    if _COUNTRY.fullmatch(country):
        return None
    return FieldError("country", "pattern", "must be empty or a 2-letter code (e.g. DE)")


def has_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def free_text_error(field: str, text: str) -> FieldError | None:
    """THE rule for free text, whatever the field: no control characters (tab, line feed
    and carriage return are what a person types, and stay allowed)."""
    if has_control_characters(text):
        return FieldError(field, "control_character", "must not contain control characters")
    return None


def text_error(field: str, text: str) -> FieldError | None:
    """The length limit of ``field`` and, for ``CONTROL_CHECKED_FIELDS``, no control
    characters."""
    limit = TEXT_LIMITS[field]
    if len(text) > limit:
        return FieldError(field, "too_long", f"must be at most {limit} characters")
    if field in CONTROL_CHECKED_FIELDS:
        return free_text_error(field, text)
    return None


def debtor_errors(debtor: Debtor) -> list[FieldError]:
    found = [
        text_error("name", debtor.name),
        text_error("street", debtor.street),
        text_error("postal_code", debtor.postal_code),
        text_error("city", debtor.city),
        country_error(debtor.country),
    ]
    return [e for e in found if e is not None]


def admission_errors(admission: Admission) -> list[FieldError]:
    """Every broken rule of an admission, at most one per field, in the order of
    ``ADMISSION_FIELDS``. Empty: the order may be admitted."""
    found = [
        order_id_error(admission.order_id),
        user_id_error(admission.user_id),
        amount_error(admission.amount),
        currency_error(admission.currency),
        *debtor_errors(admission.debtor),
        text_error("reason", admission.reason),
    ]
    by_field = {e.field: e for e in found if e is not None}
    return [by_field[f] for f in ADMISSION_FIELDS if f in by_field]
