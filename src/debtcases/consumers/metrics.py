"""Prometheus metrics of the Diagonal edge (default registry, served at /metrics).

With several processes (`serve --processes N`) the consumer and the publisher run in the
supervising process and /metrics is answered by a worker: the figures reach it through
prometheus_client's per-process files (``api.metrics.exposition``); a gauge shows the value
set last by any process ("mostrecent": the consumer's lag, or what the scrape just read)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

MESSAGES_PUBLISHED = Counter(
    "debtcases_messages_published",
    "Outgoing Diagonal messages acknowledged by the broker (or answered by the simulator)",
    ["type"],
)
ACKS_CONSUMED = Counter("debtcases_acks_consumed", "Ack records read from the acks topic")
ACKS_APPLIED = Counter("debtcases_acks_applied", "Acks applied to a case (stored as an event)")
ACKS_DUPLICATE = Counter(
    "debtcases_acks_duplicate", "Acks already applied before (same message_id): ignored"
)
ACKS_DLQ = Counter("debtcases_acks_dlq", "Ack records sent to the dead-letter topic", ["reason"])
CONSUMER_LAG = Gauge(
    "debtcases_consumer_lag",
    "Records behind the partition's high watermark",
    ["partition"],
    multiprocess_mode="mostrecent",
)
OUTBOX_BACKLOG = Gauge(
    "debtcases_outbox_backlog",
    "Outgoing messages not yet delivered",
    multiprocess_mode="mostrecent",
)
CASES_STUCK = Gauge(
    "debtcases_cases_stuck",
    "Cases RUNNING longer than stuck_after_hours without 'received'",
    multiprocess_mode="mostrecent",
)
