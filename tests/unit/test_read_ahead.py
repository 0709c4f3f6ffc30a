"""The rows a runner batch reads ahead answer ``_load`` only for key values asked for."""

from __future__ import annotations

from debtcases.projections.tables import ReadAhead, read_ahead, reading_ahead


def test_answers_only_what_was_asked_for() -> None:
    rows = ReadAhead()
    rows.put("t", "case_id", ["a", "b", "c"], [{"case_id": "a", "n": 1}, {"case_id": "c", "n": 3}])
    with reading_ahead(rows):
        assert read_ahead("t", "case_id", ["c", "a"]) == [
            {"case_id": "c", "n": 3},
            {"case_id": "a", "n": 1},
        ]
        assert read_ahead("t", "case_id", ["b"]) == []  # asked for, not found: no row
        assert read_ahead("t", "case_id", ["a", "d"]) is None  # d not asked for: query
        assert read_ahead("t", "user_id", ["a"]) is None
        assert read_ahead("other", "case_id", ["a"]) is None
    assert read_ahead("t", "case_id", ["a"]) is None  # only meanwhile
