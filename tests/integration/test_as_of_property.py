"""Property: for any command sequence with clock jumps (also backwards), the case and the
lists ``as_of=t`` equal replaying the event streams up to ``t``, on SQLite and PostgreSQL:
each item, the list membership for both roles and filters, and the totals (of this
example's cases, and of every case in the database: the unfiltered and status/period
support totals come from the as-of counts, so moments are also taken at the edges of
their hour, day and month buckets)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debtcases.api.responses import CaseOut, SupportCaseOut
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import case_id_for
from debtcases.domain.errors import CaseNotFound, DomainError
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.state import CaseState, evolve
from debtcases.domain.statuses import Status
from debtcases.projections.queries import CaseFilter, case_shape
from tests.builders import DEBTOR as GOOD
from tests.integration.test_views_property import BAD, VENDORS
from tests.views_support import SUPPORT

START = datetime(2024, 1, 20, 9, 0, tzinfo=UTC)

OPS = (
    "start_vendor",
    "start_support",
    "hand_over",
    "cancel_vendor",
    "block",
    "block_dispute",
    "unblock",
    "mark_paid",
    "reopen",
    "correct_good",
    "correct_bad",
    "ack_received",
    "ack_rejected",
    "ack_closed",
)
op = st.one_of(st.sampled_from(("start_vendor", "hand_over")), st.sampled_from(OPS))
# (operation, which case, clock jump in hours: mostly forward, sometimes back, sometimes
# none at all, so several events share a moment)
jump = st.one_of(st.integers(0, 72), st.integers(-48, 0), st.just(0))
# ... and minutes on top, so events fall within an hour, not only on it.
minutes = st.one_of(st.just(0), st.integers(0, 59))
commands = st.lists(st.tuples(op, st.integers(0, 3), jump, minutes), min_size=1, max_size=25)
admissions = st.lists(
    st.tuples(st.sampled_from(VENDORS), st.booleans(), st.integers(-20, 60)),
    min_size=1,
    max_size=4,
)
# Moments to look at: around event times (just before, at, just after) and in between, or
# around the start of the event's hour, day or month (the as-of counts' bucket edges).
probes = st.lists(
    st.tuples(
        st.integers(0, 60),
        st.sampled_from((-1, 0, 1, 3600)),
        st.sampled_from((None, "hour", "day", "month")),
    ),
    max_size=6,
)
list_filters = st.lists(
    st.tuples(
        st.sampled_from((None, *VENDORS)),  # who asks: support or a vendor
        st.sampled_from((None, *VENDORS)),  # user_id filter (support)
        st.lists(st.sampled_from(tuple(Status)), max_size=2, unique=True),
        st.sampled_from((None, "2024-01", "2024-02", "2024-03")),
    ),
    min_size=1,
    max_size=4,
)


def _run(
    container: Container,
    prefix: str,
    cases: list[tuple[int, bool, int]],
    history: list[tuple[str, int, int, int]],
) -> tuple[list[str], int | None]:
    app = container.cases
    order_ids = [f"{prefix}-{i}" for i in range(len(cases))]
    last: int | None = None
    for i, (vendor, good, day) in enumerate(cases):
        out = app.admit(
            Admission(order_ids[i], vendor, Decimal("10.50") + i, "EUR", GOOD if good else BAD),
            Actor.system("intake"),
            now=START + timedelta(days=day),
        )
        last = out.position or last
    now = START + timedelta(days=30)
    for step, (op, index, hours, mins) in enumerate(history):
        now += timedelta(hours=hours, minutes=mins)  # the clock jumps (back too)
        order_id = order_ids[index % len(order_ids)]
        vendor = Actor.vendor(cases[index % len(cases)][0])
        try:
            if op == "start_vendor":
                out = app.start_dunning(order_id, vendor, now=now)
            elif op == "start_support":
                out = app.start_dunning(order_id, SUPPORT, "repair", now=now)
            elif op == "hand_over":
                out = app.hand_over(order_id, SUPPORT, "manuell", now=now)
            elif op == "cancel_vendor":
                out = app.cancel(order_id, vendor, "storniert", now=now)
            elif op == "block":
                out = app.block(order_id, SUPPORT, "Vendor unsicher", now=now)
            elif op == "block_dispute":
                hold = Hold(code=HoldReason.DISPUTE)
                out = app.block(order_id, SUPPORT, "Streit", now=now, hold=hold)
            elif op == "unblock":
                out = app.unblock(order_id, SUPPORT, "weiter", now=now)
            elif op == "mark_paid":
                out = app.mark_paid(order_id, SUPPORT, "bezahlt", f"REF-{step}", now=now)
            elif op == "reopen":
                out = app.reopen(order_id, SUPPORT, "Fehlklick", now=now)
            elif op in ("correct_good", "correct_bad"):
                debtor = GOOD if op == "correct_good" else BAD
                out = app.correct_address(order_id, SUPPORT, debtor, "neu", now=now)
            else:
                kind = op.removeprefix("ack_")
                out = app.apply_ack(
                    order_id,
                    kind=kind,
                    message_id=f"m-{prefix}-{step}",
                    errors=["Adresse unbekannt"],
                    now=now,
                )
        except DomainError:
            continue
        last = out.position or last
    return order_ids, last


def replayed(container: Container, order_id: str, at: datetime) -> CaseState | None:
    """The oracle: the case's stream up to the first event after ``at``, folded."""
    state: CaseState | None = None
    for event in container.cases.events.get(case_id_for(order_id)):
        if event.timestamp > at:
            break
        state = evolve(state, event)
    return state


