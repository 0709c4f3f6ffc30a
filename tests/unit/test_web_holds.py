"""The web UI's hold and correction forms, in process (the browser tests drive the same
pages in Chromium): the form's rules checked server-side, the hold reaching the domain as
typed, and a correction outside the window refused with a sentence."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.api.web import actions as act
from debtcases.bootstrap import Container
from debtcases.domain.actors import Role
from debtcases.domain.holds import Hold, HoldReason
from debtcases.domain.statuses import Status
from tests.builders import INTAKE, SUPPORT, admission

TODAY = date(2024, 6, 3)
BLOCK = act.BY_SLUG["blockieren"]


def _form(**values: str) -> dict[str, str]:
    return {"reason": "Grund", **values}


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({}, {"code"}),
        ({"code": "nonsense"}, {"code"}),
        ({"code": "dispute"}, set()),
        ({"code": "dispute", "until": "2024-06-04"}, set()),
        ({"code": "dispute", "until": "04.06.2024"}, set()),
        ({"code": "dispute", "until": "2024-06-03"}, {"until"}),  # today: already over
        ({"code": "dispute", "until": "3. Juni"}, {"until"}),
        ({"code": "other", "promised_amount": "5"}, {"promised_amount"}),
        ({"code": "promise_to_pay"}, {"promised_amount", "promised_date"}),
        (
            {"code": "promise_to_pay", "promised_amount": "0", "promised_date": "2024-06-03"},
            {"promised_amount"},
        ),
        (
            {"code": "promise_to_pay", "promised_amount": "1,234", "promised_date": "2024-06-03"},
            {"promised_amount"},
        ),
        (
            {"code": "promise_to_pay", "promised_amount": "49,90", "promised_date": "2024-06-02"},
            {"promised_date"},
        ),
        (
            {"code": "promise_to_pay", "promised_amount": "49,90", "promised_date": "2024-06-03"},
            set(),
        ),
        (
            {
                "code": "promise_to_pay",
                "promised_amount": "1",
                "promised_date": "2024-06-09",
                "until": "2024-06-09",
            },
            {"until"},
        ),
    ],
)
def test_the_block_form_is_checked_field_by_field(values: dict[str, str], errors: set[str]) -> None:
    assert set(act.validate(BLOCK, _form(**values), TODAY)) == errors


def test_the_form_becomes_the_hold_the_api_would_record() -> None:
    promise = act.hold_from_form(
        {"code": "promise_to_pay", "promised_amount": "1.234,50", "promised_date": "09.06.2024"}
    )
    assert promise == Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("1234.50"), date(2024, 6, 9))
    assert act.hold_from_form({"code": "legal_check", "until": ""}) == Hold(HoldReason.LEGAL_CHECK)
    assert act.hold_from_form({"code": "dispute", "until": "2024-07-01"}).until == date(2024, 7, 1)


def _signed_in(container: Container) -> tuple[TestClient, str]:
    client = TestClient(create_app(container))
    page = client.get("/anmelden").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    token = container.keys.create(Role.SUPPORT, name="anna")
    answer = client.post(
        "/anmelden", data={"csrf": csrf[1], "token": token}, follow_redirects=False
    )
    assert answer.status_code in (302, 303), answer.text
    page = client.get("/schulden").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    return client, csrf[1]


def test_a_correction_after_the_window_is_refused_with_a_sentence_before_and_on_submit(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    long_ago = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
    c.cases.admit(admission("B-1"), INTAKE, long_ago)
    c.cases.cancel("B-1", SUPPORT, "storniert", now=long_ago)
    client, csrf = _signed_in(c)
    form = client.get("/schulden/faelle/B-1/wieder-oeffnen")
    assert form.status_code == 200
    assert "Die Korrekturfrist ist abgelaufen" in form.text
    assert 'name="reason"' not in form.text  # no form to fill in vain
    # Submitted anyway (an old form): the 409 is a sentence, nothing changes.
    version = c.cases.get_case("B-1", SUPPORT).state.version
    answer = client.post(
        "/schulden/faelle/B-1/wieder-oeffnen",
        data={"csrf": csrf, "version": str(version), "reason": "Irrtum"},
    )
    assert answer.status_code == 409
    assert "Korrekturfrist ist abgelaufen" in answer.text
    assert "Nichts wurde geändert" in answer.text
    assert c.cases.get_case("B-1", SUPPORT).status is Status.CANCELLED


def test_a_correction_within_the_window_and_a_hold_from_the_form_reach_the_domain(
    make_container: Callable[..., Container],
) -> None:
    c = make_container()
    c.cases.admit(admission("B-1"), INTAKE)
    c.cases.admit(admission("B-2"), INTAKE)
    c.cases.mark_paid("B-1", SUPPORT, "Zahlung", "ZV-1")
    client, csrf = _signed_in(c)
    form = client.get("/schulden/faelle/B-1/wieder-oeffnen").text
    assert "Korrektur möglich bis" in form
    version = c.cases.get_case("B-1", SUPPORT).state.version
    answer = client.post(
        "/schulden/faelle/B-1/wieder-oeffnen",
        data={"csrf": csrf, "version": str(version), "reason": ""},
    )
    assert answer.status_code == 422 and "Bitte einen Grund angeben" in answer.text
    client.post(
        "/schulden/faelle/B-1/wieder-oeffnen",
        data={"csrf": csrf, "version": str(version), "reason": "Falscher Fall"},
    )
    assert c.cases.get_case("B-1", SUPPORT).status is Status.LOCKED

    promised = (c.clock() + timedelta(days=3)).date()
    client.post(
        "/schulden/faelle/B-2/blockieren",
        data={
            "csrf": csrf,
            "version": "1",
            "reason": "Zusage am Telefon",
            "code": "promise_to_pay",
            "promised_amount": "49,90",
            "promised_date": promised.strftime("%d.%m.%Y"),
        },
    )
    state = c.cases.get_case("B-2", SUPPORT).state
    assert state.status is Status.BLOCKED
    assert state.hold == Hold(HoldReason.PROMISE_TO_PAY, None, Decimal("49.90"), promised)
    listed = client.get("/schulden", params={"sperre": "promise_to_pay"}).text
    assert 'data-order="B-2"' in listed and 'data-order="B-1"' not in listed
    assert "Zahlungszusage: 49,90" in listed
    assert client.get("/schulden", params={"sperre": "nonsense"}).status_code == 200
    assert "Unbekannter Sperrgrund" in client.get("/schulden", params={"sperre": "x"}).text
