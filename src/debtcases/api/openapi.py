"""The OpenAPI document, completed after FastAPI has generated it from the routes.

Routes declare what is theirs (parameters, bodies, their own error answers). What holds for
every operation is added here, once, so routes added later get it too:

- every error answer is `application/problem+json` with a schema naming its problem `type`
  and `code` (the values the server can send for that status), never `application/json`;
- every operation documents the 422 for an unknown query parameter (and lists the ones it
  takes), the 413 of the body limit, the 503 of an unreachable database, and (when it needs
  a token) the 401/403;
- optional query parameters are a string (or number) or absent, not `null`;
- OpenAPI links lead from what creates cases (`POST /api/v1/cases`, the import) to every
  operation that takes an `order_id` (and a `user_id`), so a stateful tester (schemathesis)
  admits a case and then drives it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from debtcases.api.problems import PROBLEM_JSON, problem_type

# status -> (codes the server sends with it, what it means)
PROBLEMS: dict[int, tuple[tuple[str, ...], str]] = {
    401: (("unauthorized",), "`unauthorized`: missing or invalid token"),
    403: (("not_permitted", "forbidden"), "`not_permitted` / `forbidden`: the role may not"),
    404: (("not_found",), "`not_found`: unknown order (or another vendor's: the same answer)"),
    409: (
        ("invalid_transition", "concurrent_modification", "order_conflict"),
        "`invalid_transition` (with `from`, `to`, `command`), `concurrent_modification` or "
        "`order_conflict` (with `fields`)",
    ),
    413: (
        ("payload_too_large",),
        "`payload_too_large`: body over the limit (1 MiB; the CSV import 16 MiB)",
    ),
    415: (("unsupported_media_type",), "`unsupported_media_type`"),
    422: (("validation_error",), "`validation_error`: invalid input, details in `errors`"),
    503: (
        ("unavailable", "busy"),
        "`unavailable`: the database is unreachable; `busy`: another write holds the case "
        "store longer than the lock timeout (a few seconds), nothing was changed; both with "
        "`Retry-After`",
    ),
}
# A route narrows the codes of one of its answers with this key in its `responses`.
CODES_KEY = "x-problem-codes"

_ERROR_ITEM = {
    "type": "object",
    "required": ["loc", "field", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"type": "string"}},
        "field": {"type": "string"},
        "msg": {"type": "string"},
        "type": {
            "type": "string",
            "description": "pydantic's error type, `value_error` for the service's own "
            "rules, `unknown_parameter` for a query parameter the endpoint does not take",
        },
    },
}
_EXTRA: dict[int, dict[str, Any]] = {
    409: {
        "from": {"type": ["string", "null"], "description": "invalid_transition: status"},
        "to": {"type": ["string", "null"], "description": "invalid_transition: target"},
        "command": {"type": "string", "description": "invalid_transition: the command"},
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "order_conflict: the fields that differ",
        },
    },
    422: {"errors": {"type": "array", "items": _ERROR_ITEM}},
}
# Their 503 is their own JSON answer (not ready: `checks`), not a problem; /healthz answers
# before anything could be unavailable.
_SERVICE_PATHS = ("/healthz", "/readyz")


def problem_schema(status: int, codes: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "enum": [problem_type(c) for c in codes]},
            "title": {"type": "string"},
            "status": {"type": "integer", "enum": [status]},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": list(codes)},
            **_EXTRA.get(status, {}),
        },
    }


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for path, _, operation in _operations(document):
        _query_parameters(operation)
        _error_answers(operation, path)
    schemas.pop("TransitionProblem", None)
    _links(document)
    return document


def _query_parameters(operation: dict[str, Any]) -> None:
    """An optional query parameter is absent or a value; `null` is nothing a URL can say."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        options = schema.get("anyOf")
        if parameter.get("in") != "query" or not options:
            continue
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            parameter["schema"] = {**kept[0], **rest}


def _error_answers(operation: dict[str, Any], path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    # The document lists every query parameter a route declares, its dependencies' too:
    # exactly what the unknown-parameter check (query_guard) lets through.
    takes = sorted(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
    unknown = (
        "; a query parameter this endpoint does not take (`errors[].type` "
        f"`unknown_parameter`; it takes: {', '.join(f'`{n}`' for n in takes) or 'none'})"
    )
    wanted = {422, 413}
    if path not in _SERVICE_PATHS:
        wanted.add(503)
    if operation.get("security"):
        wanted |= {401, 403}
    for status in sorted(wanted):
        responses.setdefault(str(status), {"description": PROBLEMS[status][1]})
    for key, answer in responses.items():
        if not key.isdigit() or int(key) < 400:
            continue
        status = int(key)
        codes = answer.pop(CODES_KEY, None) or PROBLEMS.get(status, ((), ""))[0]
        content = answer.get("content", {})
        if not codes or (path in _SERVICE_PATHS and status == 503):
            continue
        if content and PROBLEM_JSON not in content:
            continue  # the route documents an answer of its own kind
        declared = content.get(PROBLEM_JSON, {}).get("schema") or content.get(
            "application/json", {}
        ).get("schema")
        schema = problem_schema(status, codes)
        if declared and declared.get("$ref", "").rsplit("/", 1)[-1] not in (
            "Problem",
            "TransitionProblem",
        ):
            schema = {"allOf": [declared, schema]}  # e.g. the import's report
        answer["content"] = {PROBLEM_JSON: {"schema": schema}}
        if status == 422:
            answer["description"] = answer.get("description", PROBLEMS[422][1]) + unknown


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    ]


# Where the created case's ids are in each creating operation's answer.
_CREATORS: dict[tuple[str, str], dict[str, str]] = {
    ("/api/v1/cases", "post"): {
        "order_id": "$response.body#/order_id",
        "user_id": "$response.body#/user_id",
    },
    ("/api/v1/support/cases/import", "post"): {
        "order_id": "$response.body#/cases/0/order_id",
        "user_id": "$response.body#/cases/0/user_id",
    },
}


def _links(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for (path, method), ids in _CREATORS.items():
        creator = document.get("paths", {}).get(path, {}).get(method)
        if creator is None:
            continue
        links: dict[str, Any] = {}
        for target_path, target_method, target in operations:
            if (target_path, target_method) == (path, method):
                continue
            names = {p["name"] for p in target.get("parameters", [])}
            parameters = {name: ids[name] for name in ids if name in names}
            if "order_id" not in parameters and not any(
                p["name"] == "user_id" and p["in"] == "path" for p in target.get("parameters", [])
            ):
                continue
            links[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": parameters,
                "description": f"{target_method.upper()} {target_path} on the case just made",
            }
        # From the answer that made the case (admit: 201; the import: 200). Admit's 200
        # (the same order again) describes a case that existed before: no new chain.
        made = "201" if "201" in creator.get("responses", {}) else "200"
        creator["responses"][made]["links"] = links
