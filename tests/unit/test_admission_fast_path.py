"""``admit_many`` records a new case's ``Locked`` event without building the aggregate
around it (``admission_event``), and loads a batch's cases without the library's protocol
checks. Both must be exactly what the aggregate and the library's repository give: the same
event, the same stored bytes, the same case."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from debtcases.bootstrap import utc_now
from debtcases.commands.app import Admission, DunningCases, admission_event
from debtcases.commands.transcodings import ActorAsDict, DebtorAsDict
from debtcases.domain.actors import Actor
from debtcases.domain.case import DunningCase, case_id_for
from debtcases.domain.debtor import Debtor

SUPPORT, INTAKE = Actor.support("anna"), Actor.system("intake")

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
debtors = st.builds(Debtor, text, text, text, text, text)
amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False),
    st.sampled_from([Decimal("1E+2"), Decimal("49.9"), Decimal("0.00"), Decimal("-0")]),
)
admissions = st.builds(
    Admission,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
    st.integers(min_value=1, max_value=2**53 - 1),
    amounts,
    st.sampled_from(["EUR", "eur", "Chf", "USD"]),
    debtors,
    text,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))])
)
actors = st.sampled_from([INTAKE, SUPPORT, Actor.system("scheduler")])


def new_app() -> DunningCases:
    return DunningCases(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=utc_now)


def by_the_aggregate(a: Admission, actor: Actor, now: datetime) -> DunningCase:
    return DunningCase.admit(
        order_id=a.order_id,
        user_id=a.user_id,
        amount=a.amount,
        currency=a.currency,
        debtor=a.debtor,
        actor=actor,
        reason=a.reason,
        now=now,
    )


@settings(max_examples=200, deadline=None)
@given(admissions, actors, moments)
def test_the_admission_event_is_the_event_the_aggregate_records_byte_for_byte(
    a: Admission, actor: Actor, now: datetime
) -> None:
    app = new_app()
    case = by_the_aggregate(a, actor, now)
    (slow,) = case.collect_events()
    fast = admission_event(case_id_for(a.order_id), a, actor, now)
    assert type(fast) is type(slow)
    assert list(vars(fast).items()) == list(vars(slow).items())  # values and their order
    stored: StoredEvent = app.mapper.to_stored_event(fast)
    assert stored == app.mapper.to_stored_event(slow)
    # ... and the case built from it is the aggregate's case.
    assert app.mapper.to_domain_event(stored).mutate(None).state == case.state  # type: ignore[attr-defined]


@settings(max_examples=100, deadline=None)
@given(st.lists(admissions, min_size=1, max_size=8, unique_by=lambda a: a.order_id), actors)
def test_admit_many_stores_what_saving_the_aggregates_stores(
    batch: list[Admission], actor: Actor
) -> None:
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    fast, slow = new_app(), new_app()
    outcomes = fast.admit_many(batch, actor, now=now)
    slow.save(*[by_the_aggregate(a, actor, now) for a in batch])
    assert fast.recorder.select_notifications(1, 100) == slow.recorder.select_notifications(1, 100)
    for a, o in zip(batch, outcomes, strict=True):
        assert o.created and o.changed and o.position == len(batch)
        assert (o.order_id, o.user_id) == (a.order_id, a.user_id)
        assert o.case.state == slow.repository.get(case_id_for(a.order_id)).state
        assert not o.case.pending_events


@given(debtors)
def test_the_debtor_transcoding_encodes_what_as_dict_gives(debtor: Debtor) -> None:
    encoded = DebtorAsDict().encode(debtor)
    assert json.dumps(encoded) == json.dumps(debtor.as_dict())
    assert list(encoded) == [f.name for f in dataclasses.fields(Debtor)]


def test_a_batch_loads_each_case_as_the_repository_does() -> None:
    app = new_app()
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    debtor = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
    app.admit_many(
        [Admission(f"O-{i}", 7, Decimal("9.90"), "EUR", debtor) for i in range(3)], INTAKE, now
    )
    app.start_dunning("O-1", SUPPORT, now=now)
    app.block("O-1", SUPPORT, "Rückfrage", now=now)
    app.start_dunning("O-2", SUPPORT, now=now)
    loaded = app._load_many(["O-0", "O-1", "O-2", "O-9"])
    assert loaded["O-9"] is None
    for order_id in ("O-0", "O-1", "O-2"):
        case = loaded[order_id]
        assert case is not None
        expected = app.repository.get(case_id_for(order_id))
        assert (case.id, case.version, case.state) == (
            expected.id,
            expected.version,
            expected.state,
        )
        # Every attribute (the library's ``__eq__``: created / modified on, pending events).
        assert case == expected
        assert case.state.__dict__ == expected.state.__dict__


@given(st.sampled_from(["support", "vendor", "system", "diagonal"]), st.integers(1, 2**53 - 1))
def test_the_actor_transcoding_decodes_what_from_dict_gives(role: str, n: int) -> None:
    data = {"role": role, "id": str(n)}
    decoded = ActorAsDict().decode(data)
    assert decoded == Actor.from_dict(data)
    assert type(decoded.role) is type(Actor.from_dict(data).role)


def test_the_actor_transcoding_refuses_an_unknown_role_as_from_dict_does() -> None:
    with pytest.raises(ValueError, match="'boss' is not a valid Role"):
        ActorAsDict().decode({"role": "boss", "id": "x"})
