"""The CSV export's fast path (``Views.export_rows`` + ``export_csv_rows``: tuples, the
times formatted by PostgreSQL) writes byte for byte the file the list items made before
(``iter_cases`` + the per-dict formatter, kept below as it was), on SQLite and PostgreSQL,
and both backends write the same bytes, over tricky data: quotes, line breaks, separators,
umlauts, control characters, formula prefixes, amounts, DST boundaries, blocked cases
(vendor statuses), handover errors, filters and ``as_of``."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debtcases.api.web.lists import as_vendor_sees
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.csvformat.export import EXPORT_HEADER, export_csv_rows
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from debtcases.domain.errors import DomainError
from debtcases.domain.statuses import Status
from debtcases.projections.cases_rows import CASE_COLUMNS
from debtcases.projections.queries import CaseFilter
from debtcases.projections.tables import CASES

SUPPORT = Actor.support("anna")
SYSTEM = Actor.system("intake")
VENDORS = (79424, 51234)

# ------------------------------------------------ the formatter as it was (7e4c8e5)

_BERLIN = ZoneInfo("Europe/Berlin")
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(_TRIGGERS) else cell


def _amount(amount: Any, sep: str) -> str:
    text = f"{Decimal(str(amount)):.2f}"
    return text.replace(".", ",") if sep == ";" else text


def _time(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(_BERLIN)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _cells(row: Mapping[str, Any], sep: str) -> list[str]:
    debtor = row.get("debtor") or {}
    status = Status(str(row["status"]))
    label = row.get("status_label") or status.label
    cells = [
        str(row["order_id"]),
        str(row["user_id"]),
        str(label),
        status.value,
        _amount(row["amount"], sep),
        str(row.get("currency") or ""),
        str(debtor.get("name", "")),
        str(debtor.get("street", "")),
        str(debtor.get("postal_code", "")),
        str(debtor.get("city", "")),
        str(debtor.get("country", "")),
        " | ".join(str(e) for e in row.get("errors") or ()),
        _time(row.get("created_at")),
        _time(row.get("updated_at")),
    ]
    return [_neutralise(c) for c in cells]


def reference_csv(rows: Iterable[Mapping[str, Any]], sep: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    buffer.write("\ufeff")
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        writer.writerow(_cells(row, sep))
    return buffer.getvalue().encode("utf-8")


# ------------------------------------------------------------------------ the data

TRICKY = (
    'Jana "JJ" Schäfer',
    "Müller; Söhne",
    "Zeile 1\nZeile 2",
    "Zeile 1\r\nZeile 2",
    '=HYPERLINK("http://x";"klick")',
    "+49 30 123",
    "-2+3",
    "@SUM(A1)",
    "\tTab vorn",
    "\rWagenrücklauf vorn",
    "Weiß, Groß & Co.",
    "'=schon neutral",
    "  Leerzeichen  ",
    "ÄÖÜäöüß€ — 東京",
)
# Moments around Europe/Berlin's DST switches (2024-03-31 01:00 UTC, 2024-10-27 01:00 UTC),
# the new year, and the last microsecond of a second (truncated, never rounded).
MOMENTS = (
    datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
    datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
    datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 30, 0, 500000, tzinfo=UTC),
    datetime(2024, 6, 15, 12, 0, 0, 1, tzinfo=UTC),
)
AMOUNTS = ("0.00", "0.01", "49.90", "1234567.89", "10", "999999999.99")


def _admission(i: int) -> Admission:
    text = TRICKY[i % len(TRICKY)]
    other = TRICKY[(i + 3) % len(TRICKY)]
    # Every other debtor is incomplete (no postal code): handing it over fails with errors.
    debtor = Debtor(text, other, "" if i % 2 else "10969", TRICKY[(i + 5) % len(TRICKY)], "DE")
    if i % 6 == 4:  # a debtor Diagonal takes (handed over), with a tricky name
        debtor = Debtor(text, "Lindenstraße 12", "10969", "Berlin", "DE")
    return Admission(
        f"T-{i:03d}", VENDORS[i % 2], Decimal(AMOUNTS[(i // 2) % len(AMOUNTS)]), "EUR", debtor
    )


def seed(container: Container) -> datetime:
    """Cases through the commands (blocked ones too, failed handovers with errors), then
    rows the commands could not make (control characters, formula order ids, a negative
    or unnormalised amount) written into the live table directly. Returns a moment in
    the middle of the history (for as_of)."""
    app = container.cases
    n = 2 * len(TRICKY)
    for i in range(n):
        app.admit(_admission(i), SYSTEM, now=MOMENTS[i % len(MOMENTS)] - timedelta(days=1))
    middle = MOMENTS[0] + timedelta(hours=12)
    steps: list[tuple[Callable[..., Any], str, Any, datetime]] = []
    for i in range(n):
        order_id = f"T-{i:03d}"
        now = MOMENTS[(i + 1) % len(MOMENTS)] + timedelta(minutes=i)
        if i % 3 != 2:
            steps.append((app.start_dunning, order_id, Actor.vendor(VENDORS[i % 2]), now))
        if i % 3 == 1:  # an incomplete debtor (odd i) fails with errors
            steps.append((app.hand_over, order_id, SUPPORT, now + timedelta(microseconds=1)))
        if i % 4 == 0:
            steps.append((app.block, order_id, SUPPORT, now + timedelta(seconds=1)))
    for command, order_id, actor, now in steps:
        reason = () if command == app.start_dunning else ("Händler unsicher",)
        try:
            command(order_id, actor, *reason, now=now)
        except DomainError:
            continue
    container.runner.catch_up()
    views: Any = container.views
    store = views.recorder
    [template] = [r for r in store.all_case_rows() if r["order_id"] == "T-000"]
    odd = [
        ("=1+2", "=cmd|' /C calc'!A0", "-5.00", "EUR", ["=Fehler", "zweiter"]),
        ("@x", "Steuer\x01zeichen\x7f", "49.9", "+EU", []),
        ("-minus", "Nul\x00Byte", "-0.00", "EUR", ["a|b", 'mit "Quote"; und\nZeile']),
    ]
    gen = store.live_generation(CASES)
    for k, (order_id, name, amount, currency, errors) in enumerate(odd):
        row = dict(template)
        moment = MOMENTS[k] + timedelta(days=40)
        row.update(
            case_id=f"00000000-0000-0000-0000-00000000000{k}",
            order_id=order_id,
            user_id=VENDORS[k % 2],
            debtor_name=name,
            amount=amount,
            currency=currency,
            errors=errors,
            created_at=moment,
            updated_at=moment + timedelta(seconds=k),
            vendor_updated_at=moment,
            position=10_000 + k,
        )
        with store.datastore.transaction(commit=True) as cur:
            cols = ", ".join(CASE_COLUMNS)
            marks = ", ".join(["%s"] * len(CASE_COLUMNS))
            sql = f"INSERT INTO view_cases_g{gen} ({cols}) VALUES ({marks})"
            cur.execute(store.dialect.q(sql), store._case_to_db(row))
    return middle


# ---------------------------------------------------------------------- the checks

# (name, role, vendor_id, filter, every_vendor, statuses_as_vendor, as_of: use the middle)
VARIANTS: tuple[tuple[str, Role, int | None, CaseFilter, bool, bool, bool], ...] = (
    ("support", Role.SUPPORT, None, CaseFilter(), False, False, False),
    (
        "support blocked",
        Role.SUPPORT,
        None,
        CaseFilter(statuses=(Status.BLOCKED,)),
        False,
        False,
        False,
    ),
    ("support one vendor", Role.SUPPORT, None, CaseFilter(user_id=VENDORS[1]), False, False, False),
    ("vendor", Role.VENDOR, VENDORS[0], CaseFilter(), False, False, False),
    (
        "vendor running",
        Role.VENDOR,
        VENDORS[0],
        CaseFilter(statuses=(Status.RUNNING,)),
        False,
        False,
        False,
    ),
    ("every vendor", Role.VENDOR, None, CaseFilter(), True, False, False),
    ("support, statuses as vendor", Role.SUPPORT, None, CaseFilter(), False, True, False),
    ("support as of", Role.SUPPORT, None, CaseFilter(), False, False, True),
    ("vendor as of", Role.VENDOR, VENDORS[1], CaseFilter(), False, False, True),
    ("every vendor as of", Role.VENDOR, None, CaseFilter(), True, False, True),
)


def _fast(container: Container, variant: tuple[Any, ...], sep: str, at: datetime) -> bytes:
    _, role, vendor, f, every, as_vendor, as_of = variant
    views: Any = container.views
    rows = views.export_rows(
        f,
        role,
        vendor,
        every_vendor=every,
        as_of=at if as_of else None,
        statuses_as_vendor=as_vendor,
    )
    return b"".join(export_csv_rows(rows, sep, chunk_bytes=512))


def _reference(container: Container, variant: tuple[Any, ...], sep: str, at: datetime) -> bytes:
    _, role, vendor, f, every, as_vendor, as_of = variant
    views: Any = container.views
    items: Iterator[dict[str, Any]] = views.iter_cases(
        f, role, vendor, every_vendor=every, as_of=at if as_of else None
    )
    if as_vendor:
        # Geändert am as each case's vendor sees it: from that vendor's own list.
        listed = list(items)
        seen: dict[str, Any] = {}
        for user_id in {int(i["user_id"]) for i in listed}:
            for own in views.iter_cases(
                CaseFilter(), Role.VENDOR, user_id, as_of=at if as_of else None
            ):
                seen[str(own["order_id"])] = own["updated_at"]
        items = ({**as_vendor_sees(i), "updated_at": seen[str(i["order_id"])]} for i in listed)
    return reference_csv(items, sep)


def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several keyset batches even for this small list."""
    import debtcases.projections.cases_export as module

    monkeypatch.setattr(module, "EXPORT_BATCH", 4)


