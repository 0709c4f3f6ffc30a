"""The built-in Diagonal of embedded mode answers what the outbox sends."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.consumers.simulator import DiagonalSimulator
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor
from debtcases.domain.statuses import Status
from tests.unit.test_outbox import SUPPORT, admit


def simulate(c: Container) -> None:
    sim = DiagonalSimulator(c.cases, c.diagonal.outbox, delay_seconds=0, clock=c.clock)
    for _ in range(3):
        c.runner.catch_up()
        sim.run_once()


def test_the_simulator_hands_over_a_valid_case_and_rejects_a_marked_one(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    admit(c, "B-1")
    admit(c, "B-2", name="REJECT Tester")
    for o in ("B-1", "B-2"):
        c.cases.start_dunning(o, Actor.vendor(79424))
    simulate(c)
    assert c.cases.get_case("B-1", SUPPORT).status == Status.HANDED_OVER
    rejected = c.cases.get_case("B-2", SUPPORT)
    assert rejected.status == Status.FAILED and "abgelehnt" in rejected.errors[0]
    assert c.diagonal.outbox.backlog() == 0


def test_the_simulator_rejects_a_postal_code_diagonal_does_not_know(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(
        Admission(
            "B-3", 1, Decimal("5.00"), "EUR", Debtor("Max", "Weg 1", "00999", "Irgendwo", "DE")
        ),
        Actor.system("t"),
    )
    c.cases.start_dunning("B-3", Actor.vendor(1))
    simulate(c)
    case = c.cases.get_case("B-3", SUPPORT)
    assert case.status == Status.FAILED and "00999" in case.errors[0]


def test_the_simulator_closes_a_withdrawn_case(make_container: Callable[..., Container]) -> None:
    c = make_container()
    admit(c, "B-1")
    c.cases.start_dunning("B-1", Actor.vendor(79424))
    simulate(c)
    c.cases.cancel("B-1", SUPPORT, "storniert")
    simulate(c)
    case = c.cases.get_case("B-1", SUPPORT)
    assert case.status == Status.CANCELLED and case.closed_at_diagonal_at is not None
