"""Diagonal's acknowledgements in batches (e.g. one Kafka poll): ``apply_acks``, one
transaction for the batch, one result per ack. A mixin of ``DunningCases`` (``app.py``),
which applies a single ack (``apply_ack``) through its own command path."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from eventsourcing.persistence import IntegrityError

from debtcases.domain.case import DunningCase
from debtcases.domain.errors import CaseNotFound

if TYPE_CHECKING:
    from debtcases.commands.app import Clock, Outcome


@dataclass(frozen=True)
class AckInput:
    """One of Diagonal's acknowledgements as it arrived (``kind``: received, rejected,
    closed)."""

    order_id: str
    kind: str
    message_id: str
    errors: Sequence[str] = ()


AckResultKind = Literal["applied", "duplicate", "unknown_order"]


@dataclass(frozen=True)
class AckResult:
    """What became of one ack of a batch: ``applied`` (an event was stored: the ack's
    effect, or ``AckRecorded`` when it no longer fits the case), ``duplicate`` (its
    message_id was applied before; nothing stored) or ``unknown_order`` (no such case;
    nothing stored)."""

    ack: AckInput
    result: AckResultKind

    @property
    def changed(self) -> bool:
        return self.result == "applied"


class _AckingCases(Protocol):
    """What the batch needs of the application."""

    clock: Clock
    max_attempts: int

    def _load_many(self, order_ids: Iterable[str]) -> dict[str, DunningCase | None]: ...

    def _save(self, *cases: DunningCase) -> int | None: ...

    def _decide_acks(
        self: _AckingCases, acks: Sequence[AckInput], at: datetime
    ) -> tuple[list[AckResult], list[DunningCase]]: ...

    def _apply_ack_alone(self, ack: AckInput, now: datetime | None) -> AckResult: ...

    def apply_ack(
        self,
        order_id: str,
        *,
        kind: str,
        message_id: str,
        errors: list[str] | None = None,
        now: datetime | None = None,
    ) -> Outcome: ...


class AckBatches:
    """``DunningCases``' batches of Diagonal's acknowledgements."""

    def apply_acks(
        self: _AckingCases, acks: Sequence[AckInput], now: datetime | None = None
    ) -> list[AckResult]:
        """Apply a batch of Diagonal's acknowledgements in one transaction (e.g. one Kafka
        poll); one result per ack, in the same order.

        Rules: each ack has the effect ``apply_ack`` gives it, as if the acks were applied
        one by one in the order given (several acks for one case build on each other); a
        message_id already in the case's stream, earlier in the batch included, is a
        ``duplicate`` and stores nothing; an ack for an unknown order is reported as
        ``unknown_order`` and does not stop the others. Every case is loaded once and all
        changed cases are saved together, all or none. If one of them was changed
        meanwhile, the whole batch is reloaded and decided again (``max_attempts`` times),
        then applied one ack at a time with ``apply_ack``'s own retries (which end in
        ``ConcurrentModification``; the acks applied until then stay applied, so calling
        again with the same batch is safe).
        """
        for attempt in range(1, self.max_attempts + 1):
            results, changed = self._decide_acks(acks, now or self.clock())
            if not changed:
                return results
            try:
                self._save(*changed)
            except IntegrityError:
                # Someone saved one of these cases in between: reload and decide again.
                time.sleep(0.002 * attempt)
                continue
            return results
        return [self._apply_ack_alone(ack, now) for ack in acks]

    def _decide_acks(
        self: _AckingCases, acks: Sequence[AckInput], at: datetime
    ) -> tuple[list[AckResult], list[DunningCase]]:
        cases = self._load_many(ack.order_id for ack in acks)
        results: list[AckResult] = []
        for ack in acks:
            case = cases[ack.order_id]
            if case is None:
                results.append(AckResult(ack, "unknown_order"))
                continue
            applied = case.apply_ack(
                kind=ack.kind, message_id=ack.message_id, errors=list(ack.errors), now=at
            )
            results.append(AckResult(ack, "applied" if applied else "duplicate"))
        changed = [c for c in cases.values() if c is not None and c.pending_events]
        return results, changed

    def _apply_ack_alone(self: _AckingCases, ack: AckInput, now: datetime | None) -> AckResult:
        try:
            outcome = self.apply_ack(
                ack.order_id,
                kind=ack.kind,
                message_id=ack.message_id,
                errors=list(ack.errors),
                now=now,
            )
        except CaseNotFound:
            return AckResult(ack, "unknown_order")
        return AckResult(ack, "applied" if outcome.changed else "duplicate")

    # ------------------------------------------------------------ queries
