"""Settings from the environment (prefix DEBTCASES_) and an optional .env file.

Nothing connects at import time: settings are plain values; bootstrap builds from them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEBTCASES_", env_file=".env", extra="ignore")

    # sqlite:///var/debtcases.sqlite (default), memory:// (tests), postgresql://u:p@h:port/db
    database_url: str = "sqlite:///var/debtcases.sqlite"
    # PostgreSQL: a role that owns the events table (postgresql://owner:pw@host:port/db, the
    # same database). When set, the events table is created, guarded and granted by this
    # role, and the service's role (database_url) may only SELECT and INSERT events, so it
    # cannot lift the append-only guard. Unset: the service's role owns everything.
    database_owner_url: str | None = None
    # Connections per application/view on PostgreSQL (each opens its own pool).
    db_pool_size: int = 5
    db_max_overflow: int = 10
    # Seconds to connect to PostgreSQL (and to wait for a pooled connection) before an
    # operation fails; the consumer and the runners then retry with back-off.
    db_connect_timeout: int = 10
    # PostgreSQL, bounds on the events table's lock (every save takes it): a write waits at
    # most this many whole seconds for it, then fails fast as "busy" (HTTP 503 `busy`,
    # Retry-After), without the library's retries ...
    db_lock_timeout_seconds: int = Field(default=5, ge=1)
    # ... every statement of a save's transaction (a 50,000-row import: 50 statements of
    # 1,000 events each) ends within this many seconds ...
    db_statement_timeout_seconds: float = Field(default=15.0, gt=0)
    # ... and the server ends a transaction idle this many whole seconds.
    db_idle_in_transaction_timeout_seconds: int = Field(default=5, ge=1)
    # Unset: no Kafka (embedded mode).
    kafka_bootstrap_servers: str | None = None
    kafka_topic_handover: str = "diagonal.handover"
    kafka_topic_acks: str = "diagonal.acks"
    kafka_topic_acks_dlq: str = "diagonal.acks.dlq"
    kafka_topic_portal_access: str = "diagonal.portal-access"
    kafka_consumer_group: str = "debtcases"
    # Countries Diagonal serves (handover check).
    served_countries: list[str] = Field(default_factory=lambda: ["DE", "AT", "CH"])
    # Commands retry a conflicting save this many times, then answer 409.
    max_command_attempts: int = 5
    # Request bodies above this are refused with 413 ...
    max_body_bytes: int = 1024 * 1024
    # ... except the CSV import's (that route only): room for the row limit of the
    # documented format, 50,000 rows of up to ~335 bytes (an exported row with a full
    # address is ~130; every column near its usual length plus a reason, ~300).
    max_import_bytes: int = 16 * 1024 * 1024
    # RUNNING longer than this without Diagonal's 'received' is flagged as stuck.
    stuck_after_hours: float = 48.0
    # Read-your-writes: how long a list query waits for the views to catch up.
    read_your_writes_timeout_seconds: float = 5.0
    # /readyz fails while a view lags more than this many events.
    ready_max_lag: int = 1000
    # /readyz also fails while a view lags (by any amount) and its position has not moved
    # for this many seconds: a stalled runner, whatever ready_max_lag says.
    ready_stall_seconds: float = 30.0
    # serve: seed demo data on first start of an empty embedded database.
    demo: bool = False
    # serve: run the projections (and outbox/consumer when Kafka is set) in-process.
    run_workers: bool = True
    # embedded mode: answer outgoing handover messages with the built-in Diagonal simulator.
    diagonal_simulator: bool = False
    # the simulator answers a message once it is this old (so the UI shows RUNNING briefly).
    diagonal_simulator_delay_seconds: float = 2.0
    # Web UI: key signing the session cookie (HMAC). Unset: generated on first start and kept
    # in var/session_secret (set it when several processes or machines serve the UI).
    session_secret: str | None = None
    # Eligibility rule files (TOML; each a version with its active_from), JSON list; empty:
    # the shipped default (src/debtcases/domain/rulesets/default.toml).
    ruleset_files: list[str] = Field(default_factory=list)
    # serve: admit due orders every this many seconds (0: no scheduler loop in serve).
    admit_due_interval_seconds: float = 60.0
    # serve: end holds whose end has come every this many seconds (0: no loop in serve).
    expire_holds_interval_seconds: float = 60.0
    # Support may reopen a PAID or CANCELLED case this many days after it was closed.
    reopen_window_days: float = Field(default=30.0, ge=0)
