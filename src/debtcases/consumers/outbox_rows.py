"""The outbox's rows as its readers see them (``OutboxRow``: the publishers and the
simulator) and the hold changes the processor hands the store beside the messages
(``HoldChange``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class HoldChange:
    """A change of the hold on one order's messages (see ``hold_change``)."""

    order_id: str
    action: str  # hold | release | drop
    reason: str = ""


@dataclass(frozen=True)
class OutboxRow:
    position: int
    message_id: str
    type: str
    topic: str
    key: str
    order_id: str
    payload: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    dropped_at: datetime | None = None
    dropped_reason: str | None = None

    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