def _model(role: Role) -> type[CaseOut]:
    return CaseOut if role is Role.VENDOR else SupportCaseOut


def _edge(moment: datetime, grain: str | None) -> datetime:
    """The start of ``moment``'s hour, day or month (UTC), or the moment itself."""
    if grain is None:
        return moment
    start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if grain in ("day", "month"):
        start = start.replace(hour=0)
    return start.replace(day=1) if grain == "month" else start


def _check_moment(
    container: Container,
    order_ids: list[str],
    at: datetime,
    filters: list[tuple[int | None, int | None, list[Status], str | None]],
    everything: list[str],
) -> None:
    views: Any = container.views
    app = container.cases
    every_state = {o: replayed(container, o, at) for o in everything}
    states = {o: every_state[o] for o in order_ids}
    for order_id, state in states.items():
        owner = Actor.vendor(next(iter(app.events.get(case_id_for(order_id)))).user_id)
        for actor in (SUPPORT, owner):
            if state is None:
                try:
                    app.case_as_of(order_id, actor, at)
                except CaseNotFound:
                    continue
                raise AssertionError(f"{order_id} did not exist at {at}")
            got = case_shape(app.case_as_of(order_id, actor, at), actor.role, at, 48.0)
            want = case_shape(state, actor.role, at, 48.0)
            assert _model(actor.role)(**got) == _model(actor.role)(**want)
    for vendor, user_id, statuses, period in filters:
        role = Role.VENDOR if vendor is not None else Role.SUPPORT
        f = CaseFilter(user_id=user_id if vendor is None else None, statuses=tuple(statuses))
        f = CaseFilter(user_id=f.user_id, statuses=f.statuses, period=period)
        expected, in_database = {}, 0
        for order_id, state in every_state.items():
            if state is None:
                continue
            shaped = case_shape(state, role, at, 48.0)
            if vendor is not None and state.user_id != vendor:
                continue
            if f.user_id is not None and state.user_id != f.user_id:
                continue
            if statuses and shaped["status"] not in statuses:
                continue
            if period is not None and shaped["entered_month"] != period:
                continue
            in_database += 1
            if order_id in states:
                expected[order_id] = _model(role)(**shaped)
        # Only this example's cases: filter to them (earlier examples share the database).
        listed = [i for i in views.iter_cases(f, role, vendor, as_of=at) if i["order_id"] in states]
        assert {i["order_id"]: _model(role)(**i) for i in listed} == expected, (role, vendor, f)
        changed = [i["updated_at"] for i in listed]
        assert changed == sorted(changed, reverse=True), "newest change (then) first"
        scoped = CaseFilter(
            order_ids=tuple(order_ids), user_id=f.user_id, statuses=f.statuses, period=period
        )
        for page_size in (1, 500):
            items, total = views.page_cases(scoped, role, vendor, 1, page_size, as_of=at)
            assert total == len(expected), (role, vendor, scoped, page_size)
            assert {i["order_id"] for i in items} <= set(expected)
        # The whole list's total (every example's cases): page size 1 so it is counted.
        total = views.page_cases(f, role, vendor, 1, 1, as_of=at)[1]
        assert total == in_database, (role, vendor, f, at)


def test_as_of_equals_replaying_the_streams_up_to_that_moment(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url, run_workers=True)
    everything: list[str] = []  # the cases of every example so far (one database)

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(cases=admissions, history=commands, moments=probes, filters=list_filters)
    def check(
        cases: list[tuple[int, bool, int]],
        history: list[tuple[str, int, int, int]],
        moments: list[tuple[int, int, str | None]],
        filters: list[tuple[int | None, int | None, list[Status], str | None]],
    ) -> None:
        order_ids, last = _run(container, uuid.uuid4().hex[:8], cases, history)
        everything.extend(order_ids)
        assert container.runner.wait_for(last, 10)
        times = sorted(
            {e.timestamp for o in order_ids for e in container.cases.events.get(case_id_for(o))}
        )
        looked_at = [START - timedelta(days=30), times[-1] + timedelta(days=1)]
        for index, offset, grain in moments:
            edge = _edge(times[index % len(times)], grain)
            looked_at.append(edge + timedelta(microseconds=offset))
        for at in looked_at:
            _check_moment(container, order_ids, at, filters, everything)

    check()
