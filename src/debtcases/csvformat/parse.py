"""CSV parsing for the import of legacy dunning lists (the "CSV importieren" button):
bytes in, admissions and per-row errors out. Pure: the import itself (comparing with the
existing cases, admitting) is :mod:`debtcases.commands.imports`. Each row is checked with the
admission rules of :mod:`debtcases.domain.admission`; what is checked here is only how a
file, a header and a cell are written.

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
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from debtcases.csvformat.export import BOM, SEPARATORS, unneutralise
from debtcases.domain.admission import (
    ADMISSION_FIELDS,
    AMOUNT_DECIMALS,
    CONTROL_CHARACTERS,
    TEXT_LIMITS,
    Admission,
    FieldError,
    admission_errors,
)
from debtcases.domain.debtor import Debtor

MAX_IMPORT_ROWS = 50_000
DEFAULT_CURRENCY = "EUR"
DEFAULT_IMPORT_REASON = "CSV-Import"

_PLAIN_AMOUNT = re.compile(r"^[0-9]+(?:[.,][0-9]+)?$")
_DE_GROUPED = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+$")
_EN_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+$")
_SEP_HINT = re.compile(r"^sep=(.)$", re.IGNORECASE)
# A User-ID cell: digits only; at most 15 of them (narrower than the domain's range).
_USER_ID_CELL = re.compile(r"[0-9]{1,15}")

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
    bad = CONTROL_CHARACTERS.search(text)
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
    """``49,90``, ``49.90``, ``1.234,56`` or ``1,234.56``, written with at most 2 decimals.
    Whether the amount may be admitted is the domain's rule (``amount_error``)."""
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
    # Stricter than the domain on purpose: a cell may not write more decimals even when they
    # are zeros, since "1,000" may mean a thousand (grouped) or one (decimal comma).
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_DECIMALS:
        raise ValueError(_too_many_decimals(text))
    return amount


def _too_many_decimals(text: str) -> str:
    return f"{text!r} has more than {AMOUNT_DECIMALS} decimals"


def _broken_rule_message(error: FieldError, cell: str) -> str:
    """How the report words a broken admission rule, quoting the cell as written."""
    if error.field == "order_id":
        return (
            f"order id {cell!r} is invalid (letters, digits, '.', '_', "
            "'-'; at most 64; starting with a letter or digit)"
        )
    if error.field == "user_id":
        return f"user id {cell!r} is not a positive integer"
    if error.field == "amount" and error.code == "decimals":
        return _too_many_decimals(cell)
    if error.field == "amount" and error.code == "too_large":
        return f"{cell!r} is too large"
    if error.field == "currency":
        return f"currency {cell!r} is not 3 letters (e.g. EUR)"
    if error.field == "country":
        return f"country {cell!r} is not a 2-letter code (e.g. DE)"
    if error.code == "too_long":
        return f"{error.field} is longer than {TEXT_LIMITS[error.field]} characters"
    return f"{error.field} {error.message}"


def _row_admission(
    line: int, values: dict[str, str], default_reason: str
) -> tuple[Admission | None, list[RowError]]:
    """The row as an admission, or every problem of it: first what cannot be read as the
    right kind of value here, then the domain's admission rules for the rest."""
    unreadable: dict[str, str] = {}
    order_id = values.get("order_id", "")
    if not order_id:
        unreadable["order_id"] = "order id is missing"
    user_text = values.get("user_id", "")
    user_id = 0
    if not user_text:
        unreadable["user_id"] = "user id is missing"
    elif not _USER_ID_CELL.fullmatch(user_text):
        unreadable["user_id"] = f"user id {user_text!r} is not a positive integer"
    else:
        user_id = int(user_text)
    amount_text = values.get("amount", "")
    amount = Decimal(0)
    if not amount_text:
        unreadable["amount"] = "amount is missing"
    else:
        try:
            amount = parse_amount(amount_text)
        except ValueError as exc:
            unreadable["amount"] = str(exc)
    debtor = Debtor(
        values.get("name", ""),
        values.get("street", ""),
        values.get("postal_code", ""),
        values.get("city", ""),
        values.get("country", "").upper(),
    )
    currency = (values.get("currency") or DEFAULT_CURRENCY).upper()
    reason = values.get("reason", "")
    admission = Admission(order_id, user_id, amount, currency, debtor, reason)
    messages = {
        e.field: _broken_rule_message(e, values.get(e.field, ""))
        for e in admission_errors(admission)
    }
    messages.update(unreadable)
    if messages:
        return None, [RowError(line, f, messages[f]) for f in ADMISSION_FIELDS if f in messages]
    return replace(admission, reason=reason or default_reason), []


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
                    f"Too many rows: at most {max_rows:,} per file; split it.", line=line
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
