"""The change-history popup: every change (who, when, from, to, why), as a role may see it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from debtcases.domain.actors import Role
from debtcases.domain.case import DunningCase
from debtcases.domain.state import SUPPORT_ONLY_DETAILS, CaseState, evolve, is_support_only
from debtcases.domain.statuses import Status

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
    "hold",
    "ended_at",
    "promise_broken",
    "corrects_version",
    "corrects_event",
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
    """A scan of ``evolve`` over the events, as ``role`` may see it: vendors get no
    support-only entries, and the statuses they see before and after each change are
    the vendor-visible ones (during a block: the status before it). A correction and its
    mistake reference each other: ``Reopened`` has ``corrects_version``, the PAID /
    CANCELLED entry it corrects ``corrected_by_version``."""
    entries: list[HistoryEntry] = []
    state: CaseState | None = None
    for event in events:
        before, state = state, evolve(state, event)
        if role is Role.VENDOR:
            if is_support_only(event):
                continue
            from_status = before.status_for(role) if before is not None else None
            to_status = state.status_for(role)
        else:
            from_status = Status(event.from_status) if event.from_status else None
            to_status = Status(event.to_status)
        details = _details(event)
        if isinstance(event, DunningCase.AddressCorrected) and before is not None:
            details["debtor_before"] = before.debtor.as_dict()  # the address it replaced
        if role is Role.VENDOR:
            details = {k: v for k, v in details.items() if k not in SUPPORT_ONLY_DETAILS}
        entries.append(
            HistoryEntry(
                at=event.timestamp,
                event=type(event).__name__,
                from_status=from_status,
                to_status=to_status,
                actor=event.actor.as_dict(),
                reason=event.reason,
                details=details,
                version=event.originator_version,
            )
        )
    by_version = {e.version: e for e in entries}
    for entry in entries:
        corrected = by_version.get(entry.details.get("corrects_version", -1))
        if entry.event == "Reopened" and corrected is not None:
            corrected.details["corrected_by_version"] = entry.version
    return entries
