"""Response bodies (pydantic v2): a case as each role sees it, its history and changes,
problems and health; the OpenAPI document is built from these."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, Field

from debtcases.domain.actors import Role
from debtcases.domain.case import DunningCase
from debtcases.domain.history import Change, HistoryEntry
from debtcases.domain.holds import HoldReason
from debtcases.domain.statuses import Status
from debtcases.projections.queries import case_shape


class DebtorOut(BaseModel):
    name: str
    street: str
    postal_code: str
    city: str
    country: str


class ActorOut(BaseModel):
    role: str
    id: str


class CaseOut(BaseModel):
    """A case as a vendor sees it: the fields every reader gets (support's shape,
    ``SupportCaseOut``, adds its own). Built by ``case_shape``, the one shape of a case for
    the case endpoint, command answers, list items and CSV rows. For a vendor, ``status``
    is never BLOCKED and ``version``/``updated_at`` are those of the last change the vendor
    can see (a block moves neither)."""

    order_id: str
    user_id: int
    status: Status
    status_label: str
    amount: str
    currency: str
    debtor: DebtorOut
    errors: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    at_diagonal: bool = Field(
        description="Diagonal has this case or it is being sent (a handover was sent and "
        "not rejected since); the same definition as collection access counts"
    )
    fell_back: bool = Field(
        False,
        description="The status fell back by itself (Diagonal rejected the case after it "
        "was handed over or during support's repair): goes to a specialist",
    )
    entered_month: str = Field(description="YYYY-MM (Europe/Berlin) the case entered dunning")
    handed_over_at: datetime | None = None
    awaiting_diagonal_close: bool = Field(
        False, description="Cancelled/paid while at Diagonal; Diagonal has not closed it yet"
    )
    closed_at_diagonal_at: datetime | None = Field(
        None, description="When Diagonal confirmed it closed the case"
    )

    @classmethod
    def from_case(
        cls,
        case: DunningCase,
        role: Role,
        now: datetime | None = None,
        stuck_after_hours: float = 48.0,
    ) -> Self:
        """``case`` as ``role`` sees it (``now``: for support's stuck flag)."""
        at = now or case.state.updated_at or case.state.created_at
        return cls(**case_shape(case.state, role, at, stuck_after_hours))


class LastChange(BaseModel):
    at: datetime
    event: str
    actor: ActorOut
    reason: str


class HoldOut(BaseModel):
    """The terms of a block (support only; a vendor never sees a hold)."""

    code: HoldReason
    until: date | None
    promised_amount: str | None
    promised_date: date | None
    ends_at: datetime | None = Field(
        description="When the hold ends by itself (null: only when support unblocks)"
    )


class SupportCaseOut(CaseOut):
    """A case as support sees it: the vendor's fields (status BLOCKED included, the case's
    own version and last change) plus the support-only ones."""

    status_before_block: Status | None
    stuck: bool = Field(
        description="RUNNING longer than the configured bound without Diagonal's ack"
    )
    last_change: LastChange
    payment_reference: str | None
    hold: HoldOut | None = Field(None, description="While BLOCKED: the hold's terms")


def case_out(case: DunningCase, role: Role, now: datetime, stuck_after_hours: float) -> CaseOut:
    """The response model of ``case`` for ``role``."""
    model = CaseOut if role is Role.VENDOR else SupportCaseOut
    return model.from_case(case, role, now, stuck_after_hours)


class CaseChangeOut(CaseOut):
    """A command's answer to a vendor: the case after it, and whether it changed."""

    changed: bool = Field(
        description="false: the case already was what the command asked for "
        "(e.g. hand-over on a case Diagonal's ack had moved on); nothing was recorded",
    )


class SupportCaseChangeOut(SupportCaseOut):
    """A command's answer to support: the case after it, and whether it changed."""

    changed: bool = Field(description=CaseChangeOut.model_fields["changed"].description)


class HistoryEntryOut(BaseModel):
    version: int = Field(
        description="The case's version after this change (a correction's "
        "`details.corrects_version` names the entry it corrects)"
    )
    at: datetime
    event: str
    from_status: Status | None
    to_status: Status
    actor: ActorOut
    reason: str
    details: dict[str, Any]

    @classmethod
    def from_entry(cls, e: HistoryEntry) -> HistoryEntryOut:
        details = {k: (f"{v:.2f}" if isinstance(v, Decimal) else v) for k, v in e.details.items()}
        return cls(
            version=e.version,
            at=e.at,
            event=e.event,
            from_status=e.from_status,
            to_status=e.to_status,
            actor=ActorOut(**e.actor),
            reason=e.reason,
            details=details,
        )


class HistoryOut(BaseModel):
    order_id: str
    entries: list[HistoryEntryOut]


class FieldChangeOut(BaseModel):
    before: Any = Field(description="The value before the change (null: none)")
    after: Any = Field(description="The value after it (null: none)")


class ChangeOut(HistoryEntryOut):
    """One change between the two moments: the history entry (who, when, why) and what it
    changed of the case's `status`, `debtor` (the address), `amount` and `hold` (support
    only); fields it did not change are absent."""

    changed: dict[str, FieldChangeOut]

    @classmethod
    def from_change(cls, c: Change) -> ChangeOut:
        entry = HistoryEntryOut.from_entry(c.entry)
        changed = {k: FieldChangeOut(before=b, after=a) for k, (b, a) in c.changed.items()}
        return cls(**entry.model_dump(), changed=changed)


class ChangesOut(BaseModel):
    order_id: str
    from_: datetime | None = Field(
        serialization_alias="from",
        description="The first moment (null: since the case was admitted)",
    )
    to: datetime = Field(description="The second moment")
    before: SupportCaseOut | CaseOut | None = Field(
        description="The case as it was at `from` (null: not admitted yet, or no `from`)"
    )
    after: SupportCaseOut | CaseOut | None = Field(
        description="The case as it was at `to` (null: not admitted yet)"
    )
    changes: list[ChangeOut] = Field(description="Every change in between, oldest first")


class Problem(BaseModel):
    """application/problem+json"""

    type: str
    title: str
    status: int
    detail: str
    code: str


class TransitionProblem(Problem):
    from_: str | None = Field(None, alias="from")
    to: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = {}
