"""The hold scheduler: ends every hold whose end has come (``until``, or the day after a
promise to pay's date), back to the status before the block.

It reads only the due holds (the cases view keeps each blocked case's end, indexed), and
lets each case's aggregate decide: a hold whose end has not come, or a case no longer
blocked, is left alone. So a round is idempotent, deterministic for a given ``now``, and
two schedulers at once end each hold once (the second one's save conflicts, it reloads and
finds the hold ended).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from debtcases.adapters.threads import LoopWorker
from debtcases.commands.app import Clock, DunningCases
from debtcases.domain.actors import Actor
from debtcases.domain.case import DunningCase
from debtcases.domain.errors import CaseNotFound, ConcurrentModification

HOLD_SCHEDULER = Actor.system("hold-expiry")


class DueHolds(Protocol):
    """Where the scheduler finds the holds to end without loading every case (the cases
    view, projections/; bootstrap wires it)."""

    def due_holds(self, now: datetime, limit: int) -> list[str]:
        """Order ids of blocked cases whose hold ends at or before ``now``, soonest end
        first (then by order id)."""
        ...


@dataclass
class ExpireHoldsReport:
    """One scheduler round: what it looked at and what it did."""

    now: datetime
    looked_at: int = 0
    expired: list[str] = field(default_factory=list)  # holds ended by this round
    promises_broken: list[str] = field(default_factory=list)  # of which promises to pay
    unchanged: int = 0  # ended already (another scheduler, support) or not due after all
    conflicts: list[str] = field(default_factory=list)  # gave up for now: next round


class HoldExpiry:
    """``expire_holds``: one round of the hold scheduler."""

    def __init__(
        self, cases: DunningCases, due: DueHolds, *, clock: Clock, batch_limit: int = 10_000
    ) -> None:
        self.cases = cases
        self.due = due
        self.clock = clock
        self.batch_limit = batch_limit
        self._round = threading.Lock()

    def expire_holds(self, now: datetime | None = None) -> ExpireHoldsReport:
        """End every hold whose end has come at ``now`` (default: the clock).

        Rules: a hold ends exactly at its end (``until`` 00:00 Europe/Berlin, or 00:00 of
        the day after a promised date), not before; ``HoldExpired`` returns the case to the
        status before the block, with ``promise_broken`` for a promise to pay; each hold
        ends once, whoever runs the round and however often."""
        at = now or self.clock()
        report = ExpireHoldsReport(at)
        with self._round:
            for order_id in self.due.due_holds(at, self.batch_limit):
                report.looked_at += 1
                try:
                    outcome = self.cases.expire_hold(order_id, HOLD_SCHEDULER, at)
                except CaseNotFound:
                    report.unchanged += 1
                    continue
                except ConcurrentModification:
                    report.conflicts.append(order_id)
                    continue
                if not outcome.changed:
                    report.unchanged += 1
                    continue
                report.expired.append(order_id)
                if self._promise_broken(outcome.case):
                    report.promises_broken.append(order_id)
        return report

    def _promise_broken(self, case: DunningCase) -> bool:
        """Whether the event just stored (the case's last) says a promise was broken."""
        last = list(self.cases.events.get(case.id, gt=case.version - 1))
        return bool(last) and bool(getattr(last[-1], "promise_broken", False))


class ExpireHoldsLoop(LoopWorker):
    """`serve`'s periodic hold scheduler: ``expire_holds`` every ``interval`` seconds."""

    name = "expire-holds"

    def __init__(self, expiry: HoldExpiry, interval: float) -> None:
        super().__init__(interval=interval, max_backoff=max(5.0, interval))
        self.expiry = expiry
        self.last_report: ExpireHoldsReport | None = None

    def run_once(self) -> int:
        self.last_report = self.expiry.expire_holds()
        return 0  # always wait the interval: one round ends everything due
