"""One table mapping domain errors to HTTP problems (application/problem+json)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from debtcases.domain.errors import (
    CaseNotFound,
    ConcurrentModification,
    DomainError,
    InvalidTransition,
    NotPermitted,
    OrderConflict,
)

PROBLEM_JSON = "application/problem+json"

# error type -> (HTTP status, title)
ERROR_TABLE: dict[type[DomainError], tuple[int, str]] = {
    CaseNotFound: (404, "Not found"),
    NotPermitted: (403, "Forbidden"),
    InvalidTransition: (409, "Invalid transition"),
    OrderConflict: (409, "Order conflict"),
    ConcurrentModification: (409, "Concurrent modification"),
}

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://debtcases.example/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_problem(exc: DomainError) -> JSONResponse:
    status, title = ERROR_TABLE.get(type(exc), (400, "Bad request"))
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidTransition):
        extra = {"from": exc.from_status, "to": exc.to_status, "command": exc.command}
    elif isinstance(exc, OrderConflict):
        extra = {"fields": exc.fields}
    return problem(status, title, str(exc), exc.code, **extra)


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        field = ".".join(p for p in loc if p not in ("body", "query", "path"))
        out.append(
            {
                "loc": loc,
                "field": field,
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable_errors(exc.errors())
        detail = "; ".join(f"{e['field'] or 'body'}: {e['msg']}" for e in errors[:5])
        return problem(
            422, "Validation error", detail or "Invalid request.", "validation_error", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_BY_STATUS.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400:
            # A body that cannot be parsed (bad JSON, not UTF-8, a malformed or oversized
            # multipart form) is invalid input like any other: 422, as api.md lists.
            if "parsing the body" in detail:
                detail = "The request body is not valid JSON (or not UTF-8)."
            return problem(
                422,
                "Validation error",
                detail,
                "validation_error",
                errors=[{"loc": ["body"], "field": "body", "msg": detail, "type": "body_invalid"}],
            )
        return problem(
            exc.status_code,
            code.replace("_", " ").capitalize(),
            detail,
            code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover
        return problem(500, "Internal error", "An unexpected error occurred.", "internal_error")
