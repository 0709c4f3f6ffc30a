"""Diagonal's acknowledgements on a case (``received``, ``rejected``, ``closed``): the
decision which event each one becomes. A mixin of ``DunningCase``: the events stay nested
in the aggregate in ``case.py`` (their topics are stored with every event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from debtcases.domain.actors import Actor
from debtcases.domain.state import CaseState
from debtcases.domain.statuses import Status


class AckKind:
    RECEIVED = "received"
    REJECTED = "rejected"
    CLOSED = "closed"
    ALL = frozenset({RECEIVED, REJECTED, CLOSED})


class _AckedCase(Protocol):
    """What the acknowledgement decision needs of the aggregate."""

    state: CaseState

    @property
    def status(self) -> Status: ...

    @property
    def status_before_block(self) -> Status | None: ...

    @property
    def seen_messages(self) -> frozenset[str]: ...

    def _trigger(self, event_class: type[Any], now: datetime, **kwargs: Any) -> None: ...


class AckDecisions:
    """``DunningCase``'s decision on Diagonal's acknowledgements."""

    def apply_ack(
        self: _AckedCase,
        *,
        kind: str,
        message_id: str,
        errors: list[str],
        now: datetime,
    ) -> bool:
        """Apply one of Diagonal's acknowledgements. Never refuses: an ack that no longer
        fits the case is recorded without changing it. Returns False for a duplicate
        (same ``message_id`` seen before), which records nothing."""
        from debtcases.domain.case import DunningCase as C  # the events (case.py imports us)

        if message_id in self.seen_messages:
            return False
        actor = Actor.diagonal(message_id)
        status, before = self.status, self.status_before_block
        effective = before if status == Status.BLOCKED else status
        to_blocked = status == Status.BLOCKED
        if kind == AckKind.RECEIVED and effective == Status.RUNNING:
            self._trigger(
                C.HandedToCollection,
                now,
                actor=actor,
                reason="",
                to_status=Status.BLOCKED if to_blocked else Status.HANDED_OVER,
                source="diagonal",
                message_id=message_id,
            )
        elif kind == AckKind.REJECTED and effective in (Status.RUNNING, Status.HANDED_OVER):
            self._trigger(
                C.HandoverFailed,
                now,
                actor=actor,
                reason="",
                to_status=Status.BLOCKED if to_blocked else Status.FAILED,
                errors=list(errors) or ["Von Diagonal abgelehnt (ohne Angabe)."],
                source="diagonal",
                message_id=message_id,
                fell_back=self.state.rejection_falls_back(),
            )
        elif kind == AckKind.CLOSED and status in (Status.CANCELLED, Status.PAID):
            self._trigger(
                C.ClosedAtDiagonal,
                now,
                actor=actor,
                reason="",
                to_status=status,
                message_id=message_id,
            )
        else:
            self._trigger(
                C.AckRecorded,
                now,
                actor=actor,
                reason="",
                to_status=status,
                kind=kind,
                message_id=message_id,
                note=f"'{kind}' received while the case is {status.value}: "
                "recorded, status unchanged.",
            )
        return True
