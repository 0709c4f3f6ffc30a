"""Case commands and the single-case queries (thin: parse, call the application, answer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response

from debtcases.api.bodies import body_doc, json_body
from debtcases.api.deps import ActorDep, ContainerDep, permitted
from debtcases.api.fields import OrderIdStr
from debtcases.api.filters import AsOfQuery, moment_query, parse_moment
from debtcases.api.openapi import CODES_KEY
from debtcases.api.responses import (
    CaseChangeOut,
    CaseOut,
    ChangeOut,
    ChangesOut,
    HistoryEntryOut,
    HistoryOut,
    Problem,
    SupportCaseChangeOut,
    SupportCaseOut,
    TransitionProblem,
    case_out,
)
from debtcases.api.schemas import AddressIn, AdmitIn, BlockIn, EmptyIn, MarkPaidIn, ReasonIn
from debtcases.commands.app import Admission, DunningCases, Outcome
from debtcases.domain.actors import Actor, Role
from debtcases.domain.rules import Command
from debtcases.domain.state import CaseState
from debtcases.projections.queries import case_shape

router = APIRouter(prefix="/api/v1", tags=["cases"])

_P = {"model": Problem, "content": {"application/problem+json": {}}}
COMMON: dict[int | str, dict[str, Any]] = {
    401: {**_P, "description": "Missing or invalid token"},
    403: {**_P, "description": "This role may not do this"},
    404: {**_P, "description": "Unknown order (or not yours)"},
    413: {**_P, "description": "Body too large"},
    422: {**_P, "description": "Validation error (field-level details in `errors`)"},
}
TRANSITION: dict[int | str, dict[str, Any]] = {
    409: {
        "model": TransitionProblem,
        "content": {"application/problem+json": {}},
        "description": "`invalid_transition` (with `from`, `to`) or `concurrent_modification`",
        CODES_KEY: ["invalid_transition", "concurrent_modification"],
    }
}


# One shape of a case per role (SupportCaseOut for support, CaseOut for vendors).
AnyCase = SupportCaseOut | CaseOut
AnyChange = SupportCaseChangeOut | CaseChangeOut


# A hold's terms can also conflict with the clock (an end that already passed).
HOLD_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        **TRANSITION[409],
        CODES_KEY: ["invalid_transition", "concurrent_modification", "invalid_hold"],
    }
}


def _case(container: Any, case: Any, actor: Any) -> CaseOut:
    return case_out(case, actor.role, container.clock(), container.settings.stuck_after_hours)


# Read-your-writes is bounded: when the views did not catch up in time, the answer says so
# (the lists may not show this change yet) instead of silently giving up.
VIEWS_CAUGHT_UP = "X-Views-Caught-Up"
_CAUGHT_UP_HEADER = {
    VIEWS_CAUGHT_UP: {
        "description": "`false` when the lists had not caught up with this change within "
        "the read-your-writes timeout (they will shortly); `true` otherwise",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}
CAUGHT_UP: dict[int | str, dict[str, Any]] = {
    200: {"description": "The case after the command", "headers": _CAUGHT_UP_HEADER}
}


def _answer(container: Any, outcome: Outcome, actor: Any, response: Response) -> CaseOut:
    caught_up = container.wait_for_views(outcome.position)
    response.headers[VIEWS_CAUGHT_UP] = "true" if caught_up else "false"
    case = _case(container, outcome.case, actor)
    model = CaseChangeOut if actor.role is Role.VENDOR else SupportCaseChangeOut
    return model(**case.model_dump(), changed=outcome.changed)


def _doc(method: Any) -> str:
    return (method.__doc__ or "").strip()


# Each command route declares the role check before its body (read by a dependency, not by
# FastAPI up front): a role that may never issue the command gets 403 whatever it sent.


@router.post(
    "/cases",
    response_model=AnyChange,
    status_code=201,
    responses={
        **COMMON,
        200: {
            "model": AnyChange,
            "description": "Already admitted with the same data: the existing case",
        },
        409: {
            **_P,
            "description": "`order_conflict`: admitted with different data",
            CODES_KEY: ["order_conflict", "concurrent_modification"],
        },
    },
    summary="Admit an order into dunning (system, support)",
    description=_doc(DunningCases.admit),
    openapi_extra={"requestBody": body_doc(AdmitIn)},
)
def admit(
    actor: Annotated[Actor, permitted(Command.ADMIT)],
    body: Annotated[AdmitIn, json_body(AdmitIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    outcome = container.cases.admit(
        Admission(
            body.order_id,
            body.user_id,
            body.amount,
            body.currency.upper(),
            body.debtor.to_domain(),
            body.reason,
        ),
        actor,
    )
    if not outcome.created:
        response.status_code = 200
    return _answer(container, outcome, actor, response)


@router.post(
    "/cases/{order_id}/start",
    response_model=AnyChange,
    responses={**COMMON, **TRANSITION, **CAUGHT_UP},
    summary="Play: start dunning (vendor own LOCKED; support LOCKED/FAILED)",
    description=_doc(DunningCases.start_dunning),
    openapi_extra={"requestBody": body_doc(EmptyIn, required=False)},
)
def start(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.START)],
    body: Annotated[EmptyIn | None, json_body(EmptyIn, optional=True)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    reason = body.reason if body else ""
    return _answer(
        container, container.cases.start_dunning(order_id, actor, reason), actor, response
    )


@router.post(
    "/cases/{order_id}/hand-over",
    response_model=AnyChange,
    responses={**COMMON, **TRANSITION, **CAUGHT_UP},
    summary="Ans Inkasso übergeben, by hand (support)",
    description=_doc(DunningCases.hand_over),
    openapi_extra={"requestBody": body_doc(ReasonIn)},
)
def hand_over(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.HAND_OVER)],
    body: Annotated[ReasonIn, json_body(ReasonIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    return _answer(
        container, container.cases.hand_over(order_id, actor, body.reason), actor, response
    )


@router.post(
    "/cases/{order_id}/cancel",
    response_model=AnyChange,
    responses={**COMMON, **TRANSITION, **CAUGHT_UP},
    summary="Gekündigt: the order was cancelled (vendor own, support)",
    description=_doc(DunningCases.cancel),
    openapi_extra={"requestBody": body_doc(ReasonIn)},
)
def cancel(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.CANCEL)],
    body: Annotated[ReasonIn, json_body(ReasonIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    outcome = container.cases.cancel(order_id, actor, body.reason)
    return _answer(container, outcome, actor, response)


@router.post(
    "/cases/{order_id}/block",
    response_model=AnyChange,
    responses={**COMMON, **HOLD_CONFLICT, **CAUGHT_UP},
    summary="Blockiert: pause a case with a hold (reason code, optional end) (support)",
    description=_doc(DunningCases.block),
    openapi_extra={"requestBody": body_doc(BlockIn)},
)
def block(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.BLOCK)],
    body: Annotated[BlockIn, json_body(BlockIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    outcome = container.cases.block(order_id, actor, body.reason, hold=body.to_domain())
    return _answer(container, outcome, actor, response)


@router.post(
    "/cases/{order_id}/unblock",
    response_model=AnyChange,
    responses={**COMMON, **TRANSITION, **CAUGHT_UP},
    summary="Resume a blocked case (support)",
    description=_doc(DunningCases.unblock),
    openapi_extra={"requestBody": body_doc(ReasonIn)},
)
def unblock(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.UNBLOCK)],
    body: Annotated[ReasonIn, json_body(ReasonIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    return _answer(
        container, container.cases.unblock(order_id, actor, body.reason), actor, response
    )


@router.post(
    "/cases/{order_id}/reopen",
    response_model=AnyChange,
    responses={
        **COMMON,
        409: {
            "model": TransitionProblem,
            "content": {"application/problem+json": {}},
            "description": "`reopen_window_closed` (with `closed_at`, `window_days`), "
            "`invalid_transition` or `concurrent_modification`",
        },
        **CAUGHT_UP,
    },
    summary="Correct a mistaken Bezahlt / Gekündigt: back to the status before (support)",
    description=_doc(DunningCases.reopen),
    openapi_extra={"requestBody": body_doc(ReasonIn)},
)
def reopen(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.REOPEN)],
    body: Annotated[ReasonIn, json_body(ReasonIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    return _answer(container, container.cases.reopen(order_id, actor, body.reason), actor, response)


@router.post(
    "/cases/{order_id}/mark-paid",
    response_model=AnyChange,
    responses={**COMMON, **TRANSITION, **CAUGHT_UP},
    summary="Bezahlt (support)",
    description=_doc(DunningCases.mark_paid),
    openapi_extra={"requestBody": body_doc(MarkPaidIn)},
)
def mark_paid(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.MARK_PAID)],
    body: Annotated[MarkPaidIn, json_body(MarkPaidIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    outcome = container.cases.mark_paid(order_id, actor, body.reason, body.reference)
    return _answer(container, outcome, actor, response)


@router.post(
    "/cases/{order_id}/address",
    response_model=AnyChange,
    responses={**COMMON, **TRANSITION, **CAUGHT_UP},
    summary="AddressCorrected: enter the debtor's right address (support)",
    description=_doc(DunningCases.correct_address),
    openapi_extra={"requestBody": body_doc(AddressIn)},
)
def correct_address(
    order_id: OrderIdStr,
    actor: Annotated[Actor, permitted(Command.CORRECT_ADDRESS)],
    body: Annotated[AddressIn, json_body(AddressIn)],
    container: ContainerDep,
    response: Response,
) -> CaseOut:
    outcome = container.cases.correct_address(order_id, actor, body.debtor.to_domain(), body.reason)
    return _answer(container, outcome, actor, response)


@router.get(
    "/cases/{order_id}",
    response_model=AnyCase,
    responses=COMMON,
    summary="One case (support; vendor: own), in the same shape as in the lists",
    description="`as_of`: the case as it was at that moment, replayed from its stream "
    "(404 if it was not admitted yet). " + _doc(DunningCases.case_as_of),
)
def get_case(
    order_id: OrderIdStr, actor: ActorDep, container: ContainerDep, as_of: AsOfQuery = None
) -> CaseOut:
    moment = parse_moment("as_of", as_of)
    if moment is None:
        return _case(container, container.cases.get_case(order_id, actor), actor)
    return _shaped(container, container.cases.case_as_of(order_id, actor, moment), actor, moment)


def _shaped(container: Any, state: CaseState, actor: Actor, at: datetime) -> CaseOut:
    model = CaseOut if actor.role is Role.VENDOR else SupportCaseOut
    return model(**case_shape(state, actor.role, at, container.settings.stuck_after_hours))


@router.get(
    "/cases/{order_id}/changes",
    response_model=ChangesOut,
    responses=COMMON,
    summary="What changed between two moments: status, address, amount, hold; who and why",
    description=_doc(DunningCases.changes)
    + "\n\nThe two moments in either order (the earlier is `from`); both are ISO 8601 "
    "with a UTC offset.",
)
def changes(
    order_id: OrderIdStr,
    actor: ActorDep,
    container: ContainerDep,
    from_: Annotated[
        str | None, moment_query("The first moment; default: since admission.", alias="from")
    ] = None,
    to: Annotated[str | None, moment_query("The second moment; default: now.")] = None,
) -> ChangesOut:
    start = parse_moment("from", from_)
    end = parse_moment("to", to) or container.clock()
    if start is not None and start > end:
        start, end = end, start  # "between" two moments: in either order
    before, after, found = container.cases.changes(order_id, actor, start, end)
    return ChangesOut(
        order_id=order_id,
        from_=start,
        to=end,
        before=_shaped(container, before, actor, start)
        if before is not None and start is not None
        else None,
        after=_shaped(container, after, actor, end) if after is not None else None,
        changes=[ChangeOut.from_change(c) for c in found],
    )


@router.get(
    "/cases/{order_id}/history",
    response_model=HistoryOut,
    responses=COMMON,
    summary="Change history, oldest first (vendor: without support-only entries)",
    description=_doc(DunningCases.history),
)
def history(order_id: OrderIdStr, actor: ActorDep, container: ContainerDep) -> HistoryOut:
    entries = container.cases.history(order_id, actor)
    return HistoryOut(order_id=order_id, entries=[HistoryEntryOut.from_entry(e) for e in entries])
