"""Bodies of the order endpoints: the facts intake, the eligibility answer ("why is this
order not in dunning?"), manual admission. The web UI renders ``EligibilityOut``."""

from __future__ import annotations

import datetime as _dt
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from debtcases.api.fields import (
    Amount,
    Day,
    OrderIdStr,
    Reason,
    Strict,
    _enforce,
    free_text,
    text_pattern,
)
from debtcases.api.responses import ActorOut, DebtorOut
from debtcases.api.schemas import DebtorIn
from debtcases.domain import admission as rules
from debtcases.domain.debtor import Debtor
from debtcases.domain.eligibility_checks import berlin_date
from debtcases.domain.eligibility_verdict import Explanation, Verdict
from debtcases.domain.order_facts import (
    INVOICE_NUMBER_LIMIT,
    MAX_REMINDERS,
    FactsVersion,
    Failure,
    ManualAdmission,
    OrderFacts,
    PaymentMethod,
    Reminder,
    ReminderKind,
    facts_errors,
)
from debtcases.domain.statuses import Status

MAX_BATCH = 1000

# ------------------------------------------------------------------ intake


class ReminderIn(Strict):
    kind: ReminderKind = Field(description="`payment_reminder` (Zahlungserinnerung) or `mahnung`")
    sent_on: Day


class OrderFactsIn(Strict):
    """What the platform knows of one unpaid order: a full snapshot (each call replaces
    nothing: a differing snapshot becomes a new version of the facts)."""

    order_id: OrderIdStr
    user_id: int = Field(gt=0, lt=rules.USER_ID_LIMIT, description="The vendor's User-ID")
    amount: Amount
    currency: Annotated[str, StringConstraints(pattern=rules.CURRENCY_PATTERN)] = "EUR"
    payment_method: PaymentMethod
    failure: Failure = Field(description="What failed (`none` if nothing did)")
    failed_on: Day | None = Field(None, description="When the debit came back / chargeback")
    invoice_number: Annotated[
        str,
        StringConstraints(max_length=INVOICE_NUMBER_LIMIT),
        free_text("invoice_number"),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": text_pattern(INVOICE_NUMBER_LIMIT, control_free=True),
                "description": f"at most {INVOICE_NUMBER_LIMIT} characters after trimming; "
                "no control characters",
            }
        ),
    ] = ""
    invoice_date: Day | None = None
    due_date: Day | None = Field(None, description="Payment due date (invoice / instalment)")
    reminders: list[ReminderIn] = Field(default_factory=list, max_length=MAX_REMINDERS)
    refunded_on: Day | None = None
    cancelled_on: Day | None = None
    debtor: DebtorIn
    dunning_enabled: StrictBool = Field(description="The vendor has dunning enabled")

    @model_validator(mode="after")
    def _domain_rules(self) -> OrderFactsIn:
        for error in facts_errors(self.to_domain()):
            _enforce(error)
        return self

    def to_domain(self) -> OrderFacts:
        d = self.debtor
        return OrderFacts(
            order_id=self.order_id,
            user_id=self.user_id,
            amount=self.amount,
            currency=self.currency.upper(),
            payment_method=self.payment_method,
            failure=self.failure,
            failed_on=self.failed_on,
            invoice_number=self.invoice_number,
            invoice_date=self.invoice_date,
            due_date=self.due_date,
            reminders=tuple(Reminder(r.kind, r.sent_on) for r in self.reminders),
            refunded_on=self.refunded_on,
            cancelled_on=self.cancelled_on,
            debtor=Debtor(d.name, d.street, d.postal_code, d.city, d.country.upper()),
            dunning_enabled=self.dunning_enabled,
        )


class OrdersIn(Strict):
    orders: list[OrderFactsIn] = Field(min_length=1, max_length=MAX_BATCH)


class ReportedOut(BaseModel):
    order_id: str
    facts_version: int = Field(description="1, 2, ...: the version now current")
    changed: bool = Field(description="False: the snapshot equalled the current facts")


class OrdersReportedOut(BaseModel):
    recorded: int
    unchanged: int
    orders: list[ReportedOut]


# ------------------------------------------------------------------ facts


class ReminderOut(BaseModel):
    kind: str
    sent_on: date


class FactsOut(BaseModel):
    order_id: str
    user_id: int
    amount: str
    currency: str
    payment_method: str
    failure: str
    failed_on: date | None
    invoice_number: str
    invoice_date: date | None
    due_date: date | None
    reminders: list[ReminderOut]
    refunded_on: date | None
    cancelled_on: date | None
    debtor: DebtorOut
    dunning_enabled: bool

    @classmethod
    def of(cls, f: OrderFacts) -> FactsOut:
        d: dict[str, Any] = f.as_dict()
        return cls(**d)


class FactsVersionOut(BaseModel):
    version: int
    recorded_at: datetime
    recorded_by: ActorOut
    facts: FactsOut

    @classmethod
    def of(cls, v: FactsVersion) -> FactsVersionOut:
        return cls(
            version=v.version,
            recorded_at=v.recorded_at,
            recorded_by=ActorOut(**v.recorded_by.as_dict()),
            facts=FactsOut.of(v.facts),
        )


class ManualAdmissionOut(BaseModel):
    at: datetime
    by: ActorOut
    reason: str
    ruleset_version: str
    red_conditions: list[str]

    @classmethod
    def of(cls, m: ManualAdmission) -> ManualAdmissionOut:
        return cls(
            at=m.at,
            by=ActorOut(**m.by.as_dict()),
            reason=m.reason,
            ruleset_version=m.ruleset_version,
            red_conditions=list(m.red_conditions),
        )


