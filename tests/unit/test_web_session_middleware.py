"""The web pages' session middleware (pure ASGI): a page without a session gets one as a
cookie, a page with one keeps it, every page gets the security headers, and the API and
service paths get neither."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.api.web.session import COOKIE_NAME
from debtcases.bootstrap import Container


def _client(make_container: Callable[..., Container]) -> TestClient:
    return TestClient(create_app(make_container()))


def test_a_page_without_a_session_gets_one_and_the_security_headers(
    make_container: Callable[..., Container],
) -> None:
    client = _client(make_container)
    page = client.get("/anmelden")
    assert page.status_code == 200
    assert COOKIE_NAME in page.cookies
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=strict" in page.headers["set-cookie"]
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cache-Control"] == "no-store"


def test_a_page_with_its_session_keeps_it(make_container: Callable[..., Container]) -> None:
    client = _client(make_container)
    first = client.get("/anmelden")
    csrf = first.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    again = client.get("/anmelden")  # the client sends the cookie back
    assert "set-cookie" not in again.headers
    assert f'name="csrf" value="{csrf}"' in again.text  # the same session, the same token


def test_the_api_and_the_service_paths_get_no_session_and_no_page_headers(
    make_container: Callable[..., Container],
) -> None:
    client = _client(make_container)
    for path in ("/healthz", "/api/v1/cases/B-1", "/openapi.json"):
        answer = client.get(path)
        assert "set-cookie" not in answer.headers, path
        assert "Content-Security-Policy" not in answer.headers, path


def test_swagger_ui_may_use_its_inline_styles(make_container: Callable[..., Container]) -> None:
    docs = _client(make_container).get("/docs")
    assert docs.status_code == 200
    assert "style-src 'self' 'unsafe-inline'" in docs.headers["Content-Security-Policy"]
