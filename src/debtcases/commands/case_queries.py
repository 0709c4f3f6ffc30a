"""The read side of ``DunningCases`` (``app.py``): one case or many from the event store,
its history, the case as it was at a moment and what changed between two. A mixin, with the
same rules on who may read what as the commands."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from debtcases.domain.actors import Actor, Role
from debtcases.domain.case import DunningCase
from debtcases.domain.errors import CaseNotFound, NotPermitted
from debtcases.domain.history import (
    Change,
    HistoryEntry,
    changes_between,
    history_entries,
    state_as_of,
)
from debtcases.domain.state import CaseState


class _ReadableCases(Protocol):
    """What the reads need of the application."""

    events: Any  # the library's event store

    def _load(self, order_id: str) -> DunningCase: ...

    def _load_many(self, order_ids: Iterable[str]) -> dict[str, DunningCase | None]: ...

    def _load_visible(self, order_id: str, actor: Actor) -> DunningCase: ...

    def get_case(self, order_id: str, actor: Actor) -> DunningCase: ...


class CaseQueries:
    """``DunningCases``' reads."""

    def get_case(self: _ReadableCases, order_id: str, actor: Actor) -> DunningCase:
        """One case. Rules: support sees every case, a vendor only their own (another
        vendor's case is 'not found'); integrations do not read cases."""
        if actor.role not in (Role.SUPPORT, Role.VENDOR):
            raise NotPermitted(actor.role.value, "read cases")
        return self._load_visible(order_id, actor)

    def find_cases(
        self: _ReadableCases, order_ids: Sequence[str], actor: Actor
    ) -> dict[str, DunningCase]:
        """The cases of those orders that have one the actor may see (same rules as
        ``get_case``), read together: one query per 10,000 orders."""
        if actor.role not in (Role.SUPPORT, Role.VENDOR):
            raise NotPermitted(actor.role.value, "read cases")
        found: dict[str, DunningCase] = {}
        for order_id, case in self._load_many(order_ids).items():
            if case is None:
                continue
            try:
                case.ensure_visible_to(actor)
            except CaseNotFound:  # another vendor's case: as if there were none
                continue
            found[order_id] = case
        return found

    def history(self: _ReadableCases, order_id: str, actor: Actor) -> list[HistoryEntry]:
        """Every change to the case, oldest first, replayed from its stream. Vendors get
        their view: no support-only entries, no BLOCKED status."""
        case = self.get_case(order_id, actor)
        return history_entries(self.events.get(case.id), actor.role)

    def case_as_of(self: _ReadableCases, order_id: str, actor: Actor, at: datetime) -> CaseState:
        """The case as it was at ``at``: its stream replayed up to that moment through the
        one fold. Rules: who may read the case now may read it as it was (support: every
        case; a vendor: their own, as they always see it); a case admitted after ``at``
        was not there yet (not found)."""
        case = self.get_case(order_id, actor)
        state = state_as_of(self.events.get(case.id), at)
        if state is None:
            raise CaseNotFound(order_id)
        return state

    def changes(
        self: _ReadableCases, order_id: str, actor: Actor, start: datetime | None, end: datetime
    ) -> tuple[CaseState | None, CaseState | None, list[Change]]:
        """What changed on the case between ``start`` (None: since it was admitted) and
        ``end``: the case at each moment and every change in between (status, address,
        amount, hold), with who and why. Rules: as ``history``; vendors get their view
        (no support-only changes, no holds, never BLOCKED)."""
        case = self.get_case(order_id, actor)
        return changes_between(self.events.get(case.id), actor.role, start, end)

    def has_case(self: _ReadableCases, order_id: str) -> bool:
        try:
            self._load(order_id)
        except CaseNotFound:
            return False
        return True