class OrderOut(BaseModel):
    """The order's current facts and every earlier version (oldest first)."""

    order_id: str
    current: FactsVersionOut
    history: list[FactsVersionOut]
    admitted_by_hand: ManualAdmissionOut | None


# ------------------------------------------------------------ eligibility


class ConditionOut(BaseModel):
    id: str
    label: str = Field(description="German, as support reads it")
    check: str
    passed: bool = Field(description="green (true) or red (false)")
    observed: str = Field(description="The value seen in the facts")
    required: str = Field(description="What the condition requires")
    message: str = Field(description="Why it is red (empty when green)")
    time: bool = Field(description="A time condition (turns green once its date is reached)")
    offset_days: int | None
    green_from: datetime | None = Field(description="Time conditions: when it turns green")


class GroupOut(BaseModel):
    id: str
    label: str
    passed: bool = Field(description="Every condition green at `at`")
    met_from: datetime | None = Field(
        description="The first moment every condition holds when only time is missing"
    )
    conditions: list[ConditionOut]


class DueOut(BaseModel):
    at: datetime = Field(description="The due moment (Fälligkeitsdatum), 00:00 Europe/Berlin")
    date: _dt.date = Field(description="The due date (Europe/Berlin)")
    ruleset_version: str
    group: str


class NextStepOut(BaseModel):
    text: str
    at: datetime | None


class RuleSetOut(BaseModel):
    version: str
    active_from: datetime
    description: str


class FactsUsedOut(BaseModel):
    version: int
    recorded_at: datetime
    recorded_by: ActorOut


class BlockingOut(BaseModel):
    group: str
    conditions: list[str]


class AdmissionOut(BaseModel):
    admitted_at: datetime
    admitted_by: Literal["scheduler", "manual", "intake"] = Field(
        description="`scheduler`: by the rule set; `manual`: by hand (support); "
        "`intake`: admitted directly via POST /api/v1/cases"
    )
    actor: ActorOut
    ruleset_version: str | None
    group: str | None
    reason: str = Field(description="manual: support's reason")


class CaseStateOut(BaseModel):
    status: Status
    status_label: str
    admission: AdmissionOut


class EligibilityOut(BaseModel):
    """Why is this order (not) in dunning? One verdict, the rule set and facts used,
    each group with each condition, the due date and the next step."""

    order_id: str
    at: datetime = Field(description="The moment explained (`?at=`, default now)")
    verdict: Verdict = Field(
        description="`in_dunning` (see `case`), `eligible_on` (see `eligible_on`), "
        "`not_eligible` (see `blocking`), `missing` (a group is met and the due date has "
        "passed but there is no case: a defect to report), `unknown_order` (no facts)"
    )
    summary: str = Field(description="The answer in one German sentence")
    eligible_on: date | None = Field(description="`eligible_on`: the due date (Europe/Berlin)")
    due: DueOut | None
    next_step: NextStepOut
    ruleset: RuleSetOut = Field(description="The rule-set version in force at `at`")
    facts: FactsUsedOut | None = Field(description="The facts version used (known at `at`)")
    groups: list[GroupOut]
    blocking: list[BlockingOut] = Field(description="`not_eligible`: per group, the red ids")
    case: CaseStateOut | None

    @classmethod
    def of(cls, e: Explanation, facts: FactsVersion | None) -> EligibilityOut:
        assert e.ruleset is not None
        groups = []
        for g in e.result.groups if e.result else ():
            groups.append(
                GroupOut(
                    id=g.id,
                    label=g.label,
                    passed=g.passed,
                    met_from=g.met_from,
                    conditions=[
                        ConditionOut(
                            id=c.id,
                            label=c.label,
                            check=c.check,
                            passed=c.passed,
                            observed=c.observed,
                            required=c.required,
                            message=c.message,
                            time=c.is_time,
                            offset_days=c.offset_days,
                            green_from=c.green_from,
                        )
                        for c in g.conditions
                    ],
                )
            )
        case = None
        if e.case is not None:
            a = e.case.admission
            case = CaseStateOut(
                status=e.case.status,
                status_label=e.case.status.label,
                admission=AdmissionOut(
                    admitted_at=a.at,
                    admitted_by=a.by.value,
                    actor=ActorOut(**a.actor.as_dict()),
                    ruleset_version=a.ruleset_version,
                    group=a.group,
                    reason=a.reason,
                ),
            )
        due = None
        if e.due is not None:
            due = DueOut(
                at=e.due.at,
                date=berlin_date(e.due.at),
                ruleset_version=e.due.ruleset_version,
                group=e.due.group,
            )
        return cls(
            order_id=e.order_id,
            at=e.at,
            verdict=e.verdict,
            summary=e.summary,
            eligible_on=due.date if due and e.verdict is Verdict.ELIGIBLE_ON else None,
            due=due,
            next_step=NextStepOut(text=e.next_step.text, at=e.next_step.at),
            ruleset=RuleSetOut(
                version=e.ruleset.version,
                active_from=e.ruleset.active_from,
                description=e.ruleset.description,
            ),
            facts=(
                FactsUsedOut(
                    version=facts.version,
                    recorded_at=facts.recorded_at,
                    recorded_by=ActorOut(**facts.recorded_by.as_dict()),
                )
                if facts
                else None
            ),
            groups=groups,
            blocking=[BlockingOut(group=g, conditions=list(ids)) for g, ids in e.blocking],
            case=case,
        )


# ------------------------------------------------------- manual admission


class AdmitByHandIn(Strict):
    reason: Reason = Field(
        description="Why support admits this order by hand (mandatory; kept for ever)"
    )


class AdmitDueOut(BaseModel):
    now: datetime
    looked_at: int
    admitted: list[str]
    existing: int
    not_due: int


__all__ = ["DebtorIn"]
