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


# --------------------------------------------------------------------------- as of


def stream_up_to(events: Iterable[Any], at: datetime) -> list[Any]:
    """The case's stream as it stood at ``at``: its events up to the first one recorded
    after ``at``. A clock that jumped back does not let a later event slip in before an
    earlier one: the stream is a prefix, so a version becomes visible only once every
    event before it is (its moment is the latest timestamp so far)."""
    out: list[Any] = []
    for event in events:
        if event.timestamp > at:
            break
        out.append(event)
    return out


def state_as_of(events: Iterable[Any], at: datetime) -> CaseState | None:
    """The case as it was at ``at`` (None: it did not exist yet): the one fold over the
    stream up to ``at``."""
    state: CaseState | None = None
    for event in stream_up_to(events, at):
        state = evolve(state, event)
    return state


# What a change between two moments reports, per field, as ``role`` sees it.
CHANGE_FIELDS = ("status", "debtor", "amount", "hold")


def _facts(state: CaseState | None, role: Role) -> dict[str, Any]:
    if state is None:
        return dict.fromkeys(CHANGE_FIELDS)
    facts: dict[str, Any] = {
        "status": state.status_for(role),
        "debtor": state.debtor.as_dict(),
        "amount": f"{state.amount:.2f}",
        "hold": state.hold.as_dict() if state.hold is not None else None,
    }
    if role is Role.VENDOR:
        del facts["hold"]  # a vendor never sees a hold
    return facts


@dataclass(frozen=True)
class Change:
    """One change between two moments: the history entry (who, when, why) and what it
    changed of the case's status, address (``debtor``), amount and hold, each as
    ``(before, after)``."""

    entry: HistoryEntry
    changed: dict[str, tuple[Any, Any]]


def changes_between(
    events: Iterable[Any], role: Role, start: datetime | None, end: datetime
) -> tuple[CaseState | None, CaseState | None, list[Change]]:
    """What changed between the case as it was at ``start`` (None: before it existed) and
    as it was at ``end``: (the case then, the case at ``end``, the changes in between,
    oldest first), as ``role`` may see them (vendors: no support-only changes, no holds,
    the statuses they see)."""
    stream = stream_up_to(events, end)
    first = len(stream_up_to(stream, start)) if start is not None else 0
    entries = {e.version: e for e in history_entries(stream, role)}
    state: CaseState | None = None
    before_window: CaseState | None = None
    out: list[Change] = []
    for i, event in enumerate(stream):
        before, state = state, evolve(state, event)
        if i < first:
            before_window = state
            continue
        entry = entries.get(int(event.originator_version))
        if entry is None:  # not the role's to see
            continue
        old, new = _facts(before, role), _facts(state, role)
        changed = {k: (old[k], new[k]) for k in new if old[k] != new[k]}
        out.append(Change(entry, changed))
    return before_window, state, out
