"""CSV export and import of dunning cases (the "CSV exportieren" / "CSV importieren" buttons).

Shared by the HTTP API and the CLI. Pure apart from the iterables, bytes and application
object handed in: no files, no network, no settings.

Export
------
UTF-8 with BOM, CRLF line ends, ``;`` as separator (``,`` on request), German headers::

    Bestell-ID;User-ID;Status;Status (Code);Betrag;Währung;Kunde;Straße;PLZ;Ort;Land;
    Fehler;Erstellt am;Geändert am

``Status`` is the label the reader's role sees (Gesperrt, Laufend, ...); ``Betrag`` uses a
decimal comma with ``;`` (Excel, German locale) and a decimal point with ``,``; ``Fehler``
joins a FAILED case's handover errors with `` | ``; times are Europe/Berlin,
``YYYY-MM-DD HH:MM:SS``. Any cell beginning with ``= + - @``, a tab or a carriage return
is prefixed with an apostrophe, so a spreadsheet never runs it as a formula (OWASP CSV
injection).

Import (legacy vendor dunning lists)
------------------------------------
One order per row; the first row names the columns (matched case-insensitively, German or
English; ``-``, ``_`` and spaces are ignored, so ``Bestell-ID``, ``bestell id`` and
``order_id`` are the same column):

============  ==============  ========  =============================================
column (de)   column (en)     required  value
============  ==============  ========  =============================================
Bestell-ID    order_id        yes       ``^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$``
User-ID       user_id         yes       the vendor's User-ID, a positive integer
Betrag        amount          yes       open amount >= 0, at most 2 decimals; ``49,90``
                                        or ``49.90`` (also ``1.234,56`` / ``1,234.56``)
Währung       currency        no        3 letters; empty or missing column: ``EUR``
Name (Kunde)  name            yes*      debtor name (<= 200 characters)
Straße        street          yes*      street and house number (<= 200)
PLZ           postal_code     yes*      postal code (<= 16)
Ort           city            yes*      city (<= 200)
Land          country         yes*      ISO country code, 2 letters (or empty)
Grund         reason          no        why the order is admitted (<= 1000)
============  ==============  ========  =============================================

``*`` the column must be present; its cells may be empty, exactly as admission over the API
accepts an incomplete address (the handover check reports what is missing). The other
columns of an export (Status, Status (Code), Fehler, Erstellt am, Geändert am) are accepted
and ignored, so an exported file can be imported again; any other column rejects the file.
The separator (``;`` or ``,``) is taken from the header line; an Excel ``sep=;`` first line
is honoured. Encodings: UTF-8 with or without BOM, else Windows-1252 (what Excel writes as
"CSV (Trennzeichen-getrennt)"); binary or UTF-16 files are refused. A leading apostrophe
that neutralised a formula character on export is removed again.

Every row is validated; errors name the line (line 1 = the header, as the spreadsheet
numbers rows). Within one file an order may appear once. An order that already has a case
with the same data is "unchanged"; with different data it is an ``order_conflict``. Any
error rejects the whole file: rows are applied all together (one transaction) or not at all,
so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from debtcases.commands.app import Admission, Outcome
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import CaseNotFound, OrderConflict
from debtcases.domain.statuses import Status

BERLIN = ZoneInfo("Europe/Berlin")
BOM = "\ufeff"
SEPARATORS = (";", ",")
MAX_IMPORT_ROWS = 50_000
DEFAULT_CURRENCY = "EUR"
DEFAULT_IMPORT_REASON = "CSV-Import"

# ------------------------------------------------------------------------------- export

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


# ------------------------------------------------------------------------------- import

ORDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PLAIN_AMOUNT = re.compile(r"^\d+(?:[.,]\d+)?$")
_DE_GROUPED = re.compile(r"^\d{1,3}(?:\.\d{3})+,\d+$")
_EN_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+\.\d+$")
_SEP_HINT = re.compile(r"^sep=(.)$", re.IGNORECASE)

# canonical column -> accepted header spellings (normalised by _header_key)
_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "order_id": ("bestellid", "bestellnummer", "orderid"),
    "user_id": ("userid", "vendorid", "vendoruserid"),
    "amount": ("betrag", "amount", "offenerbetrag"),
    "currency": ("währung", "waehrung", "currency"),
    "name": ("name", "kunde", "kundenname", "debtorname"),
    "street": ("strasse", "straße", "street"),
    "postal_code": ("plz", "postleitzahl", "postalcode", "zip", "zipcode"),
    "city": ("ort", "stadt", "city"),
    "country": ("land", "country"),
    "reason": ("grund", "reason"),
}
REQUIRED_COLUMNS = (
    "order_id",
    "user_id",
    "amount",
    "name",
    "street",
    "postal_code",
    "city",
    "country",
)
# Columns an export writes that the import does not need: accepted and ignored.
_IGNORED_HEADERS = frozenset(
    {
        "status",
        "status(code)",
        "statuscode",
        "statuslabel",
        "fehler",
        "errors",
        "erstelltam",
        "createdat",
        "geändertam",
        "geaendertam",
        "updatedat",
        "version",
    }
)
_LIMITS = {"name": 200, "street": 200, "postal_code": 16, "city": 200, "reason": 1000}


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().lstrip(BOM).casefold())


_COLUMN_BY_KEY = {
    _header_key(alias): column for column, aliases in _COLUMN_ALIASES.items() for alias in aliases
}


@dataclass(frozen=True)
class RowError:
    """One problem in the file: ``line`` 1 is the header; None for the file as a whole."""

    line: int | None
    field: str | None
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message, "code": self.code}


@dataclass(frozen=True)
class ImportRow:
    line: int
    admission: Admission


@dataclass
class ParsedImport:
    """The file read and checked row by row (without looking at existing cases)."""

    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    row_count: int = 0  # data rows seen (valid or not; blank rows not counted)


@dataclass(frozen=True)
class ImportReport:
    dry_run: bool
    applied: bool
    rows: int
    created: int
    unchanged: int
    errors: tuple[RowError, ...] = ()
    # Notification position of the last admitted case (read-your-writes), if any.
    position: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "applied": self.applied,
            "rows": self.rows,
            "created": self.created,
            "unchanged": self.unchanged,
            "errors": [e.as_dict() for e in self.errors],
        }


class FileRejected(ValueError):
    """The file cannot be read as a CSV list at all (encoding, header, size)."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.error = RowError(line, field, message, "invalid_file")


