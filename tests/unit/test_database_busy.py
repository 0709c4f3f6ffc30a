"""Which persistence errors are "busy" (503 busy, never retried in a loop) and which mean
the database is away (retried, 503 unavailable)."""

from __future__ import annotations

import psycopg
import psycopg_pool
from eventsourcing.persistence import OperationalError

from debtcases.adapters.bulk import database_busy


def _wrapped(cause: Exception) -> OperationalError:
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


def test_a_lock_wait_a_statement_timeout_and_a_full_pool_are_busy() -> None:
    assert database_busy(_wrapped(psycopg.errors.LockNotAvailable("lock timeout")))
    assert database_busy(_wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert database_busy(_wrapped(psycopg_pool.PoolTimeout("no connection in 10 s")))


def test_a_lost_connection_is_not_busy() -> None:
    assert not database_busy(_wrapped(psycopg.OperationalError("connection refused")))
    assert not database_busy(OperationalError("no cause"))
