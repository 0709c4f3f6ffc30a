"""Random commands by random actors against a small reference model of the rules.

Never an illegal state; every accepted command appears in the history; every refused one
changes nothing; Diagonal's acks (duplicates included) are applied at most once."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from debtcases.bootstrap import utc_now
from debtcases.commands.app import Admission, DunningCases
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import CaseNotFound, InvalidTransition, NotPermitted
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


class DunningMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)
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
            assert case.status not in MODEL_ALREADY.get(command, set()), f"{command} refused"
        else:
            assert allowed is not None
            assert role != "vendor" or actor.vendor_id == OWNERS[order_id]
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
        elif command == "cancel":
            case.status, case.before_block = C, None
        elif command == "block":
            case.status, case.before_block = B, case.status
        elif command == "unblock":
            assert case.before_block is not None
            case.status, case.before_block = case.before_block, None
        elif command == "mark_paid":
            case.status, case.before_block = P, None
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

    @invariant()
    def matches_the_model(self) -> None:
        for order_id, model in self.model.items():
            case = self.app.get_case(order_id, ACTORS["support"])
            assert case.status is model.status
            assert case.status_before_block == model.before_block
            assert (case.status is B) == (case.status_before_block is not None)
            assert case.version == model.events
            assert case.fell_back == model.fell_back
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
