"""HTTP request counts and latency (default Prometheus registry, served at /metrics).

Every label has a bounded set of values, whatever clients send: the route template (not the
raw path, so order ids do not explode the series; `unmatched` for any path no route knows),
the method (`OTHER` for anything but the standard ones: a client inventing methods must not
add series) and the status code."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "debtcases_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "debtcases_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


# The methods a label may name; anything else a client sends is counted as OTHER.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
UNMATCHED_ROUTE = "unmatched"


def _method(request: Request) -> str:
    method = request.method.upper()
    return method if method in KNOWN_METHODS else OTHER_METHOD


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", UNMATCHED_ROUTE))


async def observe_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route, method = _route(request), _method(request)
        REQUESTS.labels(method, route, str(status)).inc()
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
