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
    "DE": re.compile(r"\d{5}"),
    "AT": re.compile(r"\d{4}"),
    "CH": re.compile(r"\d{4}"),
    "LI": re.compile(r"\d{4}"),
    "LU": re.compile(r"\d{4}"),
    "NL": re.compile(r"\d{4} ?[A-Z]{2}"),
    "FR": re.compile(r"\d{5}"),
    "IT": re.compile(r"\d{5}"),
    "PL": re.compile(r"\d{2}-\d{3}"),
}

_HAS_DIGIT = re.compile(r"\d")


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

    Messages are in German, as support reads them in the "!" popup.
    """
    served = frozenset(c.upper() for c in served_countries)
    errors: list[str] = []
    if not debtor.name.strip():
        errors.append("Name des Kunden fehlt.")
    street = debtor.street.strip()
    if not street:
        errors.append("Straße fehlt.")
    elif not _HAS_DIGIT.search(street):
        errors.append(f"Adresse ungültig: Hausnummer fehlt in der Straße {street!r}.")
    country = debtor.country.strip().upper()
    postal_code = debtor.postal_code.strip()
    if not country:
        errors.append("Land fehlt.")
    elif country not in served:
        errors.append(
            f"Land {country!r} wird von Diagonal nicht bedient "
            f"(bedient: {', '.join(sorted(served))})."
        )
    if not postal_code:
        errors.append("Postleitzahl fehlt.")
    elif country in POSTAL_CODE_PATTERNS and not POSTAL_CODE_PATTERNS[country].fullmatch(
        postal_code
    ):
        errors.append(f"Adresse ungültig: Postleitzahl {postal_code!r} passt nicht zu {country}.")
    if not debtor.city.strip():
        errors.append("Ort fehlt.")
    if amount <= 0:
        errors.append(f"Offener Betrag muss größer als 0 sein (ist {amount}).")
    return errors
