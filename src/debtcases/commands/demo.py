"""Demo data for the embedded default: several vendors, among them User 79424 with two
LOCKED orders (the support article's example), a case failing on a wrong address, a
blocked one, a paid one, one handed over by support, and two RUNNING cases that the Diagonal
simulator of `make run` answers: one received, one rejected (unknown postal code)."""

from __future__ import annotations

from decimal import Decimal

from debtcases.commands.app import DunningCases
from debtcases.domain.actors import Actor
from debtcases.domain.admission import Admission
from debtcases.domain.debtor import Debtor

INTAKE = Actor.system("order-intake")
SUPPORT = Actor.support("demo-support")


def _admission(order_id: str, user_id: int, amount: str, debtor: Debtor) -> Admission:
    return Admission(
        order_id,
        user_id,
        Decimal(amount),
        "EUR",
        debtor,
        reason="Rücklastschrift, Mahnungen ohne Erfolg",
    )


def seed_demo(cases: DunningCases) -> list[str]:
    """Admit and move the demo cases; returns their order ids. Safe to call twice."""
    if cases.has_case("B-2024-000123"):
        return []
    admissions = [
        _admission(
            "B-2024-000123",
            79424,
            "49.90",
            Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE"),
        ),
        _admission(
            "B-2024-000124",
            79424,
            "129.00",
            Debtor("Jürgen Müller", "Am Weiher 3", "80331", "München", "DE"),
        ),
        _admission(
            "B-2024-000200",
            51234,
            "19.99",
            Debtor("Lena Groß", "Hauptplatz 1", "8010", "Graz", "AT"),
        ),
        _admission(
            "B-2024-000201",
            51234,
            "89.00",
            # Wrong address: no house number, postal code too short.
            Debtor("Tobias Weiß", "Musterweg", "123", "Köln", "DE"),
        ),
        _admission(
            "B-2024-000203",
            51234,
            "59.00",
            # Passes our checks, but Diagonal (the simulator) does not know the PLZ.
            Debtor("Frank Nowak", "Gartenweg 9", "00999", "Leipzig", "DE"),
        ),
        _admission(
            "B-2024-000202",
            51234,
            "39.00",
            Debtor("Sabine Keller", "Bahnhofstrasse 5", "8001", "Zürich", "CH"),
        ),
        _admission(
            "B-2024-000300",
            66001,
            "249.00",
            Debtor("Özlem Aydın", "Königsallee 27", "40212", "Düsseldorf", "DE"),  # noqa: RUF001
        ),
        _admission(
            "B-2024-000301",
            66001,
            "15.00",
            Debtor("Peter Brandt", "Ringstraße 8", "1010", "Wien", "AT"),
        ),
    ]
    cases.admit_many(admissions, INTAKE)
    vendor_51234, vendor_66001 = Actor.vendor(51234), Actor.vendor(66001)
    cases.start_dunning("B-2024-000200", vendor_51234)
    cases.start_dunning("B-2024-000201", vendor_51234)  # -> FAILED, wrong address
    cases.start_dunning("B-2024-000202", vendor_51234)
    cases.start_dunning("B-2024-000203", vendor_51234)  # the simulator rejects it
    cases.hand_over("B-2024-000202", SUPPORT, "Diagonal hat den Fall telefonisch bestätigt")
    cases.block("B-2024-000300", SUPPORT, "Vendor ist unsicher, ob gemahnt werden soll")
    cases.start_dunning("B-2024-000301", vendor_66001)
    cases.mark_paid("B-2024-000301", SUPPORT, "Zahlung im Admin hinterlegt", "ZE-2024-7781")
    return [a.order_id for a in admissions]
