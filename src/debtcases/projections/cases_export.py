"""The CSV export's read of the cases view: every matching case, newest change first, as
tuples with exactly the columns the file needs (``csvformat.export.EXPORT_FIELDS``), in
large keyset batches.

Why not the list's rows (profile, issue 10): a dict per row built by psycopg, a
``CaseState`` and a shape per case, and a Europe/Berlin conversion per timestamp in Python
(3.7 µs each) cost more than writing the file. Here PostgreSQL formats the times
(``to_char(… AT TIME ZONE 'Europe/Berlin', …)``: the same text as ``format_time``, which
SQLite's rows still go through) and picks the status the reader sees; psycopg builds
tuples. Each batch is its own short transaction, so a slow download never holds a pooled
connection (or a snapshot) between batches.

(``COPY (SELECT …) TO STDOUT (FORMAT csv)`` was considered and not taken: it ends lines
with ``\\n`` only, quotes every empty string, and rounds as numeric does, so its bytes are
not the file's; see the README, Where the time goes → CSV export.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from psycopg.rows import tuple_row

from debtcases.csvformat.export import ExportRow, format_time
from debtcases.projections.cases_queries import CasesQueries
from debtcases.projections.queries import CaseFilter
from debtcases.projections.tables import CASES

# Rows per query: large enough that a query per batch costs little per row, small enough
# that a batch (about 1 KB a row in Python) keeps memory flat.
EXPORT_BATCH = 5000

# The status a vendor sees (domain.rules.visible_status): a block is invisible to them.
_VENDOR_STATUS = (
    "CASE WHEN status = 'BLOCKED' AND status_before_block IS NOT NULL "
    "AND status_before_block <> '' THEN status_before_block ELSE status END"
)


def _berlin_text(column: str) -> str:
    """PostgreSQL: the timestamp as Europe/Berlin ``YYYY-MM-DD HH:MM:SS`` (truncated to
    the second, as strftime does)."""
    return f"to_char({column} AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI:SS')"


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
            cur.execute(store.dialect.q(sql), ps)
            batch = cur.fetchall()
        if not batch:
            return
        last = batch[-1]
        after = (last[13], last[14])
        if postgres:
            for row in batch:
                yield row[:13]
        else:  # SQLite: the times are ISO text in UTC
            for row in batch:
                yield (*row[:11], format_time(row[11]), format_time(row[12]))
        if len(batch) < size:
            return
