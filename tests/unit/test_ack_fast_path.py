"""The ack path's shortcuts must be exactly what they replace: ``DunningCase._trigger``
builds the event the library's ``trigger_event`` builds (same fields in the same order,
same stored bytes, same case after it), a new case's state is the one ``CaseState(...)``
builds, ``case_id_for`` is ``uuid5``, and ``parse_ack_input`` takes what ``parse_ack``
takes and refuses what it refuses, for the same reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debtcases.bootstrap import utc_now
from debtcases.commands.acks import AckInput
from debtcases.commands.app import DunningCases
from debtcases.consumers.messages import BadAck, parse_ack, parse_ack_input
from debtcases.domain import case as case_module
from debtcases.domain.actors import Actor
from debtcases.domain.case import CASE_NAMESPACE, DunningCase, case_id_for
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import DomainError
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.state import CaseState, evolve
from tests.builders import DEBTOR

SUPPORT, VENDOR = Actor.support("anna"), Actor.vendor(7)
START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
SERVED = frozenset({"DE", "AT"})
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

# One decision on a case at a moment: (name, call). Together they reach every event.
Decision = tuple[str, Callable[[DunningCase, datetime], None]]


def _decisions() -> st.SearchStrategy[Decision]:
    actor = st.sampled_from([SUPPORT, VENDOR, Actor.system("scheduler")])
    ack_kind = st.sampled_from(["received", "rejected", "closed"])
    message_id = st.sampled_from(["m-1", "m-2", "m-3"]) | text
    hold = st.sampled_from(
        [
            None,
            Hold(),
            Hold(HoldReason.OTHER, until=date(2024, 6, 1)),
            Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("10.00"), date(2024, 5, 20)),
        ]
    )
    bad_debtor = Debtor("", "Lindenstraße 12", "1", "Berlin", "XX")
    return st.one_of(
        st.builds(
            lambda a, r: ("start", lambda c, t: c.start_dunning(a, t, r, SERVED)), actor, text
        ),
        st.builds(lambda r: ("hand_over", lambda c, t: c.hand_over(SUPPORT, t, r, SERVED)), text),
        st.builds(lambda a, r: ("cancel", lambda c, t: c.cancel(a, t, r)), actor, text),
        st.builds(lambda r, h: ("block", lambda c, t: c.block(SUPPORT, t, r, h)), text, hold),
        st.builds(lambda r: ("unblock", lambda c, t: c.unblock(SUPPORT, t, r)), text),
        st.just(("expire_hold", lambda c, t: c.expire_hold(Actor.system("holds"), t))),
        st.builds(
            lambda r: ("reopen", lambda c, t: c.reopen(SUPPORT, t, r, timedelta(days=30))), text
        ),
        st.builds(
            lambda r, ref: ("mark_paid", lambda c, t: c.mark_paid(SUPPORT, t, r, ref)),
            text,
            st.sampled_from(["P-1", "P-2"]),
        ),
        st.builds(
            lambda d, r: (
                "correct_address",
                lambda c, t: c.correct_address(SUPPORT, t, d, r, SERVED),
            ),
            st.sampled_from([DEBTOR, bad_debtor]),
            text,
        ),
        st.builds(
            lambda k, m, e: (
                "ack",
                lambda c, t: c.apply_ack(kind=k, message_id=m, errors=e, now=t),
            ),
            ack_kind,
            message_id,
            st.lists(text, max_size=2),
        ),
    )


@contextmanager
def the_library_triggers() -> Iterator[None]:
    """``_trigger`` the way it was: every event through the library's ``trigger_event``."""
    with mock.patch.object(case_module, "_own_fields", lambda _cls: None):
        yield


def _admitted() -> DunningCase:
    return DunningCase.admit(
        order_id="O-1",
        user_id=7,
        amount=Decimal("49.90"),
        currency="EUR",
        debtor=DEBTOR,
        actor=Actor.system("intake"),
        reason="",
        now=START,
    )


def _outcome(
    case: DunningCase, decide: Callable[[DunningCase, datetime], None], at: datetime
) -> Any:
    try:
        decide(case, at)
    except DomainError as refused:
        return type(refused), str(refused)
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_decisions(), st.integers(0, 40 * 24)), min_size=1, max_size=12))
def test_every_decision_records_the_event_the_library_records_byte_for_byte(
    steps: list[tuple[Decision, int]],
) -> None:
    app = DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)
    fast, slow = _admitted(), _admitted()
    fast.collect_events(), slow.collect_events()
    at = START
    for (_name, decide), hours in steps:
        at += timedelta(hours=hours)
        outcome = _outcome(fast, decide, at)
        with the_library_triggers():
            assert _outcome(slow, decide, at) == outcome
        fast_events, slow_events = fast.collect_events(), slow.collect_events()
        assert [type(e) for e in fast_events] == [type(e) for e in slow_events]
        for f, s in zip(fast_events, slow_events, strict=True):
            assert list(vars(f).items()) == list(vars(s).items())  # values and their order
            assert app.mapper.to_stored_event(f) == app.mapper.to_stored_event(s)
        assert (fast.version, fast.modified_on, fast.state) == (
            slow.version,
            slow.modified_on,
            slow.state,
        )
        assert fast == slow  # every attribute, as the library compares aggregates


