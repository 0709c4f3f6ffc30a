"""The debtor (Kunde) and the checks Diagonal needs before it can take a case."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal

# Countries Diagonal serves unless configured otherwise.
DEFAULT_SERVED_COUNTRIES: frozenset[str] = frozenset({"DE", "AT", "CH"})

# Postal code shapes for the countries we know; others only need to be non-empty.
POSTAL_CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "DE": re.compile(r"[0-9]{5}"),
    "AT": re.compile(r"[0-9]{4}"),
    "CH": re.compile(r"[0-9]{4}"),
    "LI": re.compile(r"[0-9]{4}"),
    "LU": re.compile(r"[0-9]{4}"),
    "NL": re.compile(r"[0-9]{4} ?[A-Z]{2}"),
    "FR": re.compile(r"[0-9]{5}"),
    "IT": re.compile(r"[0-9]{5}"),
    "PL": re.compile(r"[0-9]{2}-[0-9]{3}"),
}

_HAS_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class Debtor:
    name: str
    street: str
    postal_code: str
    city: str
    country: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Debtor:
        return cls(
            name=data["name"],
            street=data["street"],
            postal_code=data["postal_code"],
            city=data["city"],
            country=data["country"],
        )


def handover_errors(
    debtor: Debtor, amount: Decimal, served_countries: Iterable[str] = DEFAULT_SERVED_COUNTRIES
) -> list[str]:
    """What stops Diagonal from taking this case; empty when it can go.

    Messages are in German, as support reads them in the "!" popup. The checks are the
    ``HANDOVER`` group of the eligibility engine (domain/eligibility.py): one engine for
    admitting orders and for handing cases over.
    """
    from debtcases.domain.eligibility import handover_errors as on_the_engine

    return on_the_engine(debtor, amount, served_countries)