@pytest.mark.parametrize("sep", [";", ","])
def test_the_fast_export_writes_the_bytes_the_list_items_wrote(
    database_url: str,
    make_container: Callable[..., Container],
    monkeypatch: pytest.MonkeyPatch,
    sep: str,
) -> None:
    _small_batches(monkeypatch)
    container = make_container(database_url)
    middle = seed(container)
    for variant in VARIANTS:
        want = _reference(container, variant, sep, middle)
        got = _fast(container, variant, sep, middle)
        assert got == want, variant[0]
        assert want.count(b"\r\n") > 1, variant[0]  # not vacuous: rows were exported
    everything = _fast(container, VARIANTS[0], sep, middle).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(everything, newline=""), delimiter=sep))
    statuses = {r[3] for r in rows[1:]}
    assert {"BLOCKED", "FAILED", "RUNNING", "HANDED_OVER", "LOCKED"} <= statuses
    assert any(r[11] for r in rows[1:]), "a failed handover's errors"
    # The tricky cells really are in the file: neutralised, quoted, DST-shifted.
    for expected in ("'=1+2", "'-5", "'@SUM(A1)", '"Jana ""JJ"" Schäfer"', "2024-03-30 01:59:59"):
        assert expected in everything, expected


def test_postgresql_and_sqlite_export_the_same_bytes(
    tmp_path: Any,
    pg_url: str,
    make_container: Callable[..., Container],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _small_batches(monkeypatch)
    sqlite = make_container(f"sqlite:///{tmp_path}/cases.sqlite")
    postgres = make_container(pg_url)
    middles = {seed(sqlite), seed(postgres)}
    [middle] = middles
    for variant in VARIANTS:
        for sep in (";", ","):
            on_sqlite = _fast(sqlite, variant, sep, middle)
            on_postgres = _fast(postgres, variant, sep, middle)
            # PostgreSQL's text has no NUL: the view stores U+FFFD there instead.
            assert on_sqlite.replace(b"\x00", "\ufffd".encode()) == on_postgres, variant[0]


def test_an_abandoned_export_stops_reading_ahead(
    pg_url: str, make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads the next batch in a thread meanwhile: a download given up stops
    it (and returns its connection), however many rows were left."""
    import threading
    import time

    _small_batches(monkeypatch)
    container = make_container(pg_url)
    seed(container)
    views: Any = container.views
    reading = lambda: [t for t in threading.enumerate() if t.name == "csv-export-read-ahead"]  # noqa: E731
    assert not reading()
    rows = views.export_rows(CaseFilter(), Role.SUPPORT, None)
    next(rows)
    assert reading(), "the next batch is being read"
    rows.close()
    deadline = time.monotonic() + 10
    while reading() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not reading()


_TEXT = st.text(
    st.one_of(
        st.sampled_from(list(";,\"\r\n\t=+-@' |[]\\{}ÄöüßЖ東😀\x01\x1f\x7f\u2028")),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=12,
)
_ROWS = st.lists(
    st.tuples(
        st.lists(_TEXT, min_size=7, max_size=7),  # order id, currency, the debtor's five
        st.one_of(st.sampled_from(AMOUNTS), st.decimals(-(10**6), 10**6, places=2).map(str)),
        st.lists(_TEXT, max_size=3),  # handover errors
        st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
        st.integers(-5, 2**40),  # user id
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_any_text_and_any_moment_export_as_the_list_items_did(
    backend: str,
    tmp_path: Any,
    request: pytest.FixtureRequest,
    make_container: Callable[..., Container],
) -> None:
    """Property: whatever text the cells hold (separators, quotes, line breaks, formula
    characters, control characters, any script) and whenever the case changed (1900-2100,
    both sides of every DST switch), the fast path writes the bytes the list items did,
    on SQLite and on PostgreSQL (which formats the times itself)."""
    url = (
        f"sqlite:///{tmp_path}/cases.sqlite"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    container = make_container(url)
    store: Any = container.views.recorder  # type: ignore[union-attr]
    gen = store.live_generation(CASES)
    support = VARIANTS[0]
    vendor = next(v for v in VARIANTS if v[0] == "every vendor")

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=_ROWS)
    def check(rows: list[tuple[list[str], str, list[str], datetime, int]]) -> None:
        with store.datastore.transaction(commit=True) as cur:
            cur.execute(f"DELETE FROM view_cases_g{gen}")
            for k, (texts, amount, errors, moment, user_id) in enumerate(rows):
                row = _row(k, texts, amount, errors, moment, user_id)
                cols = ", ".join(CASE_COLUMNS)
                marks = ", ".join(["%s"] * len(CASE_COLUMNS))
                sql = f"INSERT INTO view_cases_g{gen} ({cols}) VALUES ({marks})"
                cur.execute(store.dialect.q(sql), store._case_to_db(row))
        for variant in (support, vendor):
            for sep in (";", ","):
                want = _reference(container, variant, sep, datetime.now(UTC))
                assert want.count(b"\r\n") > len(rows)  # not vacuous: every row is there
                assert _fast(container, variant, sep, datetime.now(UTC)) == want

    check()


def _row(
    k: int, texts: list[str], amount: str, errors: list[str], moment: datetime, user_id: int
) -> dict[str, Any]:
    order_id, currency, name, street, postal_code, city, country = texts
    return {
        **dict.fromkeys(CASE_COLUMNS),
        "case_id": str(uuid.UUID(int=k)),
        "order_id": f"{order_id}{k}",  # unique
        "user_id": user_id,
        "status": ("LOCKED", "BLOCKED", "FAILED")[k % 3],
        "status_before_block": "RUNNING" if k % 3 == 1 else None,
        "vendor_status": "LOCKED",
        "amount": amount,
        "currency": currency,
        "debtor_name": name,
        "debtor_street": street,
        "debtor_postal_code": postal_code,
        "debtor_city": city,
        "debtor_country": country,
        "errors": errors,
        "created_at": moment,
        "updated_at": moment + timedelta(seconds=k),
        "entered_month": "2024-01",
        "last_event": "Locked",
        "last_actor_role": "system",
        "last_actor_id": "t",
        "last_reason": "",
        "at_diagonal": False,
        "awaiting_diagonal_close": False,
        "fell_back": False,
        "version": 1,
        "position": k,
        "in_repair": False,
        "vendor_version": 1,
        "vendor_updated_at": moment,
    }
