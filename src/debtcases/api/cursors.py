"""The lists' `after=` cursor (keyset pagination): where the next page starts, as an opaque,
URL-safe token of fixed length.

The token is 24 bytes in unpadded base64url (32 characters of ``[A-Za-z0-9_-]``): the last
item's change time (microseconds since 1970 UTC, signed 64 bits), its position in the log
(signed 64 bits) and the number of the page it leads to (unsigned 64 bits). EVERY string
the pattern admits decodes to a cursor (a time outside year 1..9999 is its edge, a page is
at least 1), so the OpenAPI pattern is exactly what the server takes: a truncated, garbled
or foreign token (another length, a character outside the alphabet, padding) is a 422 by
the pattern, and a schema-valid one is never refused.

A cursor is not a secret and grants nothing: it only says where in the list's order (newest
change first) to start. The filters, the vendor scope and ``as_of`` always come from the
request, so a cursor made for another list (other filters, another vendor, another moment)
or altered by hand starts this list at that point of the order: it can skip cases, never
show one outside the request's filters or scope. That is why it carries no signature (which
no pattern could state) and is not bound to its list.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from debtcases.projections.queries import Keyset

_LAYOUT = struct.Struct(">qqQ")  # change time (µs since the epoch), position, page
LENGTH = 32  # base64url characters of the 24 bytes, no padding
AFTER_PATTERN = f"^[A-Za-z0-9_-]{{{LENGTH}}}$"
_CURSOR = re.compile(AFTER_PATTERN)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)
_FIRST_US = (_FIRST - _EPOCH) // timedelta(microseconds=1)
_LAST_US = (_LAST - _EPOCH) // timedelta(microseconds=1)
_MAX_PAGE = 2**53 - 1  # stays exact in every JSON reader


@dataclass(frozen=True)
class Cursor:
    """A decoded ``after``: the key to start after and the number of the page it opens."""

    key: Keyset
    page: int


def encode_cursor(key: Keyset, page: int) -> str:
    micros = (key.changed.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
    raw = _LAYOUT.pack(micros, key.position, min(max(page, 1), _MAX_PAGE))
    return base64.urlsafe_b64encode(raw).decode("ascii")  # 24 bytes: no padding


def decode_cursor(text: str) -> Cursor:
    """The cursor in ``text``; ValueError if it is not one (``AFTER_PATTERN``)."""
    if not _CURSOR.fullmatch(text):
        raise ValueError(f"a cursor is {LENGTH} characters of A-Z, a-z, 0-9, '-' and '_'")
    raw = base64.urlsafe_b64decode(text)  # 32 characters of the alphabet: 24 bytes
    micros, position, page = _LAYOUT.unpack(raw)
    micros = min(max(micros, _FIRST_US), _LAST_US)
    changed = _EPOCH + timedelta(microseconds=micros)
    return Cursor(Keyset(changed, position), min(max(page, 1), _MAX_PAGE))
