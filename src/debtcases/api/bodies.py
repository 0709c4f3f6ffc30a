"""JSON request bodies read by a dependency, so the route decides *when* the body is read.

The command routes declare the role check first and the body second: FastAPI would parse
and validate a declared body before any dependency runs, so a vendor's `mark-paid` with a
broken body got a 422 (and a lesson in the schema) instead of its 403. The body's schema is
still documented in the OpenAPI document (`body_doc`)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, RootModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def _invalid(message: str, kind: str = "json_invalid") -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": kind}])


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decode(raw: bytes, content_type: str) -> Any:
    media = content_type.split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise _invalid(
            f"the body must be JSON (Content-Type: application/json), not {media!r}",
            "content_type",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(f"the body is not UTF-8 (byte {exc.start + 1} is not)") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise _invalid(f"the body is not valid JSON: {exc}") from None


def parse_body(model: type[M], raw: bytes, content_type: str, *, optional: bool) -> M | None:
    if not raw.strip():
        if optional:
            return None
        data: Any = {}  # so the answer names every missing field
    else:
        data = _decode(raw, content_type)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A root model over a tagged union (e.g. a hold's terms by its code) puts the tag
        # first in each location; the client knows the fields, not our tags.
        tagged = issubclass(model, RootModel)
        raise RequestValidationError(
            [
                {**err, "loc": ("body", *(err["loc"][1:] if tagged else err["loc"]))}
                for err in exc.errors()
            ]
        ) from None


def json_body(model: type[M], *, optional: bool = False) -> Any:
    """A dependency reading the request body as ``model`` (422 with field-level errors)."""

    async def _read(request: Request) -> M | None:
        raw = await request.body()
        return parse_body(model, raw, request.headers.get("content-type", ""), optional=optional)

    return Depends(_read)


def body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a body read by ``json_body`` (schema inlined)."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**inline(defs[ref.rsplit("/", 1)[-1]]), **inline(rest)}
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"required": required, "content": {"application/json": {"schema": inline(schema)}}}
