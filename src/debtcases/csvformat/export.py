"""CSV export of dunning cases (the "CSV exportieren" button), shared by the HTTP API and
the CLI. Pure: no files, no network, no settings.

UTF-8 with BOM, CRLF line ends, ``;`` as separator (``,`` on request), German headers::

    Bestell-ID;User-ID;Status;Status (Code);Betrag;Währung;Kunde;Straße;PLZ;Ort;Land;
    Fehler;Erstellt am;Geändert am

``Status`` is the label the reader's role sees (Gesperrt, Laufend, ...); ``Betrag`` uses a
decimal comma with ``;`` (Excel, German locale) and a decimal point with ``,``; ``Fehler``
joins a FAILED case's handover errors with `` | ``; times are Europe/Berlin,
``YYYY-MM-DD HH:MM:SS``. Any cell beginning with ``= + - @``, a tab or a carriage return
is prefixed with an apostrophe, so a spreadsheet never runs it as a formula (OWASP CSV
injection).

The import (:mod:`debtcases.csvformat.parse`) reads this format back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status

BERLIN = ZoneInfo("Europe/Berlin")
BOM = "\ufeff"
SEPARATORS = (";", ",")

EXPORT_HEADER: tuple[str, ...] = (
    "Bestell-ID",
    "User-ID",
    "Status",
    "Status (Code)",
    "Betrag",
    "Währung",
    "Kunde",
    "Straße",
    "PLZ",
    "Ort",
    "Land",
    "Fehler",
    "Erstellt am",
    "Geändert am",
)

# A spreadsheet treats a cell starting with one of these as a formula (or DDE command).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with an apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise` (an apostrophe directly before a formula character)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS) else cell


def format_amount(amount: Decimal | str | float | int, sep: str = ";") -> str:
    """``49.90`` as Excel-DE expects it with ``;`` (``49,90``), or with a point for ``,``."""
    text = f"{Decimal(str(amount)):.2f}"
    return text.replace(".", ",") if sep == ";" else text


def format_time(value: datetime | str | None) -> str:
    """A timestamp as Europe/Berlin local time, ``YYYY-MM-DD HH:MM:SS`` (Excel parses it)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(BERLIN)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _status_cells(row: Mapping[str, Any]) -> tuple[str, str]:
    status = Status(str(row["status"]))
    label = row.get("status_label") or status.label
    return str(label), status.value


def export_cells(row: Mapping[str, Any], sep: str = ";") -> list[str]:
    """One case (a dict with the CaseOut fields) as the cells of one CSV row, neutralised."""
    debtor = row.get("debtor") or {}
    label, code = _status_cells(row)
    cells = [
        str(row["order_id"]),
        str(row["user_id"]),
        label,
        code,
        format_amount(row["amount"], sep),
        str(row.get("currency") or ""),
        str(debtor.get("name", "")),
        str(debtor.get("street", "")),
        str(debtor.get("postal_code", "")),
        str(debtor.get("city", "")),
        str(debtor.get("country", "")),
        " | ".join(str(e) for e in row.get("errors") or ()),
        format_time(row.get("created_at")),
        format_time(row.get("updated_at")),
    ]
    return [neutralise(c) for c in cells]


def export_csv(
    rows: Iterable[Mapping[str, Any]], sep: str = ";", chunk_rows: int = 500
) -> Iterator[bytes]:
    """The CSV file as a stream of byte chunks (BOM + header first, then ``chunk_rows`` rows
    per chunk): memory stays constant however many cases ``rows`` yields."""
    if sep not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, not {sep!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    buffer.write(BOM)
    writer.writerow(EXPORT_HEADER)
    pending = 0
    for row in rows:
        writer.writerow(export_cells(row, sep))
        pending += 1
        if pending >= chunk_rows:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def export_filename(
    role: Role,
    *,
    user_id: int | None = None,
    order_id: str | None = None,
    statuses: Sequence[Status] = (),
    period: str | None = None,
) -> str:
    """E.g. ``schulden_79424_2024-05.csv`` (support) or ``inkasso_79424_alle.csv`` (vendor)."""
    parts = ["schulden" if role is not Role.VENDOR else "inkasso"]
    if user_id is not None:
        parts.append(str(user_id))
    if order_id:
        parts.append(re.sub(r"[^A-Za-z0-9._-]", "_", order_id))
    if statuses:
        parts.append("-".join(s.value.lower() for s in statuses))
    parts.append(period or "alle")
    return "_".join(parts) + ".csv"
