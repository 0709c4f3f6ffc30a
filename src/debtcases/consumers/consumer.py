"""Diagonal's acknowledgements in: a Kafka consumer group on diagonal.acks.

Per poll: parse every record; the valid acks of all the poll's partitions go to
``apply_acks`` in one transaction, each partition's in offset order (each case de-duplicates
by message_id in its own event stream, so a re-delivered record is applied once); malformed
records and acks for unknown orders go to diagonal.acks.dlq (header ``reason``, original key
and value), in offset order; then the offsets past the batch are committed, in one request.
So an offset is committed only after the effects of the records before it are stored (or
dead-lettered). A database that is briefly unreachable is retried with back-off on the same
batch: never skipped, never committed past.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from debtcases.adapters.threads import BackgroundThread
from debtcases.commands.acks import AckInput, AckResult
from debtcases.commands.app import DunningCases
from debtcases.config import Settings
from debtcases.consumers import metrics
from debtcases.consumers.messages import BadAck, parse_ack_input
from debtcases.consumers.topics import ensure_topics, service_topics
from debtcases.domain.errors import ConcurrentModification

log = logging.getLogger(__name__)

# Transient: retry the same record (database down, lock timeout, a busy case).
RETRYABLE = (OperationalError, InterfaceError, ConcurrentModification)

T = TypeVar("T")

_gc_lock = threading.Lock()
_gc_pauses = 0  # how many batches (threads) have the cyclic GC paused now
_gc_resume = False  # whether the first of them found it enabled


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while applying one batch, back as it was after.

    Why (a process-wide setting, argued): a batch (at most ``max_poll_records`` acks)
    allocates tens of thousands of short-lived objects (decoded events, states, rows),
    freed by reference counting as soon as the batch is done; the collector would only
    traverse them again and again (18-27 % of ``apply_acks``' CPU in a micro-benchmark;
    the rebuild does the same for its pass). What it pauses is bounded: one attempt of
    one batch (not the back-off between retries), after which any cycles are collected
    as usual; other threads of the process (``serve``'s) only see collections
    postponed by that long. Nested or concurrent batches (consumer threads) are counted:
    the collector comes back when the last one ends, and only if it was on before the
    first began."""
    global _gc_pauses, _gc_resume
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


