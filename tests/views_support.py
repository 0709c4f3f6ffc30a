"""Helpers for the read-model tests: expected view rows folded from the aggregates."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from debtcases.commands.app import DunningCases
from debtcases.domain.actors import Actor, Role
from debtcases.domain.statuses import Status
from debtcases.projections.cases_rows import entered_month

SUPPORT = Actor.support("anna")


def expected_case_row(app: DunningCases, order_id: str) -> dict[str, Any]:
    """What the cases view must hold for ``order_id``: the aggregate, flattened."""
    case = app.get_case(order_id, SUPPORT)
    d = case.debtor
    return {
        "order_id": case.order_id,
        "user_id": case.user_id,
        "status": case.status.value,
        "status_before_block": case.status_before_block.value if case.status_before_block else None,
        "vendor_status": case.status_for(Role.VENDOR).value,
        "amount": f"{case.amount:.2f}",
        "currency": case.currency,
        "debtor_name": d.name,
        "debtor_street": d.street,
        "debtor_postal_code": d.postal_code,
        "debtor_city": d.city,
        "debtor_country": d.country,
        "errors": list(case.errors),
        "created_at": case.created_on,
        "updated_at": case.modified_on,
        "entered_month": entered_month(case.created_on),
        "at_diagonal": case.at_diagonal,
        "handed_over_at": case.handed_over_at,
        "running_since": case.running_since,
        "awaiting_diagonal_close": case.awaiting_diagonal_close,
        "closed_at_diagonal_at": case.closed_at_diagonal_at,
        "fell_back": case.fell_back,
        "payment_reference": case.payment_reference,
        "version": case.version,
    }


def actual_case_row(row: dict[str, Any]) -> dict[str, Any]:
    keep = expected_keys()
    return {k: row[k] for k in keep}


def expected_keys() -> list[str]:
    return [
        "order_id",
        "user_id",
        "status",
        "status_before_block",
        "vendor_status",
        "amount",
        "currency",
        "debtor_name",
        "debtor_street",
        "debtor_postal_code",
        "debtor_city",
        "debtor_country",
        "errors",
        "created_at",
        "updated_at",
        "entered_month",
        "at_diagonal",
        "handed_over_at",
        "running_since",
        "awaiting_diagonal_close",
        "closed_at_diagonal_at",
        "fell_back",
        "payment_reference",
        "version",
    ]


def expected_access_rows(app: DunningCases, order_ids: list[str]) -> list[dict[str, Any]]:
    by_vendor: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "cases_total": 0,
            "cases_at_diagonal": 0,
            "first_handed_over_at": None,
            **{f"n_{s.value.lower()}": 0 for s in Status},
        }
    )
    for order_id in order_ids:
        case = app.get_case(order_id, SUPPORT)
        v = by_vendor[case.user_id]
        v["cases_total"] += 1
        v[f"n_{case.status.value.lower()}"] += 1
        v["cases_at_diagonal"] += int(case.at_diagonal)  # one definition, as on the case
        if case.handed_over_at is not None:
            first = v["first_handed_over_at"]
            if first is None or case.handed_over_at < first:
                v["first_handed_over_at"] = case.handed_over_at
    return [{"user_id": u, **v} for u, v in sorted(by_vendor.items())]


def assert_views_equal_fold(views: Any, app: DunningCases, order_ids: list[str]) -> None:
    rows = {r["order_id"]: r for r in views.recorder.all_case_rows()}
    assert sorted(rows) == sorted(order_ids), "a case row is missing or extra"
    for order_id in order_ids:
        assert actual_case_row(rows[order_id]) == expected_case_row(app, order_id), order_id
    access = [{k: r[k] for k in r} for r in views.recorder.all_vendor_access_rows()]
    for r in access:
        r["user_id"] = int(r["user_id"])
    assert access == expected_access_rows(app, order_ids)
