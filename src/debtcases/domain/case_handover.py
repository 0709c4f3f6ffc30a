"""Sending a case to Diagonal: Play (``start_dunning``), support's ``hand_over`` and the
address correction, each on our handover checks first (the same engine as eligibility). A
mixin of ``DunningCase``: the events stay nested in the aggregate in ``case.py`` (their
topics are stored with every event).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from debtcases.domain.actors import Actor
from debtcases.domain.debtor import DEFAULT_SERVED_COUNTRIES, Debtor, handover_errors
from debtcases.domain.rules import Command
from debtcases.domain.statuses import Status


class _HandedOverCase(Protocol):
    """What the handover decisions need of the aggregate."""

    @property
    def debtor(self) -> Debtor: ...

    @property
    def amount(self) -> Decimal: ...

    @property
    def status(self) -> Status: ...

    @property
    def handover_sent(self) -> bool: ...

    def _check(self, actor: Actor, command: Command) -> bool: ...

    def _trigger(self, event_class: type[Any], now: datetime, **kwargs: Any) -> None: ...


def _fail_handover_checks(
    case: _HandedOverCase, actor: Actor, now: datetime, reason: str, errors: list[str]
) -> None:
    """Our own checks refused the handover: FAILED with the messages (the "!" popup)."""
    from debtcases.domain.case import DunningCase as C  # the events

    case._trigger(
        C.HandoverFailed,
        now,
        actor=actor,
        reason=reason,
        to_status=Status.FAILED,
        errors=errors,
        source="validation",
        message_id=None,
        fell_back=False,
    )


class HandoverDecisions:
    """``DunningCase``'s decisions that send a case (or its new address) to Diagonal."""

    def start_dunning(
        self: _HandedOverCase,
        actor: Actor,
        now: datetime,
        reason: str = "",
        served_countries: Iterable[str] = DEFAULT_SERVED_COUNTRIES,
    ) -> None:
        from debtcases.domain.case import DunningCase as C  # the events

        if not self._check(actor, Command.START):
            return
        errors = handover_errors(self.debtor, self.amount, served_countries)
        if errors:
            _fail_handover_checks(self, actor, now, reason, errors)
        else:
            self._trigger(
                C.DunningStarted, now, actor=actor, reason=reason, to_status=Status.RUNNING
            )

    def hand_over(
        self: _HandedOverCase,
        actor: Actor,
        now: datetime,
        reason: str,
        served_countries: Iterable[str] = DEFAULT_SERVED_COUNTRIES,
    ) -> None:
        from debtcases.domain.case import DunningCase as C  # the events

        if not self._check(actor, Command.HAND_OVER):
            return
        errors = handover_errors(self.debtor, self.amount, served_countries)
        if errors:
            _fail_handover_checks(self, actor, now, reason, errors)
        else:
            self._trigger(
                C.HandedToCollection,
                now,
                actor=actor,
                reason=reason,
                to_status=Status.HANDED_OVER,
                source="support",
                message_id=None,
            )

    def correct_address(
        self: _HandedOverCase,
        actor: Actor,
        now: datetime,
        debtor: Debtor,
        reason: str,
        served_countries: Iterable[str] = DEFAULT_SERVED_COUNTRIES,
    ) -> None:
        from debtcases.domain.case import DunningCase as C  # the events

        self._check(actor, Command.CORRECT_ADDRESS)  # never "already there"
        errors = handover_errors(debtor, self.amount, served_countries)
        self._trigger(
            C.AddressCorrected,
            now,
            actor=actor,
            reason=reason,
            to_status=self.status,
            debtor=debtor,
            errors=errors,
            notify=self.handover_sent,
        )