def decode(data: bytes) -> str:
    """UTF-8 (BOM optional) first, strictly; else Windows-1252 as Excel writes it.
    Binary and UTF-16 content is refused with the line of the first offending byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(
            "The file is UTF-16 encoded; save it as 'CSV UTF-8' or "
            "'CSV (Trennzeichen-getrennt)' instead."
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FileRejected(
            "The file is binary (contains NUL bytes), not a CSV text file.",
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise FileRejected(
                "The file is neither UTF-8 nor Windows-1252 text (undecodable byte "
                f"0x{data[exc.start]:02x}).",
                line=data.count(b"\n", 0, exc.start) + 1,
            ) from None
    bad = _CONTROL.search(text)
    if bad is not None:
        raise FileRejected(
            f"The file contains a control character (U+{ord(bad.group()):04X}); "
            "it does not look like a CSV text file.",
            line=text.count("\n", 0, bad.start()) + 1,
        )
    return text


def _sniff_separator(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])  # ties: ';' (listed first)
    if counts[best] == 0:
        raise FileRejected(
            "No separator in the header line: expected columns separated by ';' or ','.", line=1
        )
    return best


def _map_header(cells: list[str]) -> dict[int, str]:
    """Column index -> canonical column; refuses unknown, duplicate and missing columns."""
    mapping: dict[int, str] = {}
    seen: dict[str, str] = {}
    problems: list[str] = []
    for index, raw in enumerate(cells):
        key = _header_key(raw)
        if not key or key in _IGNORED_HEADERS:
            continue
        column = _COLUMN_BY_KEY.get(key)
        if column is None:
            problems.append(f"unknown column {raw.strip()!r}")
            continue
        if column in seen:
            problems.append(f"columns {seen[column]!r} and {raw.strip()!r} are both {column}")
            continue
        seen[column] = raw.strip()
        mapping[index] = column
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if problems:
        expected = "Bestell-ID, User-ID, Betrag, [Währung], Name, Straße, PLZ, Ort, Land, [Grund]"
        raise FileRejected(
            "Header does not match the import format: "
            + "; ".join(problems)
            + f". Expected columns: {expected}.",
            line=1,
        )
    return mapping


def parse_amount(text: str) -> Decimal:
    """``49,90``, ``49.90``, ``1.234,56`` or ``1,234.56``; >= 0 with at most 2 decimals."""
    value = text.replace(" ", "").replace("\u00a0", "")
    if _DE_GROUPED.match(value):
        normal = value.replace(".", "").replace(",", ".")
    elif _EN_GROUPED.match(value):
        normal = value.replace(",", "")
    elif _PLAIN_AMOUNT.match(value):
        normal = value.replace(",", ".")
    else:
        raise ValueError(f"{text!r} is not an amount >= 0 (e.g. 49,90 or 49.90)")
    try:
        amount = Decimal(normal)
    except InvalidOperation:  # pragma: no cover - the patterns only let numbers through
        raise ValueError(f"{text!r} is not an amount") from None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(f"{text!r} has more than 2 decimals")
    if amount >= Decimal("1e12"):
        raise ValueError(f"{text!r} is too large")
    return amount


def _row_admission(
    line: int, values: dict[str, str], default_reason: str
) -> tuple[Admission | None, list[RowError]]:
    errors: list[RowError] = []

    def fail(column: str, message: str) -> None:
        errors.append(RowError(line, column, message))

    order_id = values.get("order_id", "")
    if not ORDER_ID_RE.match(order_id):
        fail(
            "order_id",
            f"order id {order_id!r} is invalid (letters, digits, '.', '_', "
            "'-'; at most 64; starting with a letter or digit)"
            if order_id
            else "order id is missing",
        )
    user_text = values.get("user_id", "")
    user_id = 0
    if not re.fullmatch(r"\d{1,15}", user_text) or int(user_text) <= 0:
        fail(
            "user_id",
            f"user id {user_text!r} is not a positive integer"
            if user_text
            else "user id is missing",
        )
    else:
        user_id = int(user_text)
    amount = Decimal(0)
    amount_text = values.get("amount", "")
    if not amount_text:
        fail("amount", "amount is missing")
    else:
        try:
            amount = parse_amount(amount_text)
        except ValueError as exc:
            fail("amount", str(exc))
    currency = (values.get("currency") or DEFAULT_CURRENCY).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        fail("currency", f"currency {values.get('currency')!r} is not 3 letters (e.g. EUR)")
    country = values.get("country", "").upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        fail("country", f"country {values.get('country')!r} is not a 2-letter code (e.g. DE)")
    for column, limit in _LIMITS.items():
        text = values.get(column, "")
        if len(text) > limit:
            fail(column, f"{column} is longer than {limit} characters")
    if errors:
        return None, errors
    debtor = Debtor(
        values.get("name", ""),
        values.get("street", ""),
        values.get("postal_code", ""),
        values.get("city", ""),
        country,
    )
    reason = values.get("reason") or default_reason
    return Admission(order_id, user_id, amount, currency, debtor, reason), []


def parse_import(
    data: bytes, *, max_rows: int = MAX_IMPORT_ROWS, default_reason: str = DEFAULT_IMPORT_REASON
) -> ParsedImport:
    """Read and validate a whole file; never raises for bad content (errors are reported)."""
    result = ParsedImport()
    try:
        _parse_into(result, data, max_rows, default_reason)
    except FileRejected as exc:
        result.errors.insert(0, exc.error)
        result.rows.clear()
    return result


def _parse_into(result: ParsedImport, data: bytes, max_rows: int, default_reason: str) -> None:
    text = decode(data)
    lines = io.StringIO(text, newline="")
    first = lines.readline()
    hint = _SEP_HINT.match(first.rstrip("\r\n"))
    if hint:
        sep = hint.group(1)
        if sep not in SEPARATORS:
            raise FileRejected(f"Separator {sep!r} is not supported; use ';' or ','.", line=1)
    else:
        if not first.strip():
            raise FileRejected("The file is empty: expected a header line and data rows.", line=1)
        sep = _sniff_separator(first)
        lines.seek(0)
    reader = csv.reader(lines, delimiter=sep, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FileRejected("The file has no header line.", line=1)
        columns = _map_header(header)
        first_line_by_order: dict[str, int] = {}
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines (Excel writes ';;;;' rows) are not data
            result.row_count += 1
            if result.row_count > max_rows:
                raise FileRejected(
                    f"Too many rows: at most {max_rows} per file; split it.", line=line
                )
            extra = [c for i, c in enumerate(cells) if i >= len(header) and c.strip()]
            if extra:
                result.errors.append(
                    RowError(line, None, f"row has {len(cells)} cells, the header {len(header)}")
                )
                continue
            values = {
                column: unneutralise(cells[i]).strip() if i < len(cells) else ""
                for i, column in columns.items()
            }
            admission, errors = _row_admission(line, values, default_reason)
            if admission is None:
                result.errors.extend(errors)
                continue
            earlier = first_line_by_order.get(admission.order_id)
            if earlier is not None:
                result.errors.append(
                    RowError(
                        line,
                        "order_id",
                        f"order {admission.order_id!r} appears again (first in line {earlier})",
                        "duplicate_order",
                    )
                )
                continue
            first_line_by_order[admission.order_id] = line
            result.rows.append(ImportRow(line, admission))
    except csv.Error as exc:
        raise FileRejected(f"Malformed CSV: {exc}", line=reader.line_num or 1) from None
    if result.row_count == 0 and not result.errors:
        raise FileRejected("The file has a header but no data rows.", line=1)


class CaseAdmitter(Protocol):
    """What the import needs of the DunningCases application."""

    def get_case(self, order_id: str, actor: Actor) -> Any: ...

    def admit_many(self, admissions: Sequence[Admission], actor: Actor) -> list[Outcome]: ...


def import_cases(
    cases: CaseAdmitter,
    data: bytes,
    actor: Actor,
    *,
    dry_run: bool = False,
    max_rows: int = MAX_IMPORT_ROWS,
    default_reason: str = DEFAULT_IMPORT_REASON,
) -> ImportReport:
    """Validate a file, compare it with the existing cases and (unless ``dry_run``) admit
    every new order in one transaction. Any error: nothing is applied."""
    parsed = parse_import(data, max_rows=max_rows, default_reason=default_reason)
    errors = list(parsed.errors)
    created = unchanged = 0
    if not any(e.code == "invalid_file" for e in errors):  # readable: compare every row
        for row in parsed.rows:
            a = row.admission
            try:
                existing = cases.get_case(a.order_id, actor)
            except CaseNotFound:
                created += 1
                continue
            differing = existing.differing_admission_fields(
                user_id=a.user_id, amount=a.amount, currency=a.currency, debtor=a.debtor
            )
            if differing:
                errors.append(
                    RowError(
                        row.line,
                        "order_id",
                        f"order {a.order_id!r} already has a case with "
                        f"different data ({', '.join(differing)})",
                        "order_conflict",
                    )
                )
            else:
                unchanged += 1
    errors.sort(key=lambda e: e.line or 0)
    if errors or dry_run:
        return ImportReport(
            dry_run,
            False,
            parsed.row_count,
            created if not errors else 0,
            unchanged if not errors else 0,
            tuple(errors),
        )
    try:
        outcomes = cases.admit_many([r.admission for r in parsed.rows], actor)
    except OrderConflict as exc:  # admitted concurrently with other data since the check
        line = next((r.line for r in parsed.rows if r.admission.order_id == exc.order_id), None)
        return ImportReport(
            dry_run,
            False,
            parsed.row_count,
            0,
            0,
            (RowError(line, "order_id", str(exc), "order_conflict"),),
        )
    positions = [o.position for o in outcomes if o.position is not None]
    return ImportReport(
        dry_run,
        True,
        parsed.row_count,
        sum(1 for o in outcomes if o.created),
        sum(1 for o in outcomes if not o.created),
        (),
        max(positions) if positions else None,
    )
