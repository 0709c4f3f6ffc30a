"""Unknown query parameters are refused (422 naming them) on every endpoint.

A misspelled filter (`?userid=79424` for `?user_id=79424`) used to be ignored, so the list
or export came back *wider* than asked, with other vendors' debtors in it. One dependency,
installed on the application, compares the request's query keys with the parameters the
matched route declares (its own and its dependencies'), so every route gets the check,
including routes added later."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_NOTE = (
    "Every endpoint refuses a query parameter it does not declare with a 422 "
    "`validation_error` naming it (`errors[].type` = `unknown_parameter`): a misspelled "
    "filter must never widen a list or an export. This check comes first, before the token "
    "is looked at."
)


def takes_query(*names: str) -> Callable[[F], F]:
    """For a route that reads its query itself (the web pages parse repeated and German
    parameters from ``request.query_params``): the names it takes, which the check then
    allows besides the declared ones."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["query_parameters"] = frozenset(names)
        return endpoint

    return mark


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route takes (aliases, as a client spells them); worked
    out once per route, not per request (a route's parameters do not change)."""
    known: frozenset[str] | None = route.__dict__.get(_DECLARED)
    if known is None:
        known = route.__dict__[_DECLARED] = _declared(route)
    return known


_DECLARED = "debtcases_query_parameters"


def _declared(route: APIRoute) -> frozenset[str]:
    names: set[str] = set(getattr(route.endpoint, "query_parameters", ()))
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        names.update(field.alias for field in dependant.query_params)
        stack.extend(dependant.dependencies)
    return frozenset(names)


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = declared_query_parameters(route)
    unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in known]
    if not unknown:
        return
    takes = ", ".join(sorted(known)) or "no query parameters"
    raise RequestValidationError(
        [
            {
                "loc": ("query", name),
                "msg": f"unknown query parameter {name!r}; this endpoint takes: {takes}",
                "type": "unknown_parameter",
            }
            for name in unknown
        ]
    )
