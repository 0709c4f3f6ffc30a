"""The outbox: outgoing Diagonal messages recorded from the stored events, exactly once.

``OutboxProcessor`` is a processor on the log runner (projections/runner.py): for each batch
it inserts, in ONE transaction with its tracking record, the messages the events call for
into the ``outbox`` table (plus a vendor's first portal-access message). Re-processing a
notification is refused by the tracking record, so a crash or a second runner never
records a message twice. Publishers (Kafka or the simulator) then deliver
unsent rows in outbox order and mark them sent only after delivery.

The processor decides which messages and hold changes an event calls for and parks an
event it cannot record; the store (``outbox_store.py``: the tables, the holds, what the
publishers read) writes them; its rows are ``outbox_rows.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, cast

from eventsourcing.persistence import IntegrityError, Tracking

from debtcases.adapters.bulk import select_events_of_many
from debtcases.adapters.parked import ParkedEvent, is_transient, write_or_park
from debtcases.commands.app import DunningCases, replay
from debtcases.consumers.messages import Outgoing, calls_for_message, hold_change, messages_for
from debtcases.consumers.outbox_rows import HoldChange
from debtcases.consumers.outbox_store import OutboxStoreMixin
from debtcases.domain.case import DunningCase

PROCESSOR_NAME = "DiagonalOutbox"

log = logging.getLogger(__name__)

# (notification id, domain event) pairs, in notification order, as the log runner hands them.
Items = Sequence[tuple[int, Any]]


def _needs_case(event: Any) -> bool:
    """Whether ``event`` changes a hold or calls for a message (both need its case)."""
    return isinstance(event, DunningCase.Event) and (
        hold_change(event) is not None or calls_for_message(event)
    )


def _drop_reason(event: Any, hold: str | None) -> str:
    return f"{type(event).__name__} while blocked" if hold == "drop" else ""


class OutboxProcessor:
    """The processor ``outbox`` on the log runner: records the outgoing messages each
    event calls for, with its tracking record, in one transaction per batch."""

    name = "outbox"

    def __init__(self, app: DunningCases, store: OutboxStoreMixin) -> None:
        self.app = app
        self.store = store
        # PostgreSQL, set by the runner: the channel its progress is announced on; then the
        # batch's transaction itself NOTIFYs (delivered with the commit), as the views do,
        # instead of the runner's own round trip on another connection after the commit.
        self._progress_channel: str | None = None

    def announce_progress_on(self, channel: str) -> bool:
        """Announce this processor's position on ``channel`` with each batch's commit
        (PostgreSQL); True if it will, so the runner need not."""
        if self.store.dialect.kind != "postgres":
            return False
        self._progress_channel = channel
        return True

    def _announce(self, position: int) -> tuple[str, str] | None:
        channel = self._progress_channel
        return None if channel is None else (channel, f"{self.name} {position}")

    def position(self) -> int:
        return self.store.max_tracking_id(PROCESSOR_NAME) or 0

    def process(self, items: Items) -> int:
        """Record the batch's messages; an event whose messages cannot be recorded is
        parked (with the tracking that skips it) and the others' messages go out."""
        return write_or_park(items, self._process_batch, self._park, "outbox")

    def _park(self, item: tuple[int, Any], exc: BaseException) -> int:
        tracking = Tracking(PROCESSOR_NAME, item[0])
        try:
            self.store.record(
                [],
                tracking,
                self.app.clock(),
                parked=(*item, exc),
                announce=self._announce(int(item[0])),
            )
        except IntegrityError:
            return self.position()
        return int(item[0])

    def _messages(
        self,
        notification_id: int,
        event: Any,
        case: DunningCase | None = None,
        order_id: str | None = None,
    ) -> list[tuple[Outgoing | HoldChange, int]]:
        """The messages ``event`` calls for, after the hold change it makes (block: hold,
        unblock: release, cancel/paid while blocked: drop the held ones). ``case``: the
        case as of ``event`` when the caller has it; ``order_id``: the case's order, when
        the event only changes a hold (else the case is loaded)."""
        if not _needs_case(event):
            return []
        hold = hold_change(event)
        if order_id is not None and hold is not None and not calls_for_message(event):
            return [(HoldChange(order_id, hold, _drop_reason(event, hold)), notification_id)]
        if case is None:
            case = self.app.repository.get(event.originator_id, version=event.originator_version)
        assert case is not None
        out: list[tuple[Outgoing | HoldChange, int]] = []
        if hold is not None:
            out.append(
                (HoldChange(case.order_id, hold, _drop_reason(event, hold)), notification_id)
            )
        out.extend((m, notification_id) for m in messages_for(event, case))
        return out

    def _orders_of(self, items: Items) -> dict[Any, str]:
        """The order of each case whose events in ``items`` only change a hold (block,
        unblock, ...: no message, so no fold), from its first event alone, in one query
        for the batch: under the command load the fold of every such case's whole
        history (reading and decoding each of its events) was most of the outbox's CPU."""
        wanted = {
            e.originator_id
            for _, e in items
            if _needs_case(e) and not calls_for_message(e) and e.originator_version > 1
        }
        if not wanted:
            return {}
        first = select_events_of_many(self.app.recorder, wanted, max_version=1)
        decode = self.app.mapper.to_domain_event
        orders: dict[Any, str] = {}
        for case_id, events in first.items():
            order_id = getattr(decode(events[0]), "order_id", None) if events else None
            if isinstance(order_id, str):
                orders[case_id] = order_id
        return orders

    def _cases_as_of(self, items: Items) -> dict[tuple[Any, int], DunningCase]:
        """Each case an event of ``items`` needs folded (to build its messages), as of
        that event, read in one query for the batch (one query per event was most of the
        runner's time under load)."""
        wanted = [
            (e.originator_id, e.originator_version)
            for _, e in items
            if _needs_case(e) and (calls_for_message(e) or e.originator_version <= 1)
        ]
        if not wanted:
            return {}
        stored = select_events_of_many(self.app.recorder, {case_id for case_id, _ in wanted})
        decode = self.app.mapper.to_domain_event
        cases: dict[tuple[Any, int], DunningCase] = {}
        for case_id, version in wanted:
            events = [s for s in stored.get(case_id, []) if s.originator_version <= version]
            if events and events[-1].originator_version == version:
                # ``replay``: the fold the library's ``mutate`` calls make, without their
                # runtime protocol check and topic resolution per event (a quarter of the
                # runner's samples under the command load were this fold).
                cases[(case_id, version)] = replay(
                    [cast(DunningCase.Event, decode(e)) for e in events]
                )
        return cases

    def _process_batch(self, items: Items) -> int:
        messages: list[tuple[Outgoing | HoldChange, int]] = []
        cases = self._cases_as_of(items)
        orders = self._orders_of(items)
        for notification_id, event in items:
            as_of = cases.get((event.originator_id, event.originator_version))
            order_id = orders.get(event.originator_id)
            messages.extend(self._messages(notification_id, event, as_of, order_id))
        tracking = Tracking(PROCESSOR_NAME, items[-1][0])
        try:
            self.store.record(
                messages, tracking, self.app.clock(), announce=self._announce(items[-1][0])
            )
        except IntegrityError:
            # Another runner recorded this range first: nothing lost, nothing doubled.
            # (A second time in a row it is the batch's data: bisect it.)
            if self.position() >= items[-1][0]:
                return self.position()
            raise
        return items[-1][0]

    def parked(self, include_resolved: bool = False) -> list[ParkedEvent]:
        return self.store.parked(include_resolved)

    def parked_count(self) -> int:
        return self.store.parked_count()

    def retry_parked(self) -> tuple[int, int]:
        """Record the messages of every parked event again (a fixed version deployed);
        they go out after the messages recorded meanwhile. (resolved, still failing)."""
        resolved = failing = 0
        for p in self.store.parked():
            now = self.app.clock()
            try:
                case_id = uuid.UUID(p.originator_id)
                version = p.originator_version
                event = next(iter(self.app.events.get(case_id, gt=version - 1, lte=version)))
                messages = self._messages(p.notification_id, event)
                self.store.record(messages, None, now, resolved=[p.id])
            except Exception as exc:
                if is_transient(exc):
                    raise
                self.store.failed_again([p.id], exc, now)
                failing += 1
            else:
                resolved += 1
        return resolved, failing
