"""Keyset pagination of the case lists (`after=`), on SQLite and PostgreSQL: following
`next_after` yields every case exactly once, in the order the `page=` pages give, with any
filters, as of a moment, while cases are admitted between pages; a cursor never shows a
case outside the caller's list; anything but a cursor is a 422."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from debtcases.api.cursors import encode_cursor
from debtcases.bootstrap import Container
from debtcases.projections.queries import Keyset
from tests.builders import VENDOR_ID, Caller, admit_body, callers

SUPPORT_LIST = "/api/v1/support/cases"
VENDOR_LIST = "/api/v1/vendor/cases"
OTHER_ID = 11111  # the `other` caller's vendor
THIRD_ID = 51234  # a vendor nobody here calls as


@pytest.fixture
def api(database_url: str, make_container: Callable[..., Container]) -> Iterator[dict[str, Any]]:
    container = make_container(database_url)
    container.start_workers()
    found = callers(container)
    with found["client"]:
        _populate(found)
        yield found


def _populate(api: dict[str, Any]) -> None:
    """30 cases of three vendors: every third started, every fifth blocked (a vendor sees
    the status before the block), two cancelled; `moment` is taken half way."""
    vendors = (VENDOR_ID, OTHER_ID, THIRD_ID)
    for i in range(30):
        api["intake"].post("/api/v1/cases", admit_body(f"K-{i:03d}", vendors[i % 3]), expect=201)
        if i == 15:
            api["moment"] = datetime.now(UTC).isoformat()
    for i in range(0, 30, 3):
        api["support"].post(f"/api/v1/cases/K-{i:03d}/start", {}, expect=200)
    for i in range(0, 30, 5):
        api["support"].post(f"/api/v1/cases/K-{i:03d}/block", {"reason": "Klärung"}, expect=200)
    for i in (7, 8):
        api["support"].post(f"/api/v1/cases/K-{i:03d}/cancel", {"reason": "storno"}, expect=200)


def _by_cursor(
    caller: Caller,
    path: str,
    page_size: int,
    between: Callable[[int], None] | None = None,
    **params: Any,
) -> tuple[list[str], list[int]]:
    """Every page from the first along `next_after`: the order ids and the page numbers."""
    ids: list[str] = []
    numbers: list[int] = []
    body = caller.get(path, expect=200, page_size=page_size, **params)
    while True:
        ids += [c["order_id"] for c in body["items"]]
        numbers.append(body["page"])
        assert len(numbers) <= 100, "the cursor pages never end"
        if body["next_after"] is None:
            return ids, numbers
        assert len(body["items"]) == page_size  # only the last page is short
        if between is not None:
            between(len(numbers))
        body = caller.get(path, expect=200, page_size=page_size, after=body["next_after"], **params)


def _by_page(caller: Caller, path: str, page_size: int, **params: Any) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        body = caller.get(path, expect=200, page_size=page_size, page=page, **params)
        ids += [c["order_id"] for c in body["items"]]
        if page * page_size >= body["total"]:
            assert body["next_after"] is None
            return ids
        assert body["next_after"] is not None
        page += 1


def _all(caller: Caller, path: str, **params: Any) -> list[str]:
    body = caller.get(path, expect=200, page_size=500, **params)
    assert body["next_after"] is None
    return [c["order_id"] for c in body["items"]]


LISTS = [
    ("support", SUPPORT_LIST, {}),
    ("support", SUPPORT_LIST, {"status": "RUNNING"}),
    ("support", SUPPORT_LIST, {"status": "LOCKED,Blockiert"}),
    ("support", SUPPORT_LIST, {"user_id": VENDOR_ID, "status": "RUNNING"}),
    ("support", SUPPORT_LIST, {"q": str(OTHER_ID), "fell_back": "false"}),
    ("support", SUPPORT_LIST, {"period": "all", "status": "CANCELLED,RUNNING"}),
    ("support", SUPPORT_LIST, {"as_of": "moment"}),
    ("support", SUPPORT_LIST, {"as_of": "moment", "status": "LOCKED"}),
    ("vendor", VENDOR_LIST, {}),
    ("vendor", VENDOR_LIST, {"status": "RUNNING"}),
    ("vendor", VENDOR_LIST, {"status": "LOCKED,RUNNING", "fell_back": "false"}),
    ("vendor", VENDOR_LIST, {"as_of": "moment"}),
]


def test_cursor_pages_are_the_numbered_pages_every_case_once_in_order(
    api: dict[str, Any],
) -> None:
    for role, path, given in LISTS:
        params = {k: api["moment"] if v == "moment" else v for k, v in given.items()}
        everything = _all(api[role], path, **params)
        assert everything, (role, params)
        assert len(set(everything)) == len(everything)
        for page_size in (1, 4, len(everything), len(everything) + 1):
            ids, numbers = _by_cursor(api[role], path, page_size, **params)
            assert ids == everything, (role, params, page_size)
            assert numbers == list(range(1, len(numbers) + 1))
            assert _by_page(api[role], path, page_size, **params) == everything


def test_cases_admitted_between_pages_neither_repeat_nor_shift_the_cursor_pages(
    api: dict[str, Any],
) -> None:
    before = _all(api["support"], SUPPORT_LIST)
    admitted: list[str] = []

    def admit_two(page: int) -> None:
        for _ in range(2):
            order = f"N-{len(admitted):03d}"
            api["intake"].post("/api/v1/cases", admit_body(order, VENDOR_ID), expect=201)
            admitted.append(order)

    assert _by_cursor(api["support"], SUPPORT_LIST, 4, admit_two)[0] == before
    # The new cases are at the top of the list, before every cursor.
    assert _all(api["support"], SUPPORT_LIST) == admitted[::-1] + before
    vendor_before = _all(api["vendor"], VENDOR_LIST)
    assert _by_cursor(api["vendor"], VENDOR_LIST, 3, admit_two)[0] == vendor_before


def test_a_cursor_never_shows_a_case_outside_the_callers_list(api: dict[str, Any]) -> None:
    own = _all(api["other"], VENDOR_LIST)
    assert own and {c.split("-")[0] for c in own} == {"K"}
    top = encode_cursor(Keyset(datetime.max.replace(tzinfo=UTC), 2**63 - 1), 2)
    body = api["other"].get(VENDOR_LIST, expect=200, page_size=500, after=top)
    assert [c["order_id"] for c in body["items"]] == own
    assert {c["user_id"] for c in body["items"]} == {OTHER_ID}
    # Support's cursor and another vendor's: this vendor's own cases after that point.
    for caller, path in (("support", SUPPORT_LIST), ("vendor", VENDOR_LIST)):
        first = api[caller].get(path, expect=200, page_size=2)
        body = api["other"].get(VENDOR_LIST, expect=200, page_size=500, after=first["next_after"])
        assert {c["user_id"] for c in body["items"]} <= {OTHER_ID}
        assert [c["order_id"] for c in body["items"]] == [
            o for o in own if o in [c["order_id"] for c in body["items"]]
        ]
    # A cursor made for one filter, sent with another: that filter's cases after the point.
    running = api["support"].get(SUPPORT_LIST, expect=200, page_size=1, status="RUNNING")
    body = api["support"].get(
        SUPPORT_LIST, expect=200, page_size=500, status="LOCKED", after=running["next_after"]
    )
    assert body["items"] and {c["status"] for c in body["items"]} == {"LOCKED"}


def test_with_a_cursor_page_is_ignored_and_the_answer_numbers_the_page(
    api: dict[str, Any],
) -> None:
    first = api["support"].get(SUPPORT_LIST, expect=200, page_size=3, page=4)
    assert first["page"] == 4
    one = api["support"].get(SUPPORT_LIST, expect=200, page_size=3, after=first["next_after"])
    two = api["support"].get(
        SUPPORT_LIST, expect=200, page_size=3, after=first["next_after"], page=1_000_000
    )
    assert one == two and one["page"] == 5
    fifth = api["support"].get(SUPPORT_LIST, expect=200, page_size=3, page=5)
    assert fifth["items"] == one["items"] and fifth["total"] == one["total"] == 30
    assert fifth["next_after"] == one["next_after"]


@pytest.mark.parametrize("role, path", [("support", SUPPORT_LIST), ("vendor", VENDOR_LIST)])
def test_anything_but_a_cursor_is_a_422_naming_after(
    api: dict[str, Any], role: str, path: str
) -> None:
    good = api[role].get(path, expect=200, page_size=1)["next_after"]
    for bad in ("", good[:-1], good + "A", good[:-2] + "==", good[:-1] + "+", "x" * 500):
        r = api[role].get(path, after=bad)
        assert r.status_code == 422, (bad, r.text)
        problem = r.json()
        assert problem["code"] == "validation_error"
        assert any(e["loc"][-1] == "after" for e in problem["errors"]), problem
