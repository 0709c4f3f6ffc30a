"""HTTP request counts and latency (default Prometheus registry, served at /metrics), and
the exposition of every metric of the service (``exposition``).

Every label has a bounded set of values, whatever clients send: the route template (not the
raw path, so order ids do not explode the series; `unmatched` for any path no route knows),
the method (`OTHER` for anything but the standard ones: a client inventing methods must not
add series) and the status code. Recorded by ``api/asgi.RequestMetrics``."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# prometheus_client's own switch: when set (before it is imported), every metric of the
# process is kept in files there, one set per process, and /metrics adds them all up.
# `serve --processes N` sets it for its processes (cli/serve.py).
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

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


def known_method(method: str) -> str:
    method = method.upper()
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_label(scope: Any) -> str:
    """The matched route's template (the router puts the route into the scope)."""
    route = scope.get("route")
    return str(getattr(route, "path", UNMATCHED_ROUTE))


def exposition() -> tuple[bytes, str]:
    """Every metric in Prometheus' text format, with its content type. With several
    processes (``PROMETHEUS_MULTIPROC_DIR`` set) the figures of all of them: counters and
    histograms summed (a worker that died and was replaced included), gauges the value set
    last by any of them; otherwise this process's default registry."""
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
