"""Pure ASGI middleware: the request metrics and the body-size limit.

``@app.middleware("http")`` wraps every request in Starlette's ``BaseHTTPMiddleware`` (a task,
a memory stream and an event per request and per wrapper); under 32 clients the profile of
``serve`` put those wrappers and the hand-offs they cause among the largest shares of the one
core it has. These classes do the same work on the ASGI messages directly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from debtcases.api.metrics import LATENCY, REQUESTS, known_method, route_label

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """Counts every HTTP request and times it, labelled by method (bounded) and route
    template (not the raw path, so order ids do not explode the series)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method, route = known_method(scope.get("method", "")), route_label(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


class BodyLimit:
    """Refuses a request body over its limit with 413, whether the client says its length
    (checked before reading) or not (a chunked body is read, bounded, then handed on)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        larger: Iterable[str],
        larger_limit: int,
        too_large: Callable[[int], Any],
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = frozenset(larger)
        self.larger_limit = larger_limit
        self.too_large = too_large  # a Response for the limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger_limit if scope.get("path") in self.larger else self.limit
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1")
        if length.isascii() and length.isdigit():
            if int(length) > limit:
                await self.too_large(limit)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # No (usable) length, e.g. a chunked upload: read the body, bounded.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await self.too_large(limit)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
