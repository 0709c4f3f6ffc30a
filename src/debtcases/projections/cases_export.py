"""The CSV export's read of the cases view: every matching case, newest change first, as
tuples with exactly the columns the file needs (``csvformat.export.EXPORT_FIELDS``), in
large keyset batches (on PostgreSQL the next one read while this one is written).

Why not the list's rows (profile, issue 10): a dict per row built by psycopg, a
``CaseState`` and a shape per case, and a Europe/Berlin conversion per timestamp in Python
(3.7 µs each) cost more than writing the file. Here PostgreSQL formats the times
(``… AT TIME ZONE 'Europe/Berlin'`` as ISO text: ``format_time``'s text for the years
1000-9999; SQLite's rows still go through ``format_time``) and picks the status the
reader sees; psycopg builds tuples. Each batch is its own short transaction, so a slow
download never holds a pooled connection (or a snapshot) between batches.

Not taken (README, Where the time goes → CSV export): ``COPY (SELECT …) TO STDOUT (FORMAT
csv)`` ends lines with ``\\n`` only and quotes every empty string, so its bytes are not
the file's; PostgreSQL rendering the whole file's text (neutralising, quoting) was byte
for byte right but cost the server ten times the plain query (branch export-sql-render).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from datetime import datetime
from typing import Any

from psycopg.rows import tuple_row

from debtcases.csvformat.export import ExportRow, format_time
from debtcases.projections.cases_queries import CasesQueries
from debtcases.projections.queries import CaseFilter
from debtcases.projections.tables import CASES

# Rows per query: large enough that a query per batch costs little per row, small enough
# that a batch (about 1 KB a row in Python) keeps memory flat.
EXPORT_BATCH = 2000

# The status a vendor sees (domain.rules.visible_status): a block is invisible to them.
_VENDOR_STATUS = (
    "CASE WHEN status = 'BLOCKED' AND status_before_block IS NOT NULL "
    "AND status_before_block <> '' THEN status_before_block ELSE status END"
)


def _berlin_text(column: str) -> str:
    """PostgreSQL: the timestamp as Europe/Berlin ``YYYY-MM-DD HH:MM:SS`` (truncated to
    the second, as strftime does), from its ISO text (the batch sets DateStyle ISO): a
    third of what to_char costs (EXPLAIN ANALYZE, 5,000 rows: 4 vs 13 ms for two)."""
    return f"left(({column} AT TIME ZONE 'Europe/Berlin')::text, 19)"


def export_case_rows(
    store: CasesQueries,
    f: CaseFilter,
    vendor_id: int | None,
    *,
    vendor_view: bool | None = None,
    as_of: datetime | None = None,
    vendor_status: bool = False,
    vendor_changed: bool = False,
    batch_size: int | None = None,
) -> Iterator[ExportRow]:
    """The export's rows (``EXPORT_FIELDS``) of the cases matching ``f`` (scoped to
    ``vendor_id``; ``vendor_view``: statuses matched as vendors see them), in the list's
    order. ``as_of``: as the list stood then. ``vendor_status``: the status a vendor sees;
    ``vendor_changed``: *Geändert am* is the last change a vendor sees. ``batch_size``:
    rows per query (default ``EXPORT_BATCH``)."""
    size = batch_size or EXPORT_BATCH
    where, params = store._where(f, vendor_id, vendor_view)
    gen = store.live_generation(CASES)
    table = f"view_cases_g{gen}"
    order = store._changed_column(vendor_id)
    if as_of is not None:
        table, where, params = store._as_of(gen, where, params, vendor_id, as_of)
    postgres = store.dialect.kind == "postgres"
    status = _VENDOR_STATUS if vendor_status else "status"
    changed = "vendor_updated_at" if vendor_changed else "updated_at"
    created = _berlin_text("created_at") if postgres else "created_at"
    changed = _berlin_text(changed) if postgres else changed
    select = (
        f"SELECT order_id, user_id, {status}, amount, currency, debtor_name, debtor_street, "
        "debtor_postal_code, debtor_city, debtor_country, errors, "
        f"{created}, {changed}, {order}, position FROM {table} WHERE {where}"
    )
    batches: Generator[list[Any], None, None] = _batches(
        store, select, params, order, size, postgres
    )
    if postgres:
        batches = _read_ahead(batches)
    try:
        for batch in batches:
            if postgres:
                for row in batch:
                    yield row[:13]
            else:  # SQLite: the times are ISO text in UTC
                for row in batch:
                    yield (*row[:11], format_time(row[11]), format_time(row[12]))
    finally:
        batches.close()  # an abandoned download: the read-ahead thread stops


def _batches(
    store: CasesQueries, select: str, params: list[Any], order: str, size: int, postgres: bool
) -> Generator[list[Any], None, None]:
    """The keyset batches of ``select`` (its last two columns: the order key, position)."""
    after: tuple[Any, Any] | None = None
    while True:
        sql, ps = select, list(params)
        if after is not None:
            sql += f" AND ({order}, position) < (%s, %s)"
            ps.extend(after)
        sql += f" ORDER BY {order} DESC, position DESC LIMIT %s"
        ps.append(size)
        with store.datastore.transaction(commit=False) as cur:
            if postgres:
                cur.row_factory = tuple_row
                cur.execute("SET LOCAL DateStyle = 'ISO, MDY'")  # for _berlin_text
            cur.execute(store.dialect.q(sql), ps)
            batch = cur.fetchall()
        if not batch:
            return
        yield batch
        if len(batch) < size:
            return
        after = (batch[-1][-2], batch[-1][-1])


_END = object()


def _read_ahead(batches: Iterator[list[Any]]) -> Generator[list[Any], None, None]:
    """``batches``, the next one read by a thread while the caller writes this one (the
    export waited on PostgreSQL for half its time: the query and the formatting now
    overlap). At most three batches in memory (this one, the next, the one being read);
    closing this generator (a download abandoned) stops the thread after its query."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
        except BaseException as exc:  # handed to the reader, raised there
            hand_over(exc)
            return
        hand_over(_END)

    thread = threading.Thread(target=read, name="csv-export-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
