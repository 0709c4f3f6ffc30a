# ruff: noqa: E501  (the table of conditions reads best one case per line)
"""The eligibility engine and the default rule set: each condition green and red with its
observed value; rule files refused with file and line; the handover checks on the engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from debtcases.commands.orders import default_ruleset, load_ruleset_file, load_timeline
from debtcases.domain.debtor import Debtor, handover_errors
from debtcases.domain.eligibility import due_of, evaluate
from debtcases.domain.eligibility_checks import Context, day_start
from debtcases.domain.eligibility_ruleset import RuleSetError, Timeline, parse_ruleset
from debtcases.domain.order_facts import Failure, Reminder, ReminderKind
from tests.facts_builders import returned_debit, unpaid_invoice

CTX = Context()
LATE = datetime(2024, 12, 1, tzinfo=UTC)
RULES = default_ruleset()


def condition(facts, group: str, cid: str, now: datetime = LATE):  # type: ignore[no-untyped-def]
    result = evaluate(RULES, facts, now, CTX)
    g = next(g for g in result.groups if g.id == group)
    return next(c for c in g.conditions if c.id == cid)


# (group, condition id, green facts, red facts, observed when green, observed when red)
CASES = [
    ("ruecklastschrift", "dunning_enabled", returned_debit(), returned_debit(dunning_enabled=False), "ja", "nein"),
    ("ruecklastschrift", "not_refunded", returned_debit(), returned_debit(refunded_on=date(2024, 6, 2)), "—", "2024-06-02"),
    ("ruecklastschrift", "not_cancelled", returned_debit(), returned_debit(cancelled_on=date(2024, 6, 3)), "—", "2024-06-03"),
    ("ruecklastschrift", "open_amount", returned_debit(), returned_debit(amount=Decimal("0")), "49.90 EUR", "0.00 EUR"),
    ("ruecklastschrift", "debtor_name", returned_debit(), returned_debit(debtor=replace(returned_debit().debtor, name="")), "Erika Mustermann", "—"),
    ("ruecklastschrift", "debtor_street", returned_debit(), returned_debit(debtor=replace(returned_debit().debtor, street="Hauptstraße")), "Hauptstraße 5", "Hauptstraße"),
    ("ruecklastschrift", "debtor_postal_code", returned_debit(), returned_debit(debtor=replace(returned_debit().debtor, postal_code="123")), "10115", "123"),
    ("ruecklastschrift", "debtor_city", returned_debit(), returned_debit(debtor=replace(returned_debit().debtor, city=" ")), "Berlin", "—"),
    ("ruecklastschrift", "debtor_country", returned_debit(), returned_debit(debtor=replace(returned_debit().debtor, country="FR", postal_code="75001")), "DE", "FR"),
    ("ruecklastschrift", "payment_returned", returned_debit(), returned_debit(failure=Failure.UNPAID_INVOICE), "returned_direct_debit", "unpaid_invoice"),
    ("ruecklastschrift", "reminder_sent", returned_debit(), returned_debit(reminders=()), "1", "0"),
    ("ruecklastschrift", "grace_after_return", returned_debit(), returned_debit(failed_on=date(2024, 11, 25)), "2024-05-15", "2024-11-25"),
    ("ruecklastschrift", "grace_after_reminder", returned_debit(), returned_debit(reminders=(Reminder(ReminderKind.PAYMENT_REMINDER, date(2024, 11, 28)),)), "2024-05-20", "2024-11-28"),
    ("rechnung_raten", "invoice_unpaid", unpaid_invoice(), unpaid_invoice(failure=Failure.CHARGEBACK), "unpaid_invoice", "chargeback"),
    ("rechnung_raten", "mahnung_sent", unpaid_invoice(), unpaid_invoice(reminders=(Reminder(ReminderKind.PAYMENT_REMINDER, date(2024, 5, 20)),)), "1", "0"),
    ("rechnung_raten", "grace_after_due", unpaid_invoice(), unpaid_invoice(due_date=date(2024, 11, 20)), "2024-05-10", "2024-11-20"),
    ("rechnung_raten", "grace_after_mahnung", unpaid_invoice(), unpaid_invoice(reminders=(Reminder(ReminderKind.MAHNUNG, date(2024, 11, 25)),)), "2024-06-01", "2024-11-25"),
]  # fmt: skip


@pytest.mark.parametrize(("group", "cid", "green", "red", "seen_green", "seen_red"), CASES)
def test_each_default_condition_is_green_or_red_with_its_observed_value(
    group: str,
    cid: str,
    green,
    red,
    seen_green: str,
    seen_red: str,  # type: ignore[no-untyped-def]
) -> None:
    ok = condition(green, group, cid)
    bad = condition(red, group, cid)
    assert (ok.passed, ok.observed) == (True, seen_green)
    assert (bad.passed, bad.observed) == (False, seen_red)
    assert bad.message  # a red condition says why
    assert ok.label and ok.required


def test_every_default_condition_is_covered_by_a_green_and_red_case() -> None:
    # (the [[common]] conditions are the same in every group: covered once)
    covered = {c for _, c, *_ in CASES}
    every = {c.id for g in RULES.groups for c in g.conditions}
    assert every == covered


def test_a_time_condition_turns_green_at_midnight_berlin_of_date_plus_offset() -> None:
    facts = returned_debit()
    c = condition(facts, "ruecklastschrift", "grace_after_return", now=LATE)
    assert c.green_from == day_start(date(2024, 5, 29))
    assert c.green_from == datetime(2024, 5, 28, 22, 0, tzinfo=UTC)  # CEST
    before = condition(
        facts, "ruecklastschrift", "grace_after_return", c.green_from - timedelta(microseconds=1)
    )
    at = condition(facts, "ruecklastschrift", "grace_after_return", c.green_from)
    assert (before.passed, at.passed) == (False, True)


def test_the_due_date_is_the_latest_time_condition_of_the_first_met_group() -> None:
    due = due_of(Timeline.of([RULES]), returned_debit(), CTX)
    assert due is not None
    assert (due.group, due.ruleset_version) == ("ruecklastschrift", "2024.1")
    assert due.at == day_start(date(2024, 5, 29))  # failed + 14 beats reminder + 7 (05-27)
    assert due_of(Timeline.of([RULES]), returned_debit(dunning_enabled=False), CTX) is None


def test_a_new_rule_set_version_applies_from_its_activation_on(tmp_path: Path) -> None:
    text = Path(RULES.source).read_text() if Path(RULES.source).exists() else None
    src = (
        text
        or (Path(__file__).parents[2] / "src/debtcases/domain/rulesets/default.toml").read_text()
    )
    stricter = (
        src.replace('version = "2024.1"', 'version = "2024.2"')
        .replace(
            "active_from = 2024-01-01T00:00:00+01:00", "active_from = 2024-07-01T00:00:00+02:00"
        )
        .replace("offset_days = 14", "offset_days = 60")
    )
    v2 = parse_ruleset(stricter, "v2.toml")
    timeline = Timeline.of([RULES, v2])
    # Due under 2024.1 before 2024.2 took over: stays due by 2024.1.
    early = due_of(timeline, returned_debit(), CTX)
    assert early is not None and early.ruleset_version == "2024.1"
    # Returned on 2024-06-20: under 2024.1 due on 07-04, but 2024.2 applies from 07-01.
    late = due_of(timeline, returned_debit(failed_on=date(2024, 6, 20)), CTX)
    assert late is not None and late.ruleset_version == "2024.2"
    assert late.at == day_start(date(2024, 8, 19))


BROKEN = [
    ('version = "1"\nactive_from = 2024-01-01T00:00:00Z\n[[group]\n', 3, "not valid TOML"),
    ('version = "1"\nactive_from = 2024-01-01\n[[group]]\nid="a"\nlabel="A"\n', 2, "active_from"),
    (
        'version = "1"\nactive_from = 2024-01-01T00:00:00Z\n\n[[group]]\nid = "a"\nlabel = "A"\n'
        '  [[group.condition]]\n  id = "x"\n  label = "X"\n  check = "days_after"\n'
        '  fact = "paid_on"\n  offset_days = 3\n',
        11,
        "unknown fact 'paid_on'",
    ),
    (
        'version = "1"\nactive_from = 2024-01-01T00:00:00Z\n[[group]]\nid = "a"\nlabel = "A"\n'
        '  [[group.condition]]\n  id = "x"\n  label = "X"\n  check = "days_after"\n'
        '  fact = "failed_on"\n',
        6,
        "needs the parameter 'offset_days'",
    ),
    (
        'version = "1"\nactive_from = 2024-01-01T00:00:00Z\n[[group]]\nid = "a"\nlabel = "A"\n'
        '  [[group.condition]]\n  id = "x"\n  label = "X"\n  check = "flag"\n  fact = "dunning_enabled"\n'
        '  colour = "red"\n',
        11,
        "no parameter 'colour'",
    ),
    ('version = "1"\nactive_from = 2024-01-01T00:00:00Z\n', 1, "at least one [[group]]"),
]


@pytest.mark.parametrize(("text", "line", "what"), BROKEN)
def test_a_broken_rule_file_is_refused_with_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RuleSetError) as err:
        load_ruleset_file(path)
    assert err.value.line == line
    assert what in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_two_rule_files_with_one_version_are_refused(tmp_path: Path) -> None:
    src = (Path(__file__).parents[2] / "src/debtcases/domain/rulesets/default.toml").read_text()
    (tmp_path / "a.toml").write_text(src)
    (tmp_path / "b.toml").write_text(src.replace("2024-01-01T00", "2024-02-01T00"))
    with pytest.raises(RuleSetError, match="appears twice"):
        load_timeline([tmp_path / "a.toml", tmp_path / "b.toml"])


def test_the_handover_checks_run_on_the_same_engine() -> None:
    bad = Debtor("", "Musterweg", "123", "", "FR")
    assert handover_errors(bad, Decimal("0")) == [
        "Name des Kunden fehlt.",
        "Adresse ungültig: Hausnummer fehlt in der Straße 'Musterweg'.",
        "Land 'FR' wird von Diagonal nicht bedient (bedient: AT, CH, DE).",
        "Adresse ungültig: Postleitzahl '123' passt nicht zu FR.",
        "Ort fehlt.",
        "Offener Betrag muss größer als 0 sein (ist 0).",
    ]
    good = returned_debit().debtor
    assert handover_errors(good, Decimal("1")) == []
