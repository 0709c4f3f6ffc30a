"""The transition table, role by role, as the support article and api.md state it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from debtcases.bootstrap import utc_now
from debtcases.commands.app import Admission, DunningCases
from debtcases.domain.actors import Actor
from debtcases.domain.debtor import Debtor, handover_errors
from debtcases.domain.errors import CaseNotFound, InvalidTransition, NotPermitted
from debtcases.domain.statuses import LABELS, Status, parse_statuses
from tests.builders import DEBTOR as GOOD

BAD = Debtor("Tobias Weiß", "Musterweg", "123", "Köln", "DE")
SUPPORT = Actor.support("anna")
OWNER = Actor.vendor(79424)
OTHER = Actor.vendor(11111)
SYSTEM = Actor.system("intake")


@pytest.fixture
def cases() -> DunningCases:
    return DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)


def admit(cases: DunningCases, order_id: str = "B-1", debtor: Debtor = GOOD) -> None:
    cases.admit(Admission(order_id, 79424, Decimal("49.90"), "EUR", debtor), SYSTEM)


def test_every_status_has_the_product_label() -> None:
    assert {s.value: s.label for s in Status} == {
        "LOCKED": "Gesperrt",
        "RUNNING": "Laufend",
        "FAILED": "Failed",
        "HANDED_OVER": "Ans Inkasso übergeben",
        "CANCELLED": "Gekündigt",
        "BLOCKED": "Blockiert",
        "PAID": "Bezahlt",
    }
    assert set(LABELS) == set(Status)


def test_status_lists_parse_and_unknown_names_are_refused() -> None:
    assert parse_statuses("locked, RUNNING") == [Status.LOCKED, Status.RUNNING]
    with pytest.raises(ValueError, match="unknown status 'DONE'"):
        parse_statuses("LOCKED,DONE")


def test_vendor_play_moves_a_locked_case_to_running(cases: DunningCases) -> None:
    admit(cases)
    assert cases.start_dunning("B-1", OWNER).case.status is Status.RUNNING


def test_vendor_cannot_play_a_failed_case_but_support_can_repair_it(cases: DunningCases) -> None:
    admit(cases, debtor=BAD)
    assert cases.start_dunning("B-1", OWNER).case.status is Status.FAILED
    with pytest.raises(InvalidTransition):
        cases.start_dunning("B-1", OWNER)
    cases.correct_address("B-1", SUPPORT, GOOD, "Vendor hat richtige Adresse geliefert")
    assert cases.start_dunning("B-1", SUPPORT).case.status is Status.RUNNING
    assert cases.hand_over("B-1", SUPPORT, "Schritt 2").case.status is Status.HANDED_OVER


def test_a_wrong_address_fails_with_messages_and_correcting_it_rechecks(
    cases: DunningCases,
) -> None:
    admit(cases, debtor=BAD)
    failed = cases.start_dunning("B-1", OWNER).case
    assert failed.status is Status.FAILED
    assert any("Hausnummer" in e for e in failed.errors)
    assert any("Postleitzahl" in e for e in failed.errors)
    half_fixed = Debtor("Tobias Weiß", "Musterweg 4", "123", "Köln", "DE")
    still = cases.correct_address("B-1", SUPPORT, half_fixed, "Hausnummer ergänzt").case
    assert still.status is Status.FAILED
    assert len(still.errors) == 1 and "Postleitzahl" in still.errors[0]
    fixed = cases.correct_address("B-1", SUPPORT, GOOD, "PLZ korrigiert").case
    assert fixed.errors == [] and fixed.status is Status.FAILED


def test_block_remembers_and_restores_the_previous_status(cases: DunningCases) -> None:
    admit(cases)
    cases.start_dunning("B-1", OWNER)
    blocked = cases.block("B-1", SUPPORT, "Vendor unsicher").case
    assert blocked.status is Status.BLOCKED
    assert blocked.status_for(OWNER.role) is Status.RUNNING
    assert cases.unblock("B-1", SUPPORT, "Vendor will mahnen").case.status is Status.RUNNING


def test_vendor_cannot_act_on_a_blocked_case_and_is_not_told_it_is_blocked(
    cases: DunningCases,
) -> None:
    admit(cases)
    cases.block("B-1", SUPPORT, "Vendor unsicher")
    with pytest.raises(InvalidTransition) as refused:
        cases.start_dunning("B-1", OWNER)
    assert refused.value.from_status == "LOCKED"
    assert "BLOCKED" not in str(refused.value) and "Blockiert" not in str(refused.value)


@pytest.mark.parametrize("final", ["cancel", "mark_paid"])
def test_nothing_leaves_paid_or_cancelled(cases: DunningCases, final: str) -> None:
    admit(cases)
    if final == "cancel":
        cases.cancel("B-1", SUPPORT, "storniert")
    else:
        cases.mark_paid("B-1", SUPPORT, "bezahlt", "ZE-1")
    attempts = [
        lambda: cases.start_dunning("B-1", SUPPORT),
        lambda: cases.hand_over("B-1", SUPPORT, "x"),
        lambda: cases.cancel("B-1", SUPPORT, "x"),
        lambda: cases.block("B-1", SUPPORT, "x"),
        lambda: cases.unblock("B-1", SUPPORT, "x"),
        lambda: cases.mark_paid("B-1", SUPPORT, "x", "r"),
        lambda: cases.correct_address("B-1", SUPPORT, GOOD, "x"),
    ]
    for attempt in attempts:
        if final == "cancel" and attempt is attempts[2]:
            # Cancelling a cancelled case asks for what it is: accepted, nothing recorded.
            assert not attempt().changed
            continue
        with pytest.raises(InvalidTransition):
            attempt()
    assert cases.get_case("B-1", SUPPORT).status is (
        Status.CANCELLED if final == "cancel" else Status.PAID
    )


def test_paid_is_for_support_only(cases: DunningCases) -> None:
    admit(cases)
    with pytest.raises(NotPermitted):
        cases.mark_paid("B-1", OWNER, "ich", "r")
    with pytest.raises(NotPermitted):
        cases.mark_paid("B-1", SYSTEM, "ich", "r")


def test_another_vendors_case_is_not_found_exactly_like_an_unknown_one(
    cases: DunningCases,
) -> None:
    admit(cases)
    with pytest.raises(CaseNotFound) as other:
        cases.start_dunning("B-1", OTHER)
    with pytest.raises(CaseNotFound) as unknown:
        cases.start_dunning("B-404", OTHER)
    assert str(other.value).replace("B-1", "X") == str(unknown.value).replace("B-404", "X")
    with pytest.raises(CaseNotFound):
        cases.get_case("B-1", OTHER)


@pytest.mark.parametrize(
    ("debtor", "amount", "fragment"),
    [
        (Debtor("", "Weg 1", "10115", "Berlin", "DE"), "1", "Name"),
        (Debtor("A", "", "10115", "Berlin", "DE"), "1", "Straße fehlt"),
        (Debtor("A", "Weg", "10115", "Berlin", "DE"), "1", "Hausnummer"),
        (Debtor("A", "Weg 1", "1011", "Berlin", "DE"), "1", "Postleitzahl"),
        (Debtor("A", "Weg 1", "10115", "Berlin", "AT"), "1", "Postleitzahl"),
        (Debtor("A", "Weg 1", "1010", "", "AT"), "1", "Ort fehlt"),
        (Debtor("A", "Weg 1", "75001", "Paris", "FR"), "1", "nicht bedient"),
        (Debtor("A", "Weg 1", "10115", "Berlin", "DE"), "0", "größer als 0"),
    ],
)
def test_handover_check_names_what_diagonal_is_missing(
    debtor: Debtor, amount: str, fragment: str
) -> None:
    errors = handover_errors(debtor, Decimal(amount))
    assert len(errors) == 1 and fragment in errors[0]


def test_handover_check_passes_complete_data_for_each_served_country() -> None:
    for debtor in (
        GOOD,
        Debtor("A", "Hauptplatz 1", "8010", "Graz", "AT"),
        Debtor("A", "Bahnhofstrasse 5", "8001", "Zürich", "CH"),
    ):
        assert handover_errors(debtor, Decimal("0.01")) == []
    assert (
        handover_errors(Debtor("A", "Weg 1", "75001", "Paris", "FR"), Decimal(1), ["DE", "FR"])
        == []
    )


def test_the_repair_step_two_after_diagonals_ack_is_accepted_without_a_change(
    cases: DunningCases,
) -> None:
    admit(cases, debtor=BAD)
    cases.start_dunning("B-1", OWNER)  # FAILED
    cases.correct_address("B-1", SUPPORT, GOOD, "richtige Adresse")
    cases.start_dunning("B-1", SUPPORT, "Schritt 1")  # Laufend
    cases.apply_ack("B-1", kind="received", message_id="ack-1")  # Diagonal was faster
    before = cases.get_case("B-1", SUPPORT).version
    outcome = cases.hand_over("B-1", SUPPORT, "Schritt 2")
    assert not outcome.changed and outcome.case.status is Status.HANDED_OVER
    assert cases.get_case("B-1", SUPPORT).version == before


@pytest.mark.parametrize(
    ("setup", "ask"),
    [
        (["start"], "start"),
        (["cancel"], "cancel"),
        (["block"], "block"),
        ([], "unblock"),
        (["paid"], "paid"),
    ],
)
def test_asking_for_the_status_a_case_already_has_changes_nothing(
    cases: DunningCases, setup: list[str], ask: str
) -> None:
    admit(cases)
    run = {
        "start": lambda: cases.start_dunning("B-1", SUPPORT),
        "cancel": lambda: cases.cancel("B-1", SUPPORT, "x"),
        "block": lambda: cases.block("B-1", SUPPORT, "x"),
        "unblock": lambda: cases.unblock("B-1", SUPPORT, "x"),
        "paid": lambda: cases.mark_paid("B-1", SUPPORT, "x", "ZE-1"),
    }
    for step in setup:
        run[step]()
    before = cases.get_case("B-1", SUPPORT).version
    assert not run[ask]().changed
    assert cases.get_case("B-1", SUPPORT).version == before


def test_a_second_payment_with_another_reference_is_refused(cases: DunningCases) -> None:
    admit(cases)
    cases.mark_paid("B-1", SUPPORT, "bezahlt", "ZE-1")
    with pytest.raises(InvalidTransition):
        cases.mark_paid("B-1", SUPPORT, "bezahlt", "ZE-2")


def test_a_role_that_may_never_is_still_forbidden_when_nothing_would_change(
    cases: DunningCases,
) -> None:
    admit(cases)
    cases.block("B-1", SUPPORT, "x")
    with pytest.raises(NotPermitted):
        cases.block("B-1", OWNER, "x")
