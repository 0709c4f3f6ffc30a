"""The lists' `after=` cursor: it round-trips, every string its pattern admits is a cursor
(the document promises no more and no less), and anything else is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debtcases.api.cursors import AFTER_PATTERN, LENGTH, decode_cursor, encode_cursor
from debtcases.projections.queries import Keyset

_PATTERN = re.compile(AFTER_PATTERN)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
POSITIONS = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(MOMENTS, POSITIONS, st.integers(min_value=1, max_value=2**53 - 1))
def test_a_cursor_decodes_to_the_key_and_page_it_was_made_from(
    changed: datetime, position: int, page: int
) -> None:
    text = encode_cursor(Keyset(changed, position), page)
    assert _PATTERN.fullmatch(text) and len(text) == LENGTH
    cursor = decode_cursor(text)
    assert (cursor.key, cursor.page) == (Keyset(changed, position), page)


def test_a_cursor_keeps_the_instant_of_a_moment_given_in_another_offset() -> None:
    berlin = datetime(2024, 5, 1, 14, 0, 0, 123456).astimezone()
    cursor = decode_cursor(encode_cursor(Keyset(berlin, 7), 2))
    assert cursor.key.changed == berlin and cursor.key.changed.tzinfo == UTC


@given(st.from_regex(_PATTERN, fullmatch=True))
def test_every_string_the_pattern_admits_is_a_cursor(text: str) -> None:
    cursor = decode_cursor(text)
    assert cursor.page >= 1
    assert cursor.key.changed.tzinfo == UTC
    assert -(2**63) <= cursor.key.position < 2**63


def test_a_key_beyond_the_calendar_is_its_edge_and_the_page_at_least_one() -> None:
    assert decode_cursor("-" * LENGTH).key.changed == datetime.min.replace(tzinfo=UTC)
    assert decode_cursor("A" * LENGTH).page == 1
    edge = decode_cursor("f" + "_" * (LENGTH - 1))
    assert edge.key.changed == datetime.max.replace(tzinfo=UTC)
    assert edge.page == 2**53 - 1


GOOD = encode_cursor(Keyset(datetime(2024, 5, 1, tzinfo=UTC) + timedelta(microseconds=3), 42), 5)


@pytest.mark.parametrize(
    "text",
    [
        "",
        GOOD[:-1],  # truncated
        GOOD[: LENGTH // 2],
        GOOD + "A",  # too long
        GOOD[:-2] + "==",  # padding
        GOOD[:-1] + "+",  # standard base64, not URL-safe
        GOOD[:-1] + "/",
        GOOD[:10] + "." + GOOD[11:],  # garbled
        GOOD[:10] + "é" + GOOD[11:],
        GOOD[:10] + "٣" + GOOD[11:],  # another script's digit
        GOOD[:10] + " " + GOOD[11:],
        GOOD[:-1] + "\n",
        "eyJwYWdlIjogMiwgImtleSI6IDF9",  # someone else's token (base64 JSON)
    ],
)
def test_anything_but_a_cursor_is_refused_as_the_pattern_refuses_it(text: str) -> None:
    assert not _PATTERN.fullmatch(text)
    with pytest.raises(ValueError, match="a cursor is 32 characters"):
        decode_cursor(text)