class AckConsumer(BackgroundThread):
    """A worker thread (``start``/``stop``) beside ``serve`` or in ``debtcases consume``;
    ``run`` in the foreground (tests, benchmarks)."""

    name = "diagonal-acks-consumer"

    def __init__(
        self,
        app: DunningCases,
        settings: Settings,
        *,
        client_id: str | None = None,
        instance_id: str | None = None,
        max_backoff: float = 5.0,
        poll_timeout_ms: int = 500,
        session_timeout_ms: int = 6000,
        max_poll_records: int = 1000,
    ) -> None:
        super().__init__()
        assert settings.kafka_bootstrap_servers, "AckConsumer needs kafka_bootstrap_servers"
        self.app = app
        self.settings = settings
        self.client_id = client_id or "debtcases-consumer"
        # Static group membership (KIP-345): a restarted process with the same instance id
        # takes its partitions back at once instead of waiting for the session timeout.
        self.instance_id = instance_id
        self.session_timeout_ms = session_timeout_ms
        self.max_backoff = max_backoff
        self.poll_timeout_ms = poll_timeout_ms
        # A poll's records are applied in one transaction (each case loaded once per
        # batch), so larger polls mean fewer round trips and commits when lagging.
        self.max_poll_records = max_poll_records
        self.consumer: KafkaConsumer | None = None
        self.dlq: KafkaProducer | None = None
        self.processed = 0

    # ------------------------------------------------------------ lifecycle

    def _thread_main(self) -> None:
        self._run_guarded()

    def _run_guarded(self) -> None:
        """Survives broker outages (reconnects with back-off) until stopped."""
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self.run()
                return
            except Exception as exc:  # broker unreachable at start etc.: try again
                log.warning(
                    "%s: %s: %s (restarting in %.1fs)", self.name, type(exc).__name__, exc, backoff
                )
                self._close_clients()
                self._stopping.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)

    # ----------------------------------------------------------------- loop

    def _connect(self) -> None:
        servers = self.settings.kafka_bootstrap_servers
        assert servers
        ensure_topics(servers, service_topics(self.settings))
        self.dlq = KafkaProducer(
            bootstrap_servers=servers,
            client_id=f"{self.client_id}-dlq",
            acks="all",
            max_in_flight_requests_per_connection=1,
            max_block_ms=10000,
            request_timeout_ms=10000,
        )
        self.consumer = KafkaConsumer(
            self.settings.kafka_topic_acks,
            bootstrap_servers=servers,
            group_id=self.settings.kafka_consumer_group,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_poll_records,
            group_instance_id=self.instance_id,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=1000,
            max_poll_interval_ms=300000,
            reconnect_backoff_max_ms=1000,
        )

    def _close_clients(self) -> None:
        for client in (self.consumer, self.dlq):
            if client is not None:
                try:
                    client.close()
                except Exception:  # pragma: no cover
                    log.debug("close failed", exc_info=True)
        self.consumer = self.dlq = None

    def run(self, max_idle_polls: int | None = None) -> None:
        """Consume until stopped (or, for tests/benchmarks, ``max_idle_polls`` empty polls
        in a row)."""
        self._connect()
        assert self.consumer is not None
        idle = 0
        try:
            while not self._stopping.is_set():
                batch = self.consumer.poll(timeout_ms=self.poll_timeout_ms)
                if not batch:
                    idle += 1
                    if max_idle_polls is not None and idle >= max_idle_polls:
                        return
                    continue
                idle = 0
                if not self._handle_batch(batch):
                    return  # stopping mid-retry: uncommitted records come again
                self._update_lag()
        finally:
            self._close_clients()

    def _handle_partition(self, tp: TopicPartition, records: list[Any]) -> bool:
        """``_handle_batch`` of one partition's records."""
        return self._handle_batch({tp: records})

    def _handle_batch(self, batch: Mapping[TopicPartition, list[Any]]) -> bool:
        """One poll's records: the valid acks of every partition applied in one
        transaction (each partition's in offset order, so each order's acks in the order
        they were sent: an order's acks share its partition), the others to the DLQ in
        offset order, then one commit past them all. False if stopped meanwhile (nothing
        committed: the records come again, and the cases' de-duplication makes that
        harmless)."""
        assert self.consumer is not None
        parts = [(tp, records) for tp, records in batch.items() if records]
        if not parts:
            return True
        parsed: list[tuple[Any, AckInput | BadAck]] = []
        for _tp, records in parts:
            metrics.ACKS_CONSUMED.inc(len(records))
            for record in records:
                try:
                    parsed.append((record, parse_ack_input(record.value)))
                except BadAck as bad:
                    parsed.append((record, bad))
        valid = [item for _, item in parsed if isinstance(item, AckInput)]
        what = "acks " + ", ".join(
            f"{tp.topic}/{tp.partition}@{records[0].offset}..{records[-1].offset}"
            for tp, records in parts
        )
        outcomes = self._retrying(what, lambda: self._apply(valid)) if valid else []
        if outcomes is None:
            return False
        applied = sum(1 for o in outcomes if isinstance(o, AckResult) and o.changed)
        duplicate = sum(1 for o in outcomes if isinstance(o, AckResult) and o.result == "duplicate")
        self.processed += applied + duplicate
        metrics.ACKS_APPLIED.inc(applied)
        metrics.ACKS_DUPLICATE.inc(duplicate)
        pending = iter(outcomes)
        for record, item in parsed:
            outcome = next(pending) if isinstance(item, AckInput) else item
            if isinstance(outcome, AckResult) and outcome.result != "unknown_order":
                continue
            reason, detail = self._dlq_reason(outcome)
            sent = self._retrying(
                f"DLQ record {record.topic}/{record.partition}@{record.offset}",
                partial(self._to_dlq, record, reason, detail),
            )
            if sent is None:
                return False
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "", -1) for tp, records in parts}
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # A partition moved to another member meanwhile; it re-reads these
            # records and the cases' de-duplication makes that harmless.
            log.info("commit for %s refused (%s)", list(offsets), exc)
        return True

    def _apply(self, acks: list[AckInput]) -> list[AckResult | BadAck]:
        """The acks' effects, stored in one transaction. A non-transient storage error
        (not an outage) is narrowed down to the ack causing it, which goes to the DLQ."""
        try:
            with gc_paused():
                return list(self.app.apply_acks(acks))
        except RETRYABLE:
            raise
        except PersistenceError as exc:
            if len(acks) == 1:
                return [BadAck("processing_error", f"{type(exc).__name__}: {exc}")]
            log.warning(
                "batch of %d acks failed (%s: %s); one by one", len(acks), type(exc).__name__, exc
            )
            return [outcome for ack in acks for outcome in self._apply([ack])]

    @staticmethod
    def _dlq_reason(outcome: AckResult | BadAck) -> tuple[str, str]:
        if isinstance(outcome, BadAck):
            return outcome.reason, outcome.detail
        return outcome.result, outcome.ack.order_id

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T | None:
        """``attempt()``, retried with back-off while the database (or the DLQ's broker)
        is unreachable; None if stopped meanwhile."""
        backoff = 0.1
        while True:
            try:
                return attempt()
            except RETRYABLE as exc:
                log.warning(
                    "%s not applied yet (%s: %s); retry in %.1fs",
                    what,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
            except KafkaError as exc:  # the DLQ producer could not deliver
                log.warning("%s: DLQ delivery failed (%s); retry in %.1fs", what, exc, backoff)
            if self._stopping.wait(backoff):
                return None
            backoff = min(self.max_backoff, backoff * 2)

    def _to_dlq(self, record: Any, reason: str, detail: str = "") -> bool:
        assert self.dlq is not None
        headers = [
            ("reason", reason.encode()),
            ("detail", detail[:500].encode()),
            ("original_topic", str(record.topic).encode()),
            ("original_partition", str(record.partition).encode()),
            ("original_offset", str(record.offset).encode()),
        ]
        self.dlq.send(
            self.settings.kafka_topic_acks_dlq,
            key=record.key,
            value=record.value if record.value is not None else b"",
            headers=headers,
        ).get(timeout=30)
        metrics.ACKS_DLQ.labels(reason=reason).inc()
        self.processed += 1
        return True

    def _update_lag(self) -> None:
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = self.consumer.position(tp, timeout_ms=100)
            except Exception:
                continue
            if position is not None:
                metrics.CONSUMER_LAG.labels(partition=f"{tp.topic}/{tp.partition}").set(
                    max(0, high - position)
                )
