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
import json
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


# The columns of one case as the export reads it (``ExportRow``), in this order, the text
# ones as str (the user id may be an int): the status code as the reader sees it; the
# amount as stored (``"49.90"``); the handover errors as the view stores them (a JSON
# array, ``"[]"`` for none) or as a list; the times already as Europe/Berlin
# ``YYYY-MM-DD HH:MM:SS`` text (``format_time``; PostgreSQL formats them in the query, see
# ``projections.cases_export``).
EXPORT_FIELDS: tuple[str, ...] = (
    "order_id",
    "user_id",
    "status",
    "amount",
    "currency",
    "debtor_name",
    "debtor_street",
    "debtor_postal_code",
    "debtor_city",
    "debtor_country",
    "errors",
    "created_at",
    "changed_at",
)
ExportRow = tuple[Any, ...]

# Bytes per chunk of the stream: large enough that writing a chunk (a threadpool hop and a
# socket write per chunk in a streamed response) costs little per row, small enough that
# memory stays flat.
CHUNK_BYTES = 128 * 1024
# Rows handed to csv.writer at once (its C loop) between checks of the chunk size.
_WRITE_ROWS = 256

# Status code -> its (label, code) cells, neutralised (none needs it today).
_STATUS_CELLS: dict[str, tuple[str, str]] = {
    s.value: (neutralise(s.label), neutralise(s.value)) for s in Status
}


def _status_cells(code: Any) -> tuple[str, str]:
    status = Status(str(code))  # an unknown code raises, as it always did
    return _STATUS_CELLS[status.value]


def errors_cell(errors: str | Sequence[Any] | None) -> str:
    """The ``Fehler`` cell: a FAILED case's handover errors joined with `` | ``."""
    if not errors:
        return ""
    items = json.loads(errors) if isinstance(errors, str) else errors
    return " | ".join(str(e) for e in items or ())


class _AmountCells(dict[Any, str]):
    """Stored amount -> its neutralised ``Betrag`` cell, remembered (amounts repeat)."""

    def __init__(self, sep: str) -> None:
        super().__init__()
        self.sep = sep

    def __missing__(self, amount: Any) -> str:
        if len(self) >= 4096:
            self.clear()
        cell = self[amount] = neutralise(format_amount(amount, self.sep))
        return cell


def export_row(row: Mapping[str, Any]) -> ExportRow:
    """A case as a dict with the CaseOut fields (``case_shape``) as an ``ExportRow``."""
    debtor = row.get("debtor") or {}
    return (
        str(row["order_id"]),
        row["user_id"],
        str(row["status"]),
        row["amount"],
        str(row.get("currency") or ""),
        str(debtor.get("name", "")),
        str(debtor.get("street", "")),
        str(debtor.get("postal_code", "")),
        str(debtor.get("city", "")),
        str(debtor.get("country", "")),
        list(row.get("errors") or ()),
        format_time(row.get("created_at")),
        format_time(row.get("updated_at")),
    )


def export_csv_rows(
    rows: Iterable[ExportRow], sep: str = ";", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The CSV file as a stream of byte chunks of about ``chunk_bytes`` (BOM + header
    first): memory stays constant however many cases ``rows`` yields. The one formatter
    of the export (the API, both web tabs and the CLI), a tight loop (profile, issue 10:
    a dict and a time-zone conversion per row cost more than writing the file)."""
    if sep not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, not {sep!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    buffer.write(BOM)
    writer.writerow(EXPORT_HEADER)
    writerows = writer.writerows
    amounts = _AmountCells(sep)
    statuses = _STATUS_CELLS
    triggers = FORMULA_TRIGGERS
    pending: list[tuple[str, ...]] = []
    append = pending.append
    for (
        order_id,
        user_id,
        status,
        amount,
        currency,
        name,
        street,
        postal_code,
        city,
        country,
        errors,
        created,
        changed,
    ) in rows:
        # Every cell neutralised (neutralise() inlined). The label and code
        # cells and the times (digits first) never start with a formula character.
        user = str(user_id)
        error = "" if errors == "[]" else errors_cell(errors)
        label, code = statuses.get(status) or _status_cells(status)
        append(
            (
                "'" + order_id if order_id.startswith(triggers) else order_id,
                "'" + user if user.startswith(triggers) else user,
                label,
                code,
                amounts[amount],
                "'" + currency if currency.startswith(triggers) else currency,
                "'" + name if name.startswith(triggers) else name,
                "'" + street if street.startswith(triggers) else street,
                "'" + postal_code if postal_code.startswith(triggers) else postal_code,
                "'" + city if city.startswith(triggers) else city,
                "'" + country if country.startswith(triggers) else country,
                "'" + error if error.startswith(triggers) else error,
                created,
                changed,
            )
        )
        if len(pending) >= _WRITE_ROWS:
            writerows(pending)
            pending.clear()
            if buffer.tell() >= chunk_bytes:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
    writerows(pending)
    yield buffer.getvalue().encode("utf-8")


def export_csv(
    rows: Iterable[Mapping[str, Any]], sep: str = ";", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The CSV file of cases as dicts with the CaseOut fields (``case_shape``), streamed:
    :func:`export_csv_rows` of their ``export_row``."""
    return export_csv_rows((export_row(r) for r in rows), sep, chunk_bytes)


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
