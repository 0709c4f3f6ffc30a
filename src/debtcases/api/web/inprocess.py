"""Calling the JSON API in-process as the signed-in user.

The eligibility dialog uses the HTTP endpoints (``GET /api/v1/orders/{order_id}/eligibility``,
``POST /api/v1/orders/{order_id}/admit``), not the modules behind them: the page asks the API
exactly as a client would, with the user's actor handed over in the ASGI scope
(``deps.IN_PROCESS_ACTOR``; nothing arriving over HTTP can set it)."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from debtcases.api.deps import IN_PROCESS_ACTOR
from debtcases.domain.actors import Actor


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: Any


async def api_get(app: FastAPI, path: str, actor: Actor) -> ApiAnswer:
    return await _call(app, "GET", path, actor, None)


async def api_post(app: FastAPI, path: str, actor: Actor, body: Any) -> ApiAnswer:
    """POST ``body`` as JSON to the API's ``path`` as ``actor`` (the UI's commands that
    exist only as endpoints, e.g. manual admission)."""
    return await _call(app, "POST", path, actor, json.dumps(body).encode())


async def _call(
    app: FastAPI, method: str, path: str, actor: Actor, data: bytes | None
) -> ApiAnswer:
    headers = [(b"accept", b"application/json"), (b"host", b"in-process")]
    if data is not None:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": ("in-process", 80),
        IN_PROCESS_ACTOR: actor,
    }
    status = 500
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data or b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    raw = b"".join(chunks)
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return ApiAnswer(status, body)
