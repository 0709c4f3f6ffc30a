"""The two tabs in a real Chromium against a real `debtcases serve`."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Server, dumps, row, serious_violations, shoot, sign_in


def _orders_on_screen(page: Any) -> list[str]:
    return page.locator("tbody tr[data-order]").evaluate_all(
        "rows => rows.map(r => r.dataset.order)"
    )


def test_a_vendor_signs_in_sees_only_their_cases_presses_play_and_sees_laufend(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "79424")
    expect(page).to_have_url(re.compile(r"/inkasso-beta$"))
    expect(page.get_by_role("heading", name="Inkasso-Beta")).to_be_visible()
    assert sorted(_orders_on_screen(page)) == ["B-2024-000123", "B-2024-000124"]
    case = row(page, "B-2024-000123")
    expect(case.locator(".status")).to_have_text("Gesperrt")
    case.get_by_role("button", name=re.compile("Play")).click()
    expect(row(page, "B-2024-000123").locator(".status")).to_have_text("Laufend")
    expect(row(page, "B-2024-000123").get_by_role("button", name=re.compile("Play"))).to_have_count(
        0
    )
    expect(row(page, "B-2024-000124").locator(".status")).to_have_text("Gesperrt")


def _act(page: Any, order_id: str, action: str, reason: str, **fields: str) -> None:
    case = row(page, order_id)
    case.locator("summary", has_text="Aktionen").click()
    case.get_by_role("link", name=action).click()
    dialog = page.locator("#fragment-dialog")
    expect(dialog).to_be_visible()
    for label, value in fields.items():
        dialog.get_by_label(label, exact=True).fill(value)
    dialog.get_by_label(re.compile("^Grund")).fill(reason)
    dialog.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_support_repairs_a_failed_case_end_to_end_and_the_history_lists_each_step(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "support")
    expect(page).to_have_url(re.compile(r"/schulden$"))
    page.get_by_label("Suche: Bestell-ID oder User-ID").fill("B-2024-000201")
    page.get_by_role("button", name="Suchen").click()
    case = row(page, "B-2024-000201")
    expect(case.locator(".status")).to_have_text("Failed")

    # The "!" popup shows why the handover failed.
    case.get_by_role("button", name="Fehlermeldung zu B-2024-000201 anzeigen").click()
    errors = page.locator("dialog[open]")
    expect(errors).to_contain_text("Hausnummer fehlt")
    errors.get_by_role("button", name="Schließen").click()
    expect(errors).to_have_count(0)

    # Address correction, the current address pre-filled.
    case.locator("summary", has_text="Aktionen").click()
    case.get_by_role("link", name="Adresse korrigieren").click()
    dialog = page.locator("#fragment-dialog")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("Tobias Weiß")
    expect(dialog.get_by_label("Straße und Hausnummer")).to_have_value("Musterweg")
    page.keyboard.press("Escape")
    expect(page.locator("#fragment-dialog")).to_be_hidden()
    _act(
        page,
        "B-2024-000201",
        "Adresse korrigieren",
        "Händler hat die richtige Adresse geliefert",
        **{"Straße und Hausnummer": "Musterweg 5", "PLZ": "50667"},
    )
    expect(page.locator(".flash")).to_contain_text("keine Fehlermeldung mehr")

    _act(page, "B-2024-000201", "Laufend setzen", "Reparatur Schritt 1")
    expect(page.locator(".flash")).to_contain_text("Schritt 1 von 2")
    expect(row(page, "B-2024-000201").locator(".status")).to_have_text("Laufend")

    _act(page, "B-2024-000201", "Ans Inkasso übergeben", "Reparatur Schritt 2")
    case = row(page, "B-2024-000201")
    expect(case.locator(".status")).to_have_text("Ans Inkasso übergeben")
    expect(case.locator(".bang-btn")).to_have_count(0)

    case.get_by_role("link", name="Verlauf von B-2024-000201").click()
    history = page.locator("#fragment-dialog")
    expect(history).to_contain_text("Änderungsverlauf B-2024-000201")
    steps = history.locator(".timeline li")
    texts = steps.all_inner_texts()
    assert any("Adresse korrigiert" in t and "Händler hat die richtige Adresse" in t for t in texts)
    assert any(
        "Mahnprozess gestartet" in t and "Failed → Laufend" in t and "Reparatur Schritt 1" in t
        for t in texts
    ), dumps(texts)
    assert any(
        "Ans Inkasso übergeben" in t
        and "Laufend → Ans Inkasso übergeben" in t
        and "Reparatur Schritt 2" in t
        and "Support (demo-support)" in t
        for t in texts
    ), dumps(texts)


def test_support_searches_by_user_id_filters_and_exports_exactly_the_rows_on_screen(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "support")
    page.get_by_label("Suche: Bestell-ID oder User-ID").fill("  51234 ")
    for label in ("Laufend", "Failed", "Ans Inkasso übergeben"):
        page.get_by_role("checkbox", name=re.compile(f"^{label} \\(")).check()
    page.get_by_label("Periode").select_option(label="Alle Perioden")
    page.get_by_role("button", name="Suchen").click()
    expect(page.locator(".matched")).to_contain_text("User-ID 51234")

    # Two per page, so the list has several pages; collect them all.
    page.goto(page.url.replace("groesse=25", "groesse=2"))
    on_screen: list[str] = []
    while True:
        on_screen += _orders_on_screen(page)
        following = page.get_by_role("link", name="Weiter ›")  # noqa: RUF001
        if following.count() == 0:
            break
        following.click()
        page.wait_for_load_state()
    assert len(on_screen) >= 3, on_screen

    with page.expect_download() as info:
        page.get_by_role("button", name="CSV exportieren").click()
    data = info.value.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Bestell-ID"
    assert [r[0] for r in rows[1:]] == on_screen
    assert {r[1] for r in rows[1:]} == {"51234"}

    # An order ID in lower case, with spaces around it.
    page.goto(f"{server.base}/schulden")
    page.get_by_label("Suche: Bestell-ID oder User-ID").fill(" b-2024-000124 ")
    page.get_by_role("button", name="Suchen").click()
    expect(page.locator(".matched")).to_contain_text("Bestell-ID B-2024-000124")
    assert _orders_on_screen(page) == ["B-2024-000124"]


def _check_order(page: Any, order_id: str) -> Any:
    """Type ``order_id`` into the open eligibility dialog and return the dialog."""
    dialog = page.locator("#fragment-dialog")
    dialog.get_by_role("textbox", name="Bestell-ID").fill(order_id)
    dialog.get_by_role("button", name="Prüfen").click()
    expect(dialog.locator("[data-verdict]")).to_be_visible()
    return dialog


def _conditions(dialog: Any, colour: str) -> list[str]:
    return dialog.locator(f".conditions li.{colour} .label").all_inner_texts()


# Runs before the manual-admission test below, which admits B-2024-000501 (one shared server).
def test_the_eligibility_dialog_explains_each_verdict_with_red_and_green_conditions(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "support")
    page.get_by_role("link", name="Warum nicht im Mahnwesen?").click()

    # eligible_on: green and red conditions, the due date in the verdict and as Fälligkeitsdatum.
    dialog = _check_order(page, "B-2024-000500")
    verdict = dialog.locator("[data-verdict]")
    expect(verdict).to_have_attribute("data-verdict", "eligible_on")
    expect(verdict).to_contain_text(re.compile(r"Kommt am \d{2}\.\d{2}\.\d{4} ins Mahnwesen"))
    day = re.search(r"\d{2}\.\d{2}\.\d{4}", verdict.inner_text())
    assert day is not None
    due = dialog.locator(".facts div", has_text="Fälligkeitsdatum")
    expect(due).to_contain_text(day[0])
    expect(dialog.locator(".facts")).to_contain_text("Regelwerk")
    expect(dialog.locator(".facts")).to_contain_text("2024.1")
    expect(dialog.locator(".facts div", has_text="Nächster Schritt")).to_contain_text(
        "Automatische Aufnahme"
    )
    green, red = _conditions(dialog, "green"), _conditions(dialog, "red")
    assert "Mahnwesen beim Vendor aktiviert" in green, dumps(green)
    assert "14 Tage seit der Rücklastschrift vergangen" in red, dumps(red)
    # Not colour alone: every point says in words whether it is met, and shows its values.
    first_red = dialog.locator(".conditions li.red", has_text="14 Tage seit der Rücklastschrift")
    expect(first_red.first).to_contain_text("Nicht erfüllt")
    expect(first_red.first).to_contain_text("beobachtet:")
    expect(first_red.first).to_contain_text("verlangt:")
    expect(first_red.first).to_contain_text("grün ab")
    problems = serious_violations(page)
    assert not problems, dumps(problems)

    # not_eligible: the red conditions that block, per group.
    dialog = _check_order(page, "B-2024-000501")
    verdict = dialog.locator("[data-verdict]")
    expect(verdict).to_have_attribute("data-verdict", "not_eligible")
    expect(verdict).to_contain_text("Nicht im Mahnwesen")
    expect(verdict.locator(".blocking li")).to_have_count(2)
    expect(verdict.locator(".blocking li").first).to_contain_text("Mahnwesen beim Vendor aktiviert")
    blocked = dialog.locator(".conditions li.red", has_text="Mahnwesen beim Vendor aktiviert")
    expect(blocked.first).to_contain_text("beobachtet: nein")
    expect(dialog.get_by_role("button", name="Von Hand aufnehmen")).to_be_visible()
    problems = serious_violations(page)
    assert not problems, dumps(problems)

    # unknown_order
    dialog = _check_order(page, "B-2024-999999")
    expect(dialog.locator("[data-verdict]")).to_contain_text("Unbekannte Bestellung")
    expect(dialog.locator(".conditions li")).to_have_count(0)
    expect(dialog.get_by_role("button", name="Von Hand aufnehmen")).to_have_count(0)

    # A malformed id: the error next to the field, the input kept.
    dialog.get_by_role("textbox", name="Bestell-ID").fill("B 2024 ?")
    dialog.get_by_role("button", name="Prüfen").click()
    expect(dialog.locator("#bestell-id-error")).to_contain_text("gültige Bestell-ID")
    expect(dialog.get_by_role("textbox", name="Bestell-ID")).to_have_value("B 2024 ?")


def test_support_admits_an_order_by_hand_from_the_dialog_and_it_lists_who_and_why(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "support")
    page.get_by_role("link", name="Warum nicht im Mahnwesen?").click()
    dialog = _check_order(page, "B-2024-000501")
    expect(dialog.locator("[data-verdict]")).to_have_attribute("data-verdict", "not_eligible")

    # Without a reason: refused, the error next to the field, nothing admitted.
    dialog.get_by_role("button", name="Von Hand aufnehmen").click()
    expect(dialog.locator("#grund-error")).to_contain_text("Bitte einen Grund angeben")
    expect(dialog.get_by_label(re.compile("^Grund"))).to_be_focused()
    expect(dialog.locator("[data-verdict]")).to_have_attribute("data-verdict", "not_eligible")

    reason = "Vendor bestätigt: Mahnwesen gewünscht, Schalter folgt"
    dialog.get_by_label(re.compile("^Grund")).fill(reason)
    dialog.get_by_role("button", name="Von Hand aufnehmen").click()
    verdict = dialog.locator("[data-verdict]")
    expect(verdict).to_have_attribute("data-verdict", "in_dunning")
    expect(dialog).to_contain_text("von Hand ins Mahnwesen aufgenommen")
    expect(verdict).to_contain_text("Im Mahnwesen (Status „Gesperrt“)")
    expect(verdict).to_contain_text("Von Hand aufgenommen von Support (demo-support)")
    expect(verdict).to_contain_text(reason)
    expect(dialog.get_by_role("button", name="Von Hand aufnehmen")).to_have_count(0)

    # Asked again later, the dialog still says who admitted it and why.
    dialog = _check_order(page, "B-2024-000501")
    expect(dialog.locator("[data-verdict]")).to_contain_text(reason)

    # The case exists (Gesperrt), and the worklist lists it under "Von Hand aufgenommen".
    page.goto(f"{server.base}/schulden?q=B-2024-000501")
    expect(row(page, "B-2024-000501").locator(".status")).to_have_text("Gesperrt")
    page.goto(f"{server.base}/schulden/arbeitsliste")
    manual = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Von Hand")))
    expect(manual).to_contain_text("B-2024-000501")
    expect(manual).to_contain_text("B-2024-000505")


def test_a_repair_step_the_case_already_reached_is_a_calm_note_not_an_error(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "support")
    page.goto(f"{server.base}/schulden/faelle/B-2024-000203/uebergeben")
    page.get_by_label(re.compile("^Grund")).fill("Reparatur Schritt 2")
    # Meanwhile the case reaches "Ans Inkasso übergeben" (as when Diagonal was faster).
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        sign_in(second, server, "support")
        second.goto(f"{server.base}/schulden/faelle/B-2024-000203/uebergeben")
        second.get_by_label(re.compile("^Grund")).fill("Diagonal hat bestätigt")
        second.get_by_role("button", name="Ans Inkasso übergeben").click()
        second.wait_for_load_state()
    finally:
        other.close()
    page.get_by_role("button", name="Ans Inkasso übergeben").click()
    note = page.locator(".flash")
    expect(note).to_contain_text(
        "B-2024-000203: Der Fall ist bereits „Ans Inkasso übergeben“ – nichts geändert."  # noqa: RUF001
    )
    expect(note).to_contain_text("durch Support (demo-support)")
    expect(note).to_contain_text("Ihr Grund wurde nicht gespeichert")
    expect(note).to_have_class(re.compile("flash-info"))
    assert page.get_by_role("alert").count() == 0


def test_a_vendor_never_sees_blockiert_and_gets_403_on_every_support_page_and_action(
    page: Any, server: Server
) -> None:
    server.tokens["66001"] = server.key("--role", "vendor", "--user-id", "66001")
    sign_in(page, server, "66001")
    expect(page).to_have_url(re.compile(r"/inkasso-beta$"))
    # B-2024-000300 is blocked: the vendor sees the status before the block.
    expect(row(page, "B-2024-000300").locator(".status")).to_have_text("Gesperrt")
    assert "Blockiert" not in page.content()
    assert page.get_by_role("checkbox", name=re.compile("^Blockiert")).count() == 0
    row(page, "B-2024-000300").get_by_role("link", name="Verlauf von B-2024-000300").click()
    expect(page.locator("#fragment-dialog")).to_contain_text("Änderungsverlauf")
    assert "Blockiert" not in page.locator("#fragment-dialog").inner_text()
    page.keyboard.press("Escape")
    expect(page.locator("#fragment-dialog")).to_be_hidden()
    with page.expect_download() as info:
        page.get_by_role("button", name="CSV exportieren").click()
    assert "Blockiert" not in info.value.path().read_text(encoding="utf-8-sig")
    assert "BLOCKED" not in info.value.path().read_text(encoding="utf-8-sig")

    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    for path in (
        "/schulden",
        "/schulden?q=51234",
        "/schulden/export.csv",
        "/schulden/pruefung?bestell_id=B-2024-000201",
        "/schulden/arbeitsliste",
        "/schulden/import",
        "/schulden/faelle/B-2024-000201/verlauf",
        "/schulden/faelle/B-2024-000300/freigeben",
    ):
        answer = page.request.get(server.base + path)
        assert answer.status == 403, path
        assert "B-2024-0002" not in answer.text(), path
    for slug in ("starten", "uebergeben", "adresse", "blockieren", "freigeben", "bezahlt"):
        answer = page.request.post(
            f"{server.base}/schulden/faelle/B-2024-000300/{slug}",
            form={"csrf": csrf or "", "version": "1", "reason": "x", "reference": "y"},
        )
        assert answer.status == 403, slug
    answer = page.request.post(
        f"{server.base}/schulden/import/anwenden", form={"csrf": csrf or "", "pending": "x"}
    )
    assert answer.status == 403
    page.reload()
    expect(row(page, "B-2024-000300").locator(".status")).to_have_text("Gesperrt")


def test_a_form_without_its_csrf_token_is_refused_and_the_session_cookie_has_its_flags(
    page: Any, context: Any, server: Server
) -> None:
    sign_in(page, server, "support")
    cookie = next(c for c in context.cookies() if c["name"] == "debtcases_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http here; over TLS see below
    for form in ({"version": "1", "reason": "ohne Token"}, {"csrf": "falsch", "reason": "x"}):
        answer = page.request.post(
            f"{server.base}/schulden/faelle/B-2024-000124/blockieren", form=form
        )
        assert answer.status == 403
        assert "Sicherheitsprüfung" in answer.text()
    page.goto(f"{server.base}/schulden?q=B-2024-000124")
    expect(row(page, "B-2024-000124").locator(".status")).to_have_text("Gesperrt")

    # Behind a TLS-terminating proxy (X-Forwarded-Proto from a trusted address) the cookie
    # is Secure.
    tls = httpx.get(f"{server.base}/anmelden", headers={"X-Forwarded-Proto": "https"})
    set_cookie = tls.headers["set-cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie
    assert "samesite=strict" in set_cookie.lower()

    # Signing out ends the session.
    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(re.compile(r"/anmelden$"))
    page.goto(f"{server.base}/schulden")
    expect(page).to_have_url(re.compile(r"/anmelden\?weiter="))


def test_a_stale_form_is_refused_and_shows_the_current_state(page: Any, server: Server) -> None:
    sign_in(page, server, "support")
    page.goto(f"{server.base}/schulden/faelle/B-2024-000124/blockieren")
    page.get_by_label(re.compile("^Grund")).fill("Händler ist unsicher")
    # Meanwhile someone else starts dunning (a second session). (Had they blocked it too,
    # the case would already be what this form asks for: a calm note, see below.)
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        sign_in(second, server, "support")
        second.goto(f"{server.base}/schulden/faelle/B-2024-000124/starten")
        second.get_by_label(re.compile("^Grund")).fill("Kollege war schneller")
        second.get_by_role("button", name="Mahnprozess starten (Laufend)").click()
        second.wait_for_load_state()
    finally:
        other.close()
    page.get_by_role("button", name="Blockieren").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("inzwischen von jemand anderem geändert")
    expect(alert).to_contain_text("Laufend")
    expect(alert).to_contain_text("Mahnprozess gestartet durch Support (demo-support)")
    # Nothing was blocked; the form is shown again with what the user typed, to decide anew.
    expect(page.get_by_label(re.compile("^Grund"))).to_have_value("Händler ist unsicher")


def test_every_page_has_no_serious_accessibility_violation_and_is_screenshotted(
    browser: Any, server: Server
) -> None:
    support_pages = {
        "anmelden": "/anmelden",
        "schulden": "/schulden",
        "schulden-haendler": "/schulden?q=51234",
        "pruefung": "/schulden/pruefung?bestell_id=B-2024-000500",
        "arbeitsliste": "/schulden/arbeitsliste",
        "import": "/schulden/import",
        "aktion-adresse": "/schulden/faelle/B-2024-000203/adresse",
        "verlauf": "/schulden/faelle/B-2024-000202/verlauf",
        "schulden-sperren": "/schulden?status=BLOCKED&endet_in=30",
        "aktion-blockieren": "/schulden/faelle/B-2024-000124/blockieren",
        "aktion-wieder-oeffnen": "/schulden/faelle/B-2024-000301/wieder-oeffnen",
        "verlauf-sperre": "/schulden/faelle/B-2024-000302/verlauf",
        "verlauf-korrektur": "/schulden/faelle/B-2024-000303/verlauf",
    }
    vendor_pages = {
        "inkasso-beta": "/inkasso-beta",
        "inkasso-verlauf": "/inkasso-beta/faelle/B-2024-000200/verlauf",
        "inkasso-kuendigen": "/inkasso-beta/faelle/B-2024-000200/kuendigen",
    }
    problems: dict[str, Any] = {}
    for who, pages in (("support", support_pages), ("51234", vendor_pages)):
        ctx = browser.new_context(bypass_csp=True, locale="de-DE")
        try:
            page = ctx.new_page()
            if who == "support":
                page.goto(server.base + "/anmelden")
                shoot(page, "anmelden")
                assert not serious_violations(page)
            sign_in(page, server, who)
            for name, path in pages.items():
                if name == "anmelden":
                    continue
                page.goto(server.base + path)
                for width in (1280, 390):
                    page.set_viewport_size({"width": width, "height": 900})
                    found = serious_violations(page)
                    if found:
                        problems[f"{name}@{width}"] = found
                shoot(page, name)
            if who == "support":
                page.goto(server.base + "/schulden?q=51234")
                row(page, "B-2024-000203").locator("summary", has_text="Aktionen").click()
                row(page, "B-2024-000203").get_by_role("link", name="Adresse korrigieren").click()
                expect(page.locator("#fragment-dialog")).to_be_visible()
                found = serious_violations(page)
                if found:
                    problems["dialog-adresse"] = found
                shoot(page, "dialog-adresse")
                page.keyboard.press("Escape")
                expect(page.locator("#fragment-dialog")).to_be_hidden()
                page.get_by_role("link", name="Warum nicht im Mahnwesen?").click()
                dialog = page.locator("#fragment-dialog")
                dialog.get_by_role("textbox", name="Bestell-ID").fill("B-2024-000502")
                dialog.get_by_role("button", name="Prüfen").click()
                expect(dialog.locator("[data-verdict]")).to_be_visible()
                found = serious_violations(page)
                if found:
                    problems["dialog-pruefung"] = found
                shoot(page, "dialog-pruefung")
        finally:
            ctx.close()
    assert not problems, dumps(problems)


def test_swagger_ui_is_served_from_our_own_files(page: Any, server: Server) -> None:
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server.base) else None,
    )
    page.goto(f"{server.base}/docs")
    expect(page.locator(".swagger-ui .title").first).to_contain_text("debtcases")
    assert outside == []
