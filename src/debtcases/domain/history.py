"""The change-history popup: every change (who, when, from, to, why), as a role may see it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status

# Entries only support sees (the block is invisible to vendors; so are ignored late acks).
SUPPORT_ONLY = frozenset({"Blocked", "Unblocked", "AckRecorded"})

_DETAIL_FIELDS = (
    "errors",
    "source",
    "message_id",
    "fell_back",
    "withdraw",
    "reference",
    "notify",
    "kind",
    "note",
    "order_id",
    "user_id",
    "amount",
    "currency",
    "debtor",
)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    event: str
    from_status: Status | None
    to_status: Status
    actor: dict[str, str]
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    version: int = 0


def _details(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _DETAIL_FIELDS:
        if hasattr(event, name):
            value = getattr(event, name)
            if hasattr(value, "as_dict"):
                value = value.as_dict()
            out[name] = value
    return out


def history_entries(events: Iterable[Any], role: Role) -> list[HistoryEntry]:
    """Fold the events into entries. Vendors see no support-only entries, and the statuses
    they see are vendor-visible ones (during a block: the status before it)."""
    entries: list[HistoryEntry] = []
    before_block: Status | None = None
    shown: Status | None = None  # what the role saw before this event
    for event in events:
        name = type(event).__name__
        from_status = Status(event.from_status) if event.from_status else None
        to_status = Status(event.to_status)
        if name == "Blocked":
            before_block = from_status
        if role is Role.VENDOR:
            visible_to = before_block if to_status is Status.BLOCKED else to_status
            if name in ("HandedToCollection", "HandoverFailed") and to_status is Status.BLOCKED:
                # A Diagonal answer while blocked moves the remembered status.
                before_block = Status.HANDED_OVER if name == "HandedToCollection" else Status.FAILED
                visible_to = before_block
            if name == "Unblocked":
                before_block = None
            visible_from = shown
            shown = visible_to
            if name in SUPPORT_ONLY:
                continue
            entries.append(
                HistoryEntry(
                    at=event.timestamp,
                    event=name,
                    from_status=visible_from,
                    to_status=visible_to or to_status,
                    actor=event.actor.as_dict(),
                    reason=event.reason,
                    details=_details(event),
                    version=event.originator_version,
                )
            )
        else:
            if name == "Unblocked":
                before_block = None
            entries.append(
                HistoryEntry(
                    at=event.timestamp,
                    event=name,
                    from_status=from_status,
                    to_status=to_status,
                    actor=event.actor.as_dict(),
                    reason=event.reason,
                    details=_details(event),
                    version=event.originator_version,
                )
            )
    return entries
