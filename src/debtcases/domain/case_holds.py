"""Support's holds on a case and the corrections of a mistaken closure: block (with a
hold's terms), unblock, the scheduler's end of a hold, reopen. A mixin of ``DunningCase``:
the events stay nested in the aggregate in ``case.py`` (their topics are stored with every
event).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from debtcases.domain.actors import Actor
from debtcases.domain.errors import (
    InvalidHold,
    InvalidTransition,
    ReasonRequired,
    ReopenWindowClosed,
)
from debtcases.domain.holds import Hold
from debtcases.domain.rules import Command
from debtcases.domain.state import CaseState
from debtcases.domain.statuses import Status


class _HeldCase(Protocol):
    """What the hold and reopen decisions need of the aggregate."""

    state: CaseState

    @property
    def order_id(self) -> str: ...

    @property
    def currency(self) -> str: ...

    @property
    def status(self) -> Status: ...

    @property
    def status_before_block(self) -> Status | None: ...

    def _check(self, actor: Actor, command: Command) -> bool: ...

    def _trigger(self, event_class: type[Any], now: datetime, **kwargs: Any) -> None: ...


class HoldDecisions:
    """``DunningCase``'s decisions on holds and on reopening a closed case."""

    def block(
        self: _HeldCase, actor: Actor, now: datetime, reason: str, hold: Hold | None = None
    ) -> None:
        from debtcases.domain.case import DunningCase as C  # the events

        terms = hold or Hold()
        if not self._check(actor, Command.BLOCK):
            if terms != self.state.hold:  # other terms: not the same ask
                raise InvalidTransition(
                    Command.BLOCK.value,
                    self.status.value,
                    Status.BLOCKED.value,
                    "The case is blocked already with other terms; unblock it first.",
                )
            return
        problems = terms.problems(now)
        if problems:
            raise InvalidHold(problems)
        self._trigger(
            C.Blocked, now, actor=actor, reason=reason, to_status=Status.BLOCKED, hold=terms
        )

    def unblock(self: _HeldCase, actor: Actor, now: datetime, reason: str) -> None:
        from debtcases.domain.case import DunningCase as C  # the events

        if not self._check(actor, Command.UNBLOCK):
            return
        assert self.status_before_block is not None
        self._trigger(
            C.Unblocked, now, actor=actor, reason=reason, to_status=self.status_before_block
        )

    def expire_hold(self: _HeldCase, actor: Actor, now: datetime) -> None:
        """End the hold if its end has come at ``now`` (else nothing): the scheduler's
        decision, so two schedulers end one hold once (the second finds it ended)."""
        from debtcases.domain.case import DunningCase as C  # the events

        if not self._check(actor, Command.EXPIRE_HOLD):
            return
        hold, ends_at = self.state.hold, self.state.hold_ends_at
        if hold is None or ends_at is None or ends_at > now:
            return
        assert self.status_before_block is not None
        if hold.is_promise:
            reason = (
                f"Zahlungsversprechen über {hold.promised_amount} {self.currency} bis "
                f"{hold.promised_date} nicht eingehalten: Mahnung läuft weiter."
            )
        else:
            reason = f"Blockierung bis {hold.until} abgelaufen."
        self._trigger(
            C.HoldExpired,
            now,
            actor=actor,
            reason=reason,
            to_status=self.status_before_block,
            hold=hold,
            ended_at=ends_at,
            promise_broken=hold.is_promise,
        )

    def reopen(
        self: _HeldCase, actor: Actor, now: datetime, reason: str, window: timedelta
    ) -> None:
        """Correct a mistaken PAID or CANCELLED within ``window`` of it."""
        from debtcases.domain.case import DunningCase as C  # the events

        if not self._check(actor, Command.REOPEN):
            return
        if not reason.strip():
            raise ReasonRequired(Command.REOPEN.value)
        closure = self.state.closure
        assert closure is not None
        if now - closure.at > window:
            raise ReopenWindowClosed(
                self.order_id, closure.at.isoformat(), window.total_seconds() / 86400
            )
        self._trigger(
            C.Reopened,
            now,
            actor=actor,
            reason=reason,
            to_status=closure.status,
            corrects_version=closure.version,
            corrects_event=closure.event,
            status_before_block=closure.status_before_block,
            hold=closure.hold,
            running_since=closure.running_since,
            notify=closure.notified,
        )
