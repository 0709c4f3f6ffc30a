"""A built-in Diagonal for embedded mode (no Kafka): answers the outbox's handover,
withdrawal and payment messages by applying the acknowledgement Diagonal would send.

Documented answer rule (the simulator's stand-in for Diagonal's own checks):
- ``handover``: ``rejected`` when the debtor's name contains "REJECT" (any case) or the
  postal code starts with "00" (no such postal area at Diagonal); otherwise ``received``.
- ``withdrawal`` and ``payment``: ``closed``.
- ``address_update`` and ``portal_access``: delivered, no answer.
Messages are answered once they are ``delay_seconds`` old, so a UI shows RUNNING briefly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from debtcases.adapters.threads import LoopWorker
from debtcases.commands.app import DunningCases
from debtcases.consumers import metrics
from debtcases.consumers.outbox_rows import OutboxRow
from debtcases.consumers.outbox_store import OutboxStoreMixin
from debtcases.domain.errors import CaseNotFound


def simulated_answer(row: OutboxRow) -> tuple[str, list[str]] | None:
    """The ack kind and errors Diagonal would answer ``row`` with (None: no answer)."""
    if row.type == "handover":
        debtor: dict[str, Any] = row.payload.get("debtor") or {}
        errors: list[str] = []
        if "REJECT" in str(debtor.get("name", "")).upper():
            errors.append("Diagonal: Schuldner nicht zuordenbar (Name abgelehnt).")
        if str(debtor.get("postal_code", "")).startswith("00"):
            errors.append(f"Diagonal: Postleitzahl {debtor.get('postal_code')} unbekannt.")
        return ("rejected", errors) if errors else ("received", [])
    if row.type in ("withdrawal", "payment"):
        return ("closed", [])
    return None


class DiagonalSimulator(LoopWorker):
    name = "diagonal-simulator"

    def __init__(
        self,
        app: DunningCases,
        store: OutboxStoreMixin,
        *,
        delay_seconds: float = 2.0,
        interval: float = 0.5,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(interval=interval)
        self.app = app
        self.store = store
        self.delay = timedelta(seconds=delay_seconds)
        self.clock = clock

    def run_once(self) -> int:
        now = self.clock()
        answered: list[int] = []
        for row in self.store.unsent(limit=100):
            if row.created_at > now - self.delay:
                break  # outbox order: later rows are younger still
            answer = simulated_answer(row)
            if answer is not None:
                kind, errors = answer
                ack_id = str(uuid5(UUID(row.message_id), f"diagonal-sim:{kind}"))
                with contextlib.suppress(CaseNotFound):
                    self.app.apply_ack(row.order_id, kind=kind, message_id=ack_id, errors=errors)
            answered.append(row.position)
            metrics.MESSAGES_PUBLISHED.labels(type=row.type).inc()
        self.store.mark_sent(answered, now)
        return len(answered)
