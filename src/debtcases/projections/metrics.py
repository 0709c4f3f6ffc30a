"""Projection lag as a Prometheus gauge (default registry, served at /metrics).

Every gauge here is set when /metrics is scraped, by the process answering, from the
database: with several processes the value set last is the one to show ("mostrecent")."""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge

PROJECTION_LAG = Gauge(
    "debtcases_projection_lag_events",
    "Events a view is behind the DunningCases notification log",
    ["view"],
    multiprocess_mode="mostrecent",
)
PROJECTION_POSITION = Gauge(
    "debtcases_projection_position",
    "Last notification id a view has processed",
    ["view"],
    multiprocess_mode="mostrecent",
)


def observe_lag(views: Any) -> dict[str, int]:
    """Refresh the gauges from ``views`` (called on each scrape); returns the lag."""
    report = getattr(views, "lag_report", None)
    if report is None:
        return {}
    lag: dict[str, int] = report()
    for view, value in lag.items():
        PROJECTION_LAG.labels(view=view).set(value)
    for view, value in views.positions().items():
        PROJECTION_POSITION.labels(view=view).set(value)
    return lag


PARKED_EVENTS = Gauge(
    "debtcases_parked_events",
    "Events a processor on the log runner could not write and set aside (unresolved)",
    ["processor"],
    multiprocess_mode="mostrecent",
)


def observe_parked(runner: Any) -> dict[str, int]:
    """Refresh the parked-events gauge from the runner's processors (on each scrape)."""
    counts: dict[str, int] = runner.parked_counts()
    for processor, n in counts.items():
        PARKED_EVENTS.labels(processor=processor).set(n)
    return counts
