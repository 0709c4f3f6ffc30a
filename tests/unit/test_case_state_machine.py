"""Random commands by random actors against a small reference model of the rules.

Never an illegal state; every accepted command appears in the history; every refused one
changes nothing; Diagonal's acks (duplicates included) are applied at most once. The clock
jumps: holds with an end (or a promise to pay) end exactly when the model says, and
support's correction reopens a PAID / CANCELLED case only within its window."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from debtcases.commands.app import Admission, DunningCases
from debtcases.commands.holds import HOLD_SCHEDULER
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import (
    CaseNotFound,
    InvalidTransition,
    NotPermitted,
    ReopenWindowClosed,
)
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.statuses import Status
from tests.builders import DEBTOR as GOOD

L, R, F, H, C, B, P = (
    Status.LOCKED,
    Status.RUNNING,
    Status.FAILED,
    Status.HANDED_OVER,
    Status.CANCELLED,
    Status.BLOCKED,
    Status.PAID,
)
OPEN = {L, R, F, H}
# The rules, written out again independently of src/: command -> role -> from-statuses.
MODEL_RULES: dict[str, dict[str, set[Status]]] = {
    "start": {"vendor": {L}, "support": {L, F}},
    "hand_over": {"support": {R}},
    "cancel": {"vendor": OPEN, "support": OPEN | {B}},
    "block": {"support": OPEN},
    "unblock": {"support": {B}},
    "mark_paid": {"support": OPEN | {B}},
    "correct_address": {"support": OPEN | {B}},
}
# Asking for what the case already is: accepted, nothing recorded (unblock asks "not blocked").
MODEL_ALREADY: dict[str, set[Status]] = {
    "start": {R},
    "hand_over": {H},
    "cancel": {C},
    "block": {B},
    "unblock": {L, R, F, H},
    "mark_paid": {P},
}
# Written out again: a hold until a day ends at 00:00 Berlin of that day; a promise to pay
# by a day ends at 00:00 Berlin of the day after; a correction is possible for 30 days.
MODEL_BERLIN = ZoneInfo("Europe/Berlin")
MODEL_WINDOW = timedelta(days=30)
START = datetime(2024, 3, 29, 10, 0, tzinfo=UTC)  # just before a DST change


PLAIN_HOLD: tuple[object, ...] = ("other", None, None, None)  # a block without terms


def model_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=MODEL_BERLIN)


BAD = Debtor("Tobias Weiß", "Musterweg", "123", "Köln", "DE")
OWNERS = {"A-1": 100, "A-2": 100, "B-1": 200}
ACTORS = {
    "support": Actor.support("anna"),
    "vendor100": Actor.vendor(100),
    "vendor200": Actor.vendor(200),
    "system": Actor.system("intake"),
}


class ModelCase:
    def __init__(self, valid: bool) -> None:
        self.status = L
        self.before_block: Status | None = None
        self.valid = valid
        self.admitted_valid = valid  # admission data never changes; the address may
        self.events = 1
        self.acks: set[str] = set()
        # Fall-back: Diagonal rejected it after HANDED_OVER or during support's repair
        # (started from FAILED); kept until Diagonal receives the case.
        self.repairing = False
        self.fell_back = False
        self.hold_terms: tuple[object, ...] | None = None  # while blocked
        self.hold_end: datetime | None = None
        # While PAID / CANCELLED: when, and what the case was before.
        self.closed: tuple[datetime, Status, Status | None, tuple[object, ...] | None] | None
        self.closed = None
        self.closed_end: datetime | None = None


class DunningMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.app = DunningCases(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: self.now
        )
        self.model: dict[str, ModelCase] = {}

    @rule(order_id=st.sampled_from(sorted(OWNERS)), valid=st.booleans())
    def admit(self, order_id: str, valid: bool) -> None:
        debtor = GOOD if valid else BAD
        admission = Admission(order_id, OWNERS[order_id], Decimal("12.50"), "EUR", debtor)
        if order_id in self.model:
            # The same data: as admitted, or with the address as corrected since.
            same = valid in (self.model[order_id].admitted_valid, self.model[order_id].valid)
            try:
                outcome = self.app.admit(admission, ACTORS["system"])
            except Exception as exc:
                assert not same and type(exc).__name__ == "OrderConflict"
            else:
                assert same and not outcome.created
            return
        self.app.admit(admission, ACTORS["system"])
        self.model[order_id] = ModelCase(valid)

    @precondition(lambda self: self.model)
    @rule(
        data=st.data(),
        command=st.sampled_from(sorted(MODEL_RULES)),
        who=st.sampled_from(sorted(ACTORS)),
        fix_to=st.booleans(),
    )
    def command(self, data: st.DataObject, command: str, who: str, fix_to: bool) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.model)))
        case = self.model[order_id]
        actor = ACTORS[who]
        before = self.app.get_case(order_id, ACTORS["support"]).version
        call = {
            "start": lambda: self.app.start_dunning(order_id, actor),
            "hand_over": lambda: self.app.hand_over(order_id, actor, "r"),
            "cancel": lambda: self.app.cancel(order_id, actor, "r"),
            "block": lambda: self.app.block(order_id, actor, "r"),
            "unblock": lambda: self.app.unblock(order_id, actor, "r"),
            "mark_paid": lambda: self.app.mark_paid(order_id, actor, "r", "ref"),
            "correct_address": lambda: self.app.correct_address(
                order_id, actor, GOOD if fix_to else BAD, "r"
            ),
        }[command]
        role = actor.role.value
        allowed = MODEL_RULES[command].get(role)
        try:
            outcome = call()
        except NotPermitted:
            assert allowed is None, f"{role} refused {command}"
        except CaseNotFound:
            assert role == "vendor" and actor.vendor_id != OWNERS[order_id]
        except InvalidTransition:
            assert allowed is not None and case.status not in allowed
            if command == "block" and case.status is B:
                assert case.hold_terms != PLAIN_HOLD  # blocked already with other terms
            else:
                assert case.status not in MODEL_ALREADY.get(command, set()), f"{command} refused"
        else:
            assert allowed is not None
            assert role != "vendor" or actor.vendor_id == OWNERS[order_id]
            if command == "block" and case.status is B:
                assert case.hold_terms == PLAIN_HOLD
            if case.status in MODEL_ALREADY.get(command, set()):
                assert not outcome.changed, f"{command} on {case.status} recorded something"
                assert self.app.get_case(order_id, ACTORS["support"]).version == before
                return
            assert case.status in allowed and outcome.changed
            self._apply(case, command, fix_to)
            case.events += 1
            return
        # Refused: nothing changed.
        assert self.app.get_case(order_id, ACTORS["support"]).version == before

    def _apply(self, case: ModelCase, command: str, fix_to: bool) -> None:
        if command in ("start", "hand_over"):
            if command == "start" and case.valid and case.status is F:
                case.repairing = True
            case.status = (R if command == "start" else H) if case.valid else F
        elif command in ("cancel", "mark_paid"):
            case.closed = (self.now, case.status, case.before_block, case.hold_terms)
            case.closed_end = case.hold_end
            case.status, case.before_block = (C if command == "cancel" else P), None
            case.hold_terms = case.hold_end = None
        elif command == "block":
            case.status, case.before_block = B, case.status
            case.hold_terms, case.hold_end = PLAIN_HOLD, None
        elif command == "unblock":
            assert case.before_block is not None
            case.status, case.before_block = case.before_block, None
            case.hold_terms = case.hold_end = None
        elif command == "correct_address":
            case.valid = fix_to

    @precondition(lambda self: self.model)
    @rule(
        data=st.data(),
        kind=st.sampled_from(["received", "rejected", "closed"]),
        message=st.sampled_from(["m1", "m2", "m3", "m4"]),
    )
    def diagonal_ack(self, data: st.DataObject, kind: str, message: str) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.model)))
        case = self.model[order_id]
        message_id = f"{order_id}-{message}"
        outcome = self.app.apply_ack(
            order_id, kind=kind, message_id=message_id, errors=["Adresse unbekannt"]
        )
        if message_id in case.acks:
            assert not outcome.changed
            return
        assert outcome.changed
        case.acks.add(message_id)
        case.events += 1
        effective = case.before_block if case.status is B else case.status
        if kind == "received" and effective is R:
            case.repairing = case.fell_back = False
            if case.status is B:
                case.before_block = H
            else:
                case.status = H
        elif kind == "rejected" and effective in (R, H):
            case.fell_back = case.fell_back or effective is H or case.repairing
            if case.status is B:
                case.before_block = F
            else:
                case.status = F

    @rule(hours=st.integers(min_value=1, max_value=24 * 40))
    def clock_jumps(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @precondition(lambda self: self.model)
    @rule(
        data=st.data(),
        days=st.integers(min_value=1, max_value=6),
        promise=st.booleans(),
        who=st.sampled_from(["support", "vendor100"]),
    )
    def block_with_an_end(self, data: st.DataObject, days: int, promise: bool, who: str) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.model)))
        case = self.model[order_id]
        today = self.now.astimezone(MODEL_BERLIN).date()
        if promise:
            promised = today + timedelta(days=days - 1)
            terms: tuple[object, ...] = ("promise_to_pay", None, Decimal("5.00"), promised)
            end = model_end(promised + timedelta(days=1))
        else:
            terms = ("dispute", today + timedelta(days=days), None, None)
            end = model_end(today + timedelta(days=days))
        hold = Hold(HoldReason(str(terms[0])), terms[1], terms[2], terms[3])  # type: ignore[arg-type]
        before = self.app.get_case(order_id, ACTORS["support"]).version
        try:
            outcome = self.app.block(order_id, ACTORS[who], "r", self.now, hold)
        except NotPermitted:
            assert who != "support"
        except InvalidTransition:
            assert case.status in (C, P) or (case.status is B and case.hold_terms != terms)
        else:
            assert who == "support"
            if case.status is B:
                assert case.hold_terms == terms and not outcome.changed
            else:
                assert case.status in OPEN and outcome.changed
                case.status, case.before_block = B, case.status
                case.hold_terms, case.hold_end = terms, end
                case.events += 1
                return
        assert self.app.get_case(order_id, ACTORS["support"]).version == before

    @precondition(lambda self: self.model)
    @rule(earlier=st.sampled_from([timedelta(0), timedelta(microseconds=1)]))
    def scheduler_runs(self, earlier: timedelta) -> None:
        """The scheduler's decision for every case, at now (or a moment before)."""
        at = self.now - earlier
        for order_id, case in sorted(self.model.items()):
            outcome = self.app.expire_hold(order_id, HOLD_SCHEDULER, at)
            due = case.status is B and case.hold_end is not None and case.hold_end <= at
            assert outcome.changed == due, (order_id, case.hold_end, at)
            if due:
                assert case.before_block is not None
                case.status, case.before_block = case.before_block, None
                case.hold_terms = case.hold_end = None
                case.events += 1

    @precondition(lambda self: self.model)
    @rule(
        data=st.data(),
        who=st.sampled_from(["support", "support", "support", "vendor100", "system"]),
    )
    def reopen(self, data: st.DataObject, who: str) -> None:
        closed = sorted(o for o, c in self.model.items() if c.status in (C, P))
        order_id = data.draw(st.sampled_from(closed or sorted(self.model)))
        case = self.model[order_id]
        before = self.app.get_case(order_id, ACTORS["support"]).version
        try:
            outcome = self.app.reopen(order_id, ACTORS[who], "Irrtum", self.now)
        except NotPermitted:
            assert who != "support"
        except ReopenWindowClosed:
            assert case.closed is not None and self.now - case.closed[0] > MODEL_WINDOW
        else:
            assert who == "support"
            if case.closed is None:
                assert not outcome.changed
            else:
                assert outcome.changed and self.now - case.closed[0] <= MODEL_WINDOW
                _, case.status, case.before_block, case.hold_terms = case.closed
                case.hold_end, case.closed, case.closed_end = case.closed_end, None, None
                case.events += 1
                return
        assert self.app.get_case(order_id, ACTORS["support"]).version == before

    @invariant()
    def matches_the_model(self) -> None:
        for order_id, model in self.model.items():
            case = self.app.get_case(order_id, ACTORS["support"])
            assert case.status is model.status
            assert case.status_before_block == model.before_block
            assert (case.status is B) == (case.status_before_block is not None)
            assert case.version == model.events
            assert case.fell_back == model.fell_back
            assert case.state.hold_ends_at == model.hold_end
            assert (case.state.hold is None) == (model.status is not B)
            vendor_view = case.status_for(Role.VENDOR)
            assert vendor_view is not B
            history = self.app.history(order_id, ACTORS["support"])
            assert len(history) == model.events
            assert [e.version for e in history] == list(range(1, model.events + 1))
            for earlier, later in itertools.pairwise(history):
                assert earlier.to_status == later.from_status
            if case.status is F and not model.valid:
                assert case.errors
            vendor_history = self.app.history(order_id, Actor.vendor(OWNERS[order_id]))
            assert all(e.to_status is not B and e.from_status is not B for e in vendor_history)


DunningMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestDunningCaseRules = DunningMachine.TestCase
