"""A moment in a query (`?at=`, `?as_of=`, `?from=`, `?to=`) is an ISO 8601 date and time
with a UTC offset that exists (AT_PATTERN), read by the one parse_moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.exceptions import RequestValidationError

from debtcases.api.filters import parse_moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T00:00:00Z", datetime(2024, 6, 1, tzinfo=UTC)),
        ("2024-06-01T00:00Z", datetime(2024, 6, 1, tzinfo=UTC)),
        (
            "2024-06-01T02:00:00+02:00",
            datetime(2024, 6, 1, 2, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-06-01T00:00:00.123456Z", datetime(2024, 6, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_a_moment_with_an_offset_is_read(text: str, expected: datetime) -> None:
    assert parse_moment("at", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0.5",  # epoch seconds, as datetime parsing would read it
        "1717200000",
        "2024-06-01",  # a day is not a moment
        "2024-06-01T00:00:00",  # no offset: which clock?
        "2024-06-01t00:00:00z",
        "0000-00-00T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-06-01T24:00:00Z",
        "٢٠٢٤-06-01T00:00:00Z",
    ],
)
def test_anything_else_is_a_422_naming_the_parameter(text: str) -> None:
    with pytest.raises(RequestValidationError) as refused:
        parse_moment("at", text)
    assert refused.value.errors()[0]["loc"] == ("query", "at")
