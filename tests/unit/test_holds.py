"""Holds (issue 11, part 1): a block has a reason code and may end by itself; the hold
scheduler ends it exactly at its end, once; a promise to pay not kept is broken the day
after its date; the vendor sees none of it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from debtcases.bootstrap import Container
from debtcases.commands.app import DunningCases
from debtcases.commands.holds import HOLD_SCHEDULER
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.errors import InvalidHold, InvalidTransition, NotPermitted
from debtcases.domain.holds import BERLIN, Hold, HoldReason, start_of_day
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter
from tests.builders import INTAKE, SUPPORT, VENDOR_ID, admission, callers

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
VENDOR = Actor.vendor(VENDOR_ID)
UNTIL = date(2024, 7, 1)
ENDS = datetime(2024, 7, 1, 0, 0, tzinfo=BERLIN)  # 00:00 Berlin = 2024-06-30T22:00Z
MICRO = timedelta(microseconds=1)


def running(c: Container, order_id: str) -> None:
    c.cases.admit(admission(order_id), INTAKE, T0)
    c.cases.start_dunning(order_id, VENDOR, now=T0)


def events(c: Container, order_id: str) -> list[Any]:
    return list(c.cases.events.get(case_id_for(order_id)))


def test_a_hold_until_a_day_ends_at_the_start_of_that_day_in_berlin() -> None:
    assert Hold(HoldReason.DISPUTE, until=UNTIL).ends_at == ENDS
    assert datetime(2024, 6, 30, 22, 0, tzinfo=UTC) == ENDS
    winter = Hold(HoldReason.LEGAL_CHECK, until=date(2024, 12, 2)).ends_at
    assert winter == datetime(2024, 12, 1, 23, 0, tzinfo=UTC)
    promise = Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("20"), date(2024, 6, 30))
    assert promise.ends_at == start_of_day(date(2024, 7, 1)) == ENDS
    assert Hold().ends_at is None


def test_a_hold_expires_exactly_at_until_and_not_before(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    running(c, "B-1")
    c.cases.block("B-1", SUPPORT, "Kunde bestreitet", T0, Hold(HoldReason.DISPUTE, UNTIL))
    c.runner.catch_up()
    assert c.holds.expire_holds(ENDS - MICRO).expired == []
    assert c.cases.get_case("B-1", SUPPORT).status is Status.BLOCKED
    report = c.holds.expire_holds(ENDS)
    assert report.expired == ["B-1"] and report.promises_broken == []
    case = c.cases.get_case("B-1", SUPPORT)
    assert case.status is Status.RUNNING and case.state.hold is None
    last = events(c, "B-1")[-1]
    assert isinstance(last, DunningCase.HoldExpired)
    assert last.ended_at == ENDS and last.timestamp == ENDS and not last.promise_broken
    assert last.actor == HOLD_SCHEDULER
    # Idempotent: the view still lists it until it catches up; the case decides nothing.
    again = c.holds.expire_holds(ENDS + timedelta(days=3))
    assert again.expired == [] and again.unchanged == 1
    c.runner.catch_up()
    assert c.holds.expire_holds(ENDS + timedelta(days=3)).looked_at == 0


def test_a_round_is_deterministic_for_a_given_now(
    make_container: Callable[..., Container],
) -> None:
    results = []
    for _ in range(2):
        c = make_container()
        for i, day in enumerate([date(2024, 7, 3), date(2024, 7, 1), date(2024, 7, 2)]):
            running(c, f"B-{i}")
            c.cases.block(f"B-{i}", SUPPORT, "r", T0, Hold(HoldReason.OTHER, day))
        running(c, "B-open")
        c.cases.block("B-open", SUPPORT, "r", T0, Hold(HoldReason.VENDOR_UNSURE))
        c.runner.catch_up()
        now = start_of_day(date(2024, 7, 2))
        report = c.holds.expire_holds(now)
        results.append(
            (report.expired, [(type(e).__name__, e.timestamp) for e in events(c, "B-1")])
        )
    assert results[0] == results[1]
    assert results[0][0] == ["B-1", "B-2"]  # soonest end first; B-0 not yet, B-open never


def test_a_broken_promise_is_detected_on_the_day_after_its_date(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    running(c, "B-1")
    c.cases.hand_over("B-1", SUPPORT, "r", now=T0)
    promise = Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("49.90"), date(2024, 6, 30))
    c.cases.block("B-1", SUPPORT, "zahlt bis Monatsende", T0, promise)
    c.runner.catch_up()
    last_minute = datetime(2024, 6, 30, 23, 59, 59, tzinfo=BERLIN)
    assert c.holds.expire_holds(last_minute).expired == []
    report = c.holds.expire_holds(datetime(2024, 7, 1, 0, 0, tzinfo=BERLIN))
    assert report.expired == report.promises_broken == ["B-1"]
    case = c.cases.get_case("B-1", SUPPORT)
    assert case.status is Status.HANDED_OVER
    [entry] = [e for e in c.cases.history("B-1", SUPPORT) if e.event == "HoldExpired"]
    assert entry.details["promise_broken"] is True
    assert entry.details["hold"]["promised_amount"] == "49.90"
    assert entry.from_status is Status.BLOCKED and entry.to_status is Status.HANDED_OVER
    assert "nicht eingehalten" in entry.reason


def test_a_kept_promise_is_not_broken(make_container: Callable[..., Container]) -> None:
    c = make_container()
    running(c, "B-1")
    promise = Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("10"), date(2024, 6, 30))
    c.cases.block("B-1", SUPPORT, "zahlt", T0, promise)
    c.cases.mark_paid("B-1", SUPPORT, "bezahlt", "ZV-1", now=T0 + timedelta(days=5))
    c.runner.catch_up()
    assert c.holds.expire_holds(ENDS + timedelta(days=1)).looked_at == 0
    assert c.cases.get_case("B-1", SUPPORT).status is Status.PAID


def test_hold_terms_are_checked() -> None:
    app = DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: T0)
    app.admit(admission("B-1"), INTAKE, T0)
    bad = [
        Hold(HoldReason.PROMISE_TO_PAY),  # no amount, no date
        Hold(HoldReason.PROMISE_TO_PAY, UNTIL, Decimal("1"), date(2024, 7, 1)),  # and until
        Hold(HoldReason.DISPUTE, None, Decimal("1")),  # a promise's amount on a dispute
        Hold(HoldReason.DISPUTE, date(2024, 6, 3)),  # ended at 00:00 today, before T0
    ]
    for hold in bad:
        with pytest.raises(InvalidHold):
            app.block("B-1", SUPPORT, "r", T0, hold)
    with pytest.raises(NotPermitted):
        app.expire_hold("B-1", SUPPORT, T0)
    app.block("B-1", SUPPORT, "r", T0, Hold(HoldReason.DISPUTE, UNTIL))
    assert not app.block("B-1", SUPPORT, "r", T0, Hold(HoldReason.DISPUTE, UNTIL)).changed
    with pytest.raises(InvalidTransition):
        app.block("B-1", SUPPORT, "r", T0, Hold(HoldReason.DISPUTE, date(2024, 8, 1)))


def test_a_block_stored_before_reason_codes_loads_as_other_without_an_end() -> None:
    app = DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: T0)
    app.admit(admission("B-1"), INTAKE, T0)
    case = app.get_case("B-1", SUPPORT)
    case.block(SUPPORT, T0, "alt")
    [pending] = case.collect_events()
    stored = app.mapper.to_stored_event(pending)
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    del state["hold"]  # as the release before holds wrote it
    old = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    app.recorder.insert_events([old])
    loaded = app.get_case("B-1", SUPPORT)
    assert loaded.status is Status.BLOCKED and loaded.state.hold == Hold(HoldReason.OTHER)
    assert loaded.state.hold_ends_at is None
    assert app.unblock("B-1", SUPPORT, "weiter").case.status is Status.LOCKED


def test_the_vendor_never_sees_a_hold(make_container: Callable[..., Container]) -> None:
    c = make_container()
    api = callers(c, "/api/v1")
    support, vendor = api["support"], api["vendor"]
    vendor.post("/cases", expect=403)  # (vendors do not admit; just a sanity check)
    api["intake"].post(
        "/cases",
        {
            "order_id": "B-1",
            "user_id": VENDOR_ID,
            "amount": "49.90",
            "debtor": admission("B-1").debtor.as_dict(),
        },
        expect=201,
    )
    before = vendor.get("/cases/B-1", expect=200)
    vendor_list = vendor.get("/vendor/cases", expect=200)
    vendor_history = vendor.get("/cases/B-1/history", expect=200)
    until = (datetime.now(BERLIN) + timedelta(days=10)).date().isoformat()
    held = support.post(
        "/cases/B-1/block",
        {"reason": "Kunde bestreitet", "code": "dispute", "until": until},
        expect=200,
    )
    assert held["status"] == "BLOCKED" and held["hold"]["code"] == "dispute"
    assert held["hold"]["until"] == until and held["hold"]["ends_at"]
    after = vendor.get("/cases/B-1", expect=200)
    assert after == before and "hold" not in after
    assert vendor.get("/vendor/cases", expect=200) == vendor_list
    assert vendor.get("/cases/B-1/history", expect=200) == vendor_history
    assert vendor.get("/vendor/cases", hold_reason="dispute").status_code == 422
    csv_text = vendor.get("/vendor/cases.csv").text
    assert "dispute" not in csv_text and "Blockiert" not in csv_text
    # The hold's end (by the scheduler, at a moment after it) is invisible too.
    c.runner.catch_up()
    c.holds.expire_holds(datetime.now(UTC) + timedelta(days=11))
    c.runner.catch_up()
    assert vendor.get("/cases/B-1", expect=200) == before
    assert vendor.get("/cases/B-1/history", expect=200) == vendor_history
    support_events = [e["event"] for e in support.get("/cases/B-1/history", expect=200)["entries"]]
    assert support_events[-2:] == ["Blocked", "HoldExpired"]


def test_support_filters_holds_by_reason_and_by_when_they_end(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    api = callers(c, "/api/v1")
    support = api["support"]
    today = datetime.now(BERLIN).date()
    for order_id, body in [
        ("B-1", {"code": "dispute", "until": (today + timedelta(days=3)).isoformat()}),
        ("B-2", {"code": "dispute", "until": (today + timedelta(days=20)).isoformat()}),
        (
            "B-3",
            {
                "code": "promise_to_pay",
                "promised_amount": "20.00",
                "promised_date": (today + timedelta(days=1)).isoformat(),
            },
        ),
        ("B-4", {"code": "legal_check"}),
        ("B-5", None),
    ]:
        c.cases.admit(admission(order_id), INTAKE)
        if body is not None:
            support.post(f"/cases/{order_id}/block", {"reason": "r", **body}, expect=200)

    def listed(**params: Any) -> list[str]:
        page = support.get("/support/cases", expect=200, **params)
        assert page["total"] == len(page["items"])
        return sorted(i["order_id"] for i in page["items"])

    assert listed(hold_reason="dispute") == ["B-1", "B-2"]
    assert listed(hold_reason="legal_check") == ["B-4"]
    assert listed(hold_ends_within_days=7) == ["B-1", "B-3"]
    assert listed(hold_ends_within_days=7, hold_reason="dispute") == ["B-1"]
    assert listed(hold_ends_within_days=30) == ["B-1", "B-2", "B-3"]
    assert support.get("/support/cases", hold_reason="vacation").status_code == 422
    assert support.get("/support/cases", hold_ends_within_days=-1).status_code == 422
    problem = support.post(
        "/cases/B-5/block", {"reason": "r", "code": "promise_to_pay"}, expect=422
    )
    assert "promised" in problem["detail"]
    past = support.post(
        "/cases/B-5/block",
        {"reason": "r", "code": "dispute", "until": (today - timedelta(days=1)).isoformat()},
        expect=409,
    )
    assert past["code"] == "invalid_hold"
    # The old body (a reason only) still blocks, with reason code `other` and no end.
    plain = support.post("/cases/B-5/block", {"reason": "r"}, expect=200)
    assert plain["hold"] == {
        "code": "other",
        "until": None,
        "promised_amount": None,
        "promised_date": None,
        "ends_at": None,
    }
    # The views find due holds by their end, not by loading cases.
    assert c.views.recorder.due_holds(datetime.now(UTC), 10) == []
    later = start_of_day(today + timedelta(days=3))
    assert c.views.recorder.due_holds(later, 10) == ["B-3", "B-1"]
    rows, _ = c.views.page_cases(CaseFilter(hold_reason="dispute"), Role.VENDOR, VENDOR_ID)
    assert len(rows) == 5  # a vendor's query ignores hold filters (the API refuses them)


def test_the_demo_shows_a_hold_ending_tomorrow_a_broken_promise_and_a_reopened_case(
    make_container: Callable[..., Container],
) -> None:
    from debtcases.commands.demo import seed_demo

    c = make_container()
    seed_demo(c.cases)
    c.runner.catch_up()
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    held = c.cases.get_case("B-2024-000300", SUPPORT).state.hold
    assert held is not None and held.until == tomorrow and held.code is HoldReason.VENDOR_UNSURE
    rows, _ = c.views.page_cases(
        CaseFilter(hold_ends_by=start_of_day(tomorrow)), Role.SUPPORT, None
    )
    assert [r["order_id"] for r in rows] == ["B-2024-000300"]
    broken = c.cases.history("B-2024-000302", SUPPORT)[-1]
    assert broken.event == "HoldExpired" and broken.details["promise_broken"] is True
    reopened = c.cases.history("B-2024-000303", SUPPORT)
    assert [e.event for e in reopened][-2:] == ["Cancelled", "Reopened"]
    assert c.cases.get_case("B-2024-000303", SUPPORT).status is Status.LOCKED
