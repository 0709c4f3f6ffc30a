"""Orders: the facts intake (system), an order's facts and their history (support), the
eligibility explainer (support), manual admission (support), a scheduler round (system).
Thin: parse, call ``container.orders``, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError

from debtcases.api.deps import ContainerDep, SupportActor, require_roles
from debtcases.api.fields import OrderIdStr
from debtcases.api.filters import moment_query, parse_moment
from debtcases.api.openapi import CODES_KEY
from debtcases.api.problems import problem
from debtcases.api.routes_cases import _P, COMMON
from debtcases.api.schemas_orders import (
    AdmitByHandIn,
    AdmitDueOut,
    EligibilityOut,
    FactsVersionOut,
    ManualAdmissionOut,
    OrderOut,
    OrdersIn,
    OrdersReportedOut,
    ReportedOut,
)
from debtcases.commands.orders import Orders, UnknownOrder
from debtcases.domain.actors import Actor, Role

router = APIRouter(prefix="/api/v1", tags=["orders"])

SystemActor = Annotated[Actor, require_roles(Role.SYSTEM)]


def _no_query(*allowed: str):  # type: ignore[no-untyped-def]
    """A dependency refusing unknown query parameters (422 naming them)."""

    def check(request: Request) -> None:
        unknown = [k for k in request.query_params if k not in allowed]
        if unknown:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", k),
                        "msg": "unknown query parameter",
                        "type": "extra_forbidden",
                    }
                    for k in unknown
                ]
            )

    return Depends(check)


def _unknown(order_id: str) -> Response:
    return problem(404, "Not found", f"No facts and no case for order {order_id!r}.", "not_found")


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**_P, "description": "Unknown order"}}


@router.post(
    "/orders",
    response_model=OrdersReportedOut,
    responses={
        **COMMON,
        409: {
            **_P,
            "description": "`order_conflict`: an order appears twice in one call",
            CODES_KEY: ["order_conflict"],
        },
    },
    summary="Report the facts of unpaid orders (system; up to 1,000 per call)",
    description=(Orders.report.__doc__ or "")
    + "\n\n"
    + (
        "Each item is a full snapshot; one differing from the order's current facts becomes "
        "a new version (the facts are append-only), an equal one changes nothing."
    ),
    dependencies=[_no_query()],
)
def report_orders(actor: SystemActor, container: ContainerDep, body: OrdersIn) -> OrdersReportedOut:
    results = container.orders.report([o.to_domain() for o in body.orders], actor)
    return OrdersReportedOut(
        recorded=sum(1 for r in results if r.changed),
        unchanged=sum(1 for r in results if not r.changed),
        orders=[
            ReportedOut(order_id=r.order_id, facts_version=r.facts_version, changed=r.changed)
            for r in results
        ],
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    responses={**COMMON, **NOT_FOUND},
    summary="An order's current facts and their history (support)",
    dependencies=[_no_query()],
)
def get_order(order_id: OrderIdStr, actor: SupportActor, container: ContainerDep) -> Any:
    try:
        versions, manual = container.orders.history(order_id, actor)
    except UnknownOrder:
        return _unknown(order_id)
    return OrderOut(
        order_id=order_id,
        current=FactsVersionOut.of(versions[-1]),
        history=[FactsVersionOut.of(v) for v in versions],
        admitted_by_hand=ManualAdmissionOut.of(manual) if manual is not None else None,
    )


@router.get(
    "/orders/{order_id}/eligibility",
    response_model=EligibilityOut,
    responses=COMMON,
    summary="Why is this order (not) in dunning? (support)",
    description=(
        "Each group of the rule set in force with each condition (green/red, observed "
        "value, what is required), the due date (Fälligkeitsdatum), the next step and when, "
        "and one verdict: `in_dunning` (with the case's status and how it was admitted), "
        "`eligible_on` (date), `not_eligible` (the red conditions that block), `missing` "
        "(due and no case: a defect to report) or `unknown_order` (no facts; 200, not 404). "
        "`?at=` explains as of another moment (the facts known then, the case as it was)."
    ),
    dependencies=[_no_query("at")],
)
def eligibility(
    order_id: OrderIdStr,
    actor: SupportActor,
    container: ContainerDep,
    at: Annotated[str | None, moment_query("A moment; default: now.")] = None,
) -> EligibilityOut:
    explanation, facts = container.orders.explain(order_id, actor, parse_moment("at", at))
    return EligibilityOut.of(explanation, facts)


@router.post(
    "/orders/{order_id}/admit",
    response_model=EligibilityOut,
    status_code=201,
    responses={
        **COMMON,
        **NOT_FOUND,
        200: {"model": EligibilityOut, "description": "The order had a case already: unchanged"},
    },
    summary="Admit an order into dunning by hand, also with red conditions (support)",
    description=Orders.admit_by_hand.__doc__ or "",
    dependencies=[_no_query()],
)
def admit_by_hand(
    order_id: OrderIdStr,
    actor: SupportActor,
    container: ContainerDep,
    body: AdmitByHandIn,
    response: Response,
) -> Any:
    try:
        created, explanation = container.orders.admit_by_hand(order_id, actor, body.reason)
    except UnknownOrder:
        return _unknown(order_id)
    if not created:
        response.status_code = 200
    container.wait_for_views(container.cases.recorder.max_notification_id())
    facts = container.orders.facts_as_of(order_id, explanation.at)
    return EligibilityOut.of(explanation, facts)


# Not under /orders/: "admit-due" is a valid order id, and GET /orders/{order_id} would
# answer OPTIONS and wrong methods for it.
@router.post(
    "/scheduler/admit-due",
    response_model=AdmitDueOut,
    responses=COMMON,
    summary="Run one scheduler round now: admit every due order (system)",
    description=Orders.admit_due.__doc__ or "",
    dependencies=[_no_query()],
)
def admit_due(actor: SystemActor, container: ContainerDep) -> AdmitDueOut:
    r = container.orders.admit_due()
    container.wait_for_views(container.cases.recorder.max_notification_id())
    return AdmitDueOut(
        now=r.now,
        looked_at=r.looked_at,
        admitted=r.admitted,
        existing=r.existing,
        not_due=r.not_due,
    )