def test_a_decision_the_fold_refuses_changes_nothing() -> None:
    """``apply`` runs before the version moves and before the event is pending."""
    case = _admitted()
    case.collect_events()
    with (
        mock.patch.object(
            DunningCase.Event, "apply", side_effect=ValueError("refused by the fold")
        ),
        pytest.raises(ValueError, match="refused by the fold"),
    ):
        case.apply_ack(kind="received", message_id="m-1", errors=[], now=START)
    assert (case.version, case.modified_on, case.pending_events) == (1, START, [])


def test_unusual_triggers_go_the_librarys_way() -> None:
    case = _admitted()
    with pytest.raises(TypeError, match="Can't construct event"):  # a missing field
        case._trigger(DunningCase.Unblocked, START, actor=SUPPORT)
    with pytest.raises(TypeError, match="Can't construct event"):  # an unknown one
        case._trigger(
            DunningCase.Unblocked, START, actor=SUPPORT, reason="", to_status="LOCKED", x=1
        )
    assert case_module._own_fields(DunningCase.Locked) is None  # a created event


@given(st.text(max_size=40))
def test_the_case_id_is_uuid5_of_the_order(order_id: str) -> None:
    try:
        expected = uuid.uuid5(CASE_NAMESPACE, order_id)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            case_id_for(order_id)
        return
    found = case_id_for(order_id)
    assert type(found) is uuid.UUID
    assert (found, found.int, found.version, found.variant, found.is_safe, hash(found)) == (
        expected,
        expected.int,
        expected.version,
        expected.variant,
        expected.is_safe,
        hash(expected),
    )


@given(st.text(max_size=10), st.integers(1, 2**53), st.sampled_from(["", "Rücklastschrift"]))
def test_a_new_cases_state_is_what_the_dataclass_builds(
    order_id: str, user_id: int, reason: str
) -> None:
    actor = Actor.system("intake")
    event = DunningCase.admit(
        order_id=order_id,
        user_id=user_id,
        amount=Decimal("9.90"),
        currency="EUR",
        debtor=DEBTOR,
        actor=actor,
        reason=reason,
        now=START,
    ).collect_events()[0]
    state = evolve(None, event)
    expected = CaseState(
        case_id=event.originator_id,
        order_id=order_id,
        user_id=user_id,
        amount=Decimal("9.90"),
        currency="EUR",
        debtor=DEBTOR,
        admitted_debtor=DEBTOR,
        created_at=START,
        created_by=actor,
        updated_at=START,
        last_actor=actor,
        last_reason=reason,
        version=1,
        vendor_version=1,
        vendor_updated_at=START,
    )
    assert type(state) is CaseState
    assert list(state.__dict__.items()) == list(expected.__dict__.items())
    assert state == expected


# ------------------------------------------------------------------ parsing acks

VALID = {"message_id": "m-1", "type": "received", "order_id": "B-1", "at": "2024-05-01"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)
fields = st.sampled_from(["message_id", "type", "order_id", "at", "errors", "in_reply_to"])
records = st.one_of(
    # A valid ack with some fields replaced by anything or removed ...
    st.builds(
        lambda changes, removed: json.dumps(
            {k: v for k, v in (VALID | changes).items() if k not in removed}
        ).encode(),
        st.dictionaries(
            fields,
            json_values | st.sampled_from(["received", "rejected", "closed", ["PLZ"], []]),
        ),
        st.sets(fields),
    ),
    # ... or anything at all.
    st.binary(max_size=30),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.none(),
)


def _parsed(parse: Callable[[bytes | None], Any], value: bytes | None) -> Any:
    try:
        return parse(value)
    except BadAck as bad:
        return ("bad", bad.reason, bad.detail)


@settings(max_examples=500)
@given(records)
def test_parse_ack_input_takes_and_refuses_what_parse_ack_does(value: bytes | None) -> None:
    slow = _parsed(parse_ack, value)
    fast = _parsed(parse_ack_input, value)
    if isinstance(slow, tuple):
        assert fast == slow
    else:
        assert fast == AckInput(slow.order_id, slow.type, slow.message_id, tuple(slow.errors))
        assert type(fast.errors) is tuple
