"""Corrections (issue 11, part 2): support reopens a mistaken PAID or CANCELLED within the
window, with a reason; the case is back where it was and behaves as before the mistake;
the history shows both; Diagonal is told when it was told of the mistake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from debtcases.bootstrap import Container
from debtcases.consumers.messages import message_id_for
from debtcases.domain.actors import Actor
from debtcases.domain.case import case_id_for
from debtcases.domain.errors import NotPermitted, ReasonRequired, ReopenWindowClosed
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.statuses import Status
from tests.builders import INTAKE, SUPPORT, VENDOR_ID, admission, callers

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
VENDOR = Actor.vendor(VENDOR_ID)
WINDOW = timedelta(days=30)


def test_a_cancelled_locked_case_reopened_can_be_started_again(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.cancel("B-1", VENDOR, "falsche Bestellung", now=T0)
    outcome = c.cases.reopen("B-1", SUPPORT, "Versehentlich gekündigt", T0 + timedelta(hours=1))
    assert outcome.case.status is Status.LOCKED
    assert c.cases.start_dunning("B-1", VENDOR, now=T0 + timedelta(hours=2)).changed
    assert c.cases.get_case("B-1", SUPPORT).status is Status.RUNNING


def test_a_running_case_paid_by_mistake_can_be_handed_over_again(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.start_dunning("B-1", VENDOR, now=T0)
    c.cases.mark_paid("B-1", SUPPORT, "Zahlung", "ZV-9", now=T0 + timedelta(days=1))
    case = c.cases.reopen("B-1", SUPPORT, "Falsche Bestellung markiert", T0 + timedelta(days=2))
    state = case.case.state
    assert state.status is Status.RUNNING and state.payment_reference is None
    assert state.running_since == T0 and not state.awaiting_diagonal_close
    handed = c.cases.hand_over("B-1", SUPPORT, "Schritt 2", T0 + timedelta(days=3))
    assert handed.case.status is Status.HANDED_OVER
    # And it can be paid again (with another reference): the old one is gone.
    c.cases.mark_paid("B-1", SUPPORT, "Zahlung", "ZV-10", now=T0 + timedelta(days=4))


def test_reopen_only_within_the_window(make_container: Callable[..., Container]) -> None:
    c = make_container()
    for order_id in ("B-1", "B-2"):
        c.cases.admit(admission(order_id), INTAKE, T0)
        c.cases.mark_paid(order_id, SUPPORT, "Zahlung", "ZV", now=T0)
    assert c.cases.reopen("B-1", SUPPORT, "Irrtum", T0 + WINDOW).changed  # the last moment
    with pytest.raises(ReopenWindowClosed):
        c.cases.reopen("B-2", SUPPORT, "Irrtum", T0 + WINDOW + timedelta(microseconds=1))
    assert c.cases.get_case("B-2", SUPPORT).status is Status.PAID


def test_the_window_is_a_setting(make_container: Callable[..., Container]) -> None:
    c = make_container(reopen_window_days=1)
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.cancel("B-1", SUPPORT, "storniert", now=T0)
    with pytest.raises(ReopenWindowClosed):
        c.cases.reopen("B-1", SUPPORT, "Irrtum", T0 + timedelta(days=2))


def test_reopen_is_support_only_and_needs_a_reason(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.cancel("B-1", VENDOR, "storniert", now=T0)
    for actor in (VENDOR, INTAKE, Actor.diagonal("m-1")):
        with pytest.raises(NotPermitted):
            c.cases.reopen("B-1", actor, "Irrtum", T0)
    with pytest.raises(ReasonRequired):
        c.cases.reopen("B-1", SUPPORT, "  ", T0)
    # An open case is what reopen asks for: nothing recorded.
    c.cases.reopen("B-1", SUPPORT, "Irrtum", T0)
    assert not c.cases.reopen("B-1", SUPPORT, "Irrtum", T0).changed


def test_reopen_over_http(make_container: Callable[..., Container]) -> None:
    c = make_container()
    api = callers(c, "/api/v1")
    support, vendor = api["support"], api["vendor"]
    c.cases.admit(admission("B-1"), INTAKE)
    c.cases.mark_paid("B-1", SUPPORT, "Zahlung", "ZV-1")
    # The role is checked before the body: a vendor gets 403 whatever it sends.
    assert vendor.post("/cases/B-1/reopen", raw=b"{broken").status_code == 403
    assert vendor.post("/cases/B-1/reopen", {"reason": "x"}).status_code == 403
    missing = support.post("/cases/B-1/reopen", {}, expect=422)
    assert missing["errors"][0]["field"] == "reason"
    support.post("/cases/B-1/reopen", {"reason": "  "}, expect=422)
    reopened = support.post("/cases/B-1/reopen", {"reason": "Falscher Fall"}, expect=200)
    assert reopened["status"] == "LOCKED" and reopened["changed"] is True
    entries = support.get("/cases/B-1/history", expect=200)["entries"]
    paid, correction = entries[-2], entries[-1]
    assert paid["event"] == "Paid" and correction["event"] == "Reopened"
    assert correction["details"]["corrects_version"] == paid["version"]
    assert correction["details"]["corrects_event"] == "Paid"
    assert paid["details"]["corrected_by_version"] == correction["version"]
    assert correction["from_status"] == "PAID" and correction["to_status"] == "LOCKED"
    assert correction["reason"] == "Falscher Fall"
    vendor_entries = vendor.get("/cases/B-1/history", expect=200)["entries"]
    assert [e["event"] for e in vendor_entries][-2:] == ["Paid", "Reopened"]
    assert "reference" not in vendor_entries[-2]["details"]


def test_reopen_outside_the_window_is_a_409_with_its_own_code(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    api = callers(c, "/api/v1")
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.cancel("B-1", SUPPORT, "storniert", now=T0)  # long ago: the clock is today
    problem = api["support"].post("/cases/B-1/reopen", {"reason": "Irrtum"}, expect=409)
    assert problem["code"] == "reopen_window_closed"
    assert problem["window_days"] == 30 and problem["closed_at"].startswith("2024-06-03")


def test_a_case_blocked_before_the_mistake_is_blocked_again_with_its_hold(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.start_dunning("B-1", VENDOR, now=T0)
    hold = Hold(HoldReason.DISPUTE, date(2024, 7, 1))
    c.cases.block("B-1", SUPPORT, "Streit", T0, hold)
    c.cases.cancel("B-1", SUPPORT, "storniert", now=T0 + timedelta(days=1))
    case = c.cases.reopen("B-1", SUPPORT, "Irrtum", T0 + timedelta(days=2)).case
    assert case.status is Status.BLOCKED and case.status_before_block is Status.RUNNING
    assert case.state.hold == hold
    assert case.status_for(VENDOR.role) is Status.RUNNING
    c.runner.catch_up()
    [row] = c.views.recorder.all_case_rows()
    assert row["hold_reason"] == "dispute" and row["status_before_block"] == "RUNNING"
    assert c.holds.expire_holds(datetime(2024, 7, 1, tzinfo=UTC)).expired == ["B-1"]


def test_diagonal_is_told_of_the_correction_only_when_it_was_told_of_the_mistake(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.start_dunning("B-1", VENDOR, now=T0)
    c.cases.apply_ack("B-1", kind="received", message_id="d-1", now=T0)
    c.cases.mark_paid("B-1", SUPPORT, "Zahlung", "ZV-1", now=T0 + timedelta(days=1))
    c.cases.apply_ack("B-1", kind="closed", message_id="d-2", now=T0 + timedelta(days=1))
    paid_version = c.cases.get_case("B-1", SUPPORT).version - 1
    reopened = c.cases.reopen("B-1", SUPPORT, "Irrtum", T0 + timedelta(days=2)).case
    assert reopened.status is Status.HANDED_OVER and reopened.closed_at_diagonal_at is None
    c.cases.admit(admission("B-2"), INTAKE, T0)
    c.cases.cancel("B-2", VENDOR, "storniert", now=T0)
    c.cases.reopen("B-2", SUPPORT, "Irrtum", T0)
    c.runner.catch_up()
    rows = c.diagonal.outbox.messages()
    assert [r.type for r in rows if r.order_id == "B-2"] == []
    assert [r.type for r in rows if r.order_id == "B-1"] == [
        "handover",
        "portal_access",
        "payment",
        "reopen",
    ]
    reopen = rows[-1].payload
    assert reopen["schema_version"] == 1 and reopen["type"] == "reopen"
    assert reopen["corrects"] == {
        "type": "payment",
        "message_id": message_id_for(case_id_for("B-1"), paid_version, "payment"),
    }
    assert reopen["corrects"]["message_id"] == rows[-2].message_id
    assert reopen["debtor"]["name"] and reopen["amount"] == "49.90"
    assert reopen["reason"] == "Irrtum" and reopen["order_id"] == "B-1"
    assert Decimal(reopen["amount"]) == Decimal("49.90")


def test_a_case_reopened_into_its_block_holds_its_reopen_message_until_the_hold_ends(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE, T0)
    c.cases.start_dunning("B-1", VENDOR, now=T0)
    c.cases.apply_ack("B-1", kind="received", message_id="d-1", now=T0)
    c.cases.block("B-1", SUPPORT, "Streit", T0, Hold(HoldReason.DISPUTE, date(2024, 7, 1)))
    c.cases.cancel("B-1", SUPPORT, "storniert", now=T0 + timedelta(days=1))
    c.cases.reopen("B-1", SUPPORT, "Irrtum", T0 + timedelta(days=2))
    c.runner.catch_up()
    outbox = c.diagonal.outbox
    assert [r.type for r in outbox.messages("B-1")][-2:] == ["withdrawal", "reopen"]
    assert "reopen" not in [r.type for r in outbox.unsent()]  # held with the case
    c.holds.expire_holds(datetime(2024, 7, 1, tzinfo=UTC))
    c.runner.catch_up()
    assert "reopen" in [r.type for r in outbox.unsent()]
