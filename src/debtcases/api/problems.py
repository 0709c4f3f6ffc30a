"""One table mapping domain errors to HTTP problems (application/problem+json)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from debtcases.api.cursors import AFTER_PATTERN
from debtcases.api.fields import AT_PATTERN
from debtcases.domain.errors import (
    CaseNotFound,
    ConcurrentModification,
    DomainError,
    InvalidHold,
    InvalidTransition,
    NotPermitted,
    OrderConflict,
    ReasonRequired,
    ReopenWindowClosed,
)

PROBLEM_JSON = "application/problem+json"

# error type -> (HTTP status, title)
ERROR_TABLE: dict[type[DomainError], tuple[int, str]] = {
    CaseNotFound: (404, "Not found"),
    NotPermitted: (403, "Forbidden"),
    InvalidTransition: (409, "Invalid transition"),
    OrderConflict: (409, "Order conflict"),
    ConcurrentModification: (409, "Concurrent modification"),
    ReopenWindowClosed: (409, "Correction window closed"),
    # The terms are well-formed (else a 422 from the body) but do not fit now: the end
    # already passed. A conflict with the clock, like a transition with the status.
    InvalidHold: (409, "Invalid hold"),
    ReasonRequired: (422, "Reason required"),
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


def problem_type(code: str) -> str:
    """The problem ``type`` URI of a ``code``."""
    return f"https://debtcases.example/problems/{code}"


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(code),
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
    elif isinstance(exc, ReopenWindowClosed):
        extra = {"closed_at": exc.closed_at, "window_days": exc.window_days}
    elif isinstance(exc, InvalidHold):
        extra = {"problems": exc.problems}
    return problem(status, title, str(exc), exc.code, **extra)


# Messages a person understands, for the validation errors people actually make; the rest
# keep pydantic's wording. Keyed by error type, or by (error type, field) where the field
# decides what a good message says (a pattern is never shown as a regex).
_ORDER_ID_HINT = (
    "is not an order id: 1 to 64 characters, letters A-Z, digits 0-9, '.', '_' or '-', "
    "starting with a letter or digit (e.g. B-2024-000123)"
)
_NOT_A_CURSOR = "is not a cursor: pass a list's `next_after` unchanged"
_WHOLE_NUMBER = "must be a whole number written with the digits 0-9 (e.g. 79424)"
_FRIENDLY: dict[str | tuple[str, str], str] = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request (check the spelling)",
    "int_type": _WHOLE_NUMBER,
    "int_parsing": _WHOLE_NUMBER,
    "int_from_float": _WHOLE_NUMBER,
    "bool_parsing": "must be true or false",
    "decimal_parsing": "must be an amount written with the digits 0-9, e.g. 49.90",
    "decimal_type": 'must be an amount written with the digits 0-9, e.g. "49.90"',
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "string_type": "must be a text (a JSON string)",
    ("string_pattern_mismatch", "order_id"): _ORDER_ID_HINT,
    ("string_pattern_mismatch", "country"): "must be a two-letter country code (e.g. DE)",
    ("string_pattern_mismatch", "currency"): "must be a three-letter currency code (e.g. EUR)",
    ("string_too_short", "after"): _NOT_A_CURSOR,
    ("string_too_long", "after"): _NOT_A_CURSOR,
    "string_pattern_mismatch": "contains characters that are not allowed here",
}
# A pattern that says more than its characters (a moment, a cursor): the message names what
# is wanted, whichever parameter carries it (`as_of`, `at`, `from`, `to`, `after`).
_BY_PATTERN: dict[str, str] = {
    AT_PATTERN: "must be a moment that exists, date and time with its UTC offset "
    "(e.g. 2024-06-01T00:00:00Z or 2024-06-01T02:00:00+02:00)",
    AFTER_PATTERN: _NOT_A_CURSOR,
}


def _friendly(kind: str, field: str, msg: str, ctx: Any = None) -> str:
    last = field.rsplit(".", 1)[-1]
    if kind == "string_pattern_mismatch" and isinstance(ctx, dict):
        wanted = _BY_PATTERN.get(str(ctx.get("pattern", "")))
        if wanted is not None:
            return wanted
    return _FRIENDLY.get((kind, last)) or _FRIENDLY.get(kind) or msg


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", ""))
        loc = [str(p) for p in err.get("loc", ())]
        if kind == "json_invalid" and len(loc) > 1:
            # FastAPI's own decoder reports ("body", <character offset>): "1: JSON decode error".
            ctx = err.get("ctx") or {}
            msg = f"the body is not valid JSON: {ctx.get('error', msg)} at character {loc[1]}"
            loc = loc[:1]
        if kind == "value_error":
            msg = msg.removeprefix("Value error, ")  # our validators' own messages
        field = ".".join(p for p in loc if p not in ("body", "query", "path"))
        out.append(
            {
                "loc": loc,
                "field": field,
                "msg": _friendly(kind, field, msg, err.get("ctx")),
                "type": kind,
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
