"""The web UI: the Schulden tab (support) and the Inkasso-Beta tab (vendor), server-rendered
with Jinja2 and a little plain JavaScript; Swagger UI from vendored files at /docs.

``install_web(app)`` is the one entry point; routes call the container's commands and view
queries only (no SQL, no business rule here)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders

from debtcases.api.asgi import ASGIApp, Message, Receive, Scope, Send
from debtcases.api.web import (
    routes_auth,
    routes_support,
    routes_support_cases,
    routes_support_eligibility,
    routes_support_import,
    routes_support_worklist,
    routes_vendor,
)
from debtcases.api.web.core import (
    HERE,
    CsrfRejected,
    Forbidden,
    SignInRequired,
    current_user,
    redirect,
    render,
    set_session_cookie,
    sign_in_url,
)
from debtcases.api.web.session import COOKIE_NAME, Session, SessionCodec, load_secret

# Paths of the API and the service endpoints: no session, no HTML.
_NOT_WEB = ("/api/", "/openapi.json", "/healthz", "/readyz", "/metrics", "/static/")

_CSP_PAGES = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Swagger UI sets inline styles and data: images.
_CSP_DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)


class WebSession:
    """The web pages' session and security headers, as pure ASGI middleware (see
    api/asgi.py: no task and stream per request, and the API's requests pass straight
    through): the session from its signed cookie (a fresh anonymous one when there is
    none, set as a cookie on the answer), in ``request.state.web_session``."""

    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_NOT_WEB):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = self.codec.decode(request.cookies.get(COOKIE_NAME))
        state = scope.setdefault("state", {})
        state["web_session"] = session or Session.anonymous()
        csp = _CSP_DOCS if path == "/docs" else _CSP_PAGES

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if session is None and "set-cookie" not in headers:
                    cookie = Response()
                    set_session_cookie(request, cookie, state["web_session"])
                    headers.append("set-cookie", cookie.headers["set-cookie"])
                for name, value in _SECURITY_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, sending)


def install_web(app: FastAPI) -> None:
    container = app.state.container
    secret = load_secret(container.settings.session_secret)
    codec = SessionCodec(secret)
    app.state.web_codec = codec

    app.add_middleware(WebSession, codec=codec)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.method != "GET":
            return render(
                request,
                "message.html",
                {
                    "title": "Bitte anmelden",
                    "message": "Sie sind nicht (mehr) angemeldet.",
                    "back": "/anmelden",
                },
                status_code=401,
            )
        return redirect(sign_in_url(exc.next_url))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        user = current_user(request)
        return render(
            request,
            "message.html",
            {
                "title": "Kein Zugriff",
                "message": "Diese Seite gehört nicht zu Ihrem Bereich.",
                "back": user.home if user else "/anmelden",
            },
            status_code=403,
            user=user,
        )

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        user = current_user(request)
        return render(
            request,
            "message.html",
            {
                "title": "Formular abgelehnt",
                "message": "Die Sicherheitsprüfung des Formulars ist fehlgeschlagen (das "
                "Formular ist veraltet oder stammt nicht von dieser Seite). Bitte laden Sie "
                "die Seite neu und versuchen Sie es noch einmal.",
                "back": user.home if user else "/anmelden",
            },
            status_code=403,
            user=user,
        )

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="web-static")
    app.include_router(routes_auth.router)
    # The Schulden tab, in the order its routes were declared when it was one module.
    app.include_router(routes_support.router)
    app.include_router(routes_support_cases.router)
    app.include_router(routes_support_eligibility.router)
    app.include_router(routes_support_worklist.router)
    app.include_router(routes_support_import.router)
    app.include_router(routes_vendor.router)


__all__ = ["install_web"]
