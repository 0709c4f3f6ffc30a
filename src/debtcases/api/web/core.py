"""What every web page needs: the signed-in user, rendering, CSRF, flash messages, and the
refusals (sign in first, 403) as HTML pages."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from debtcases.adapters.keys import ApiKey
from debtcases.api.web import fmt
from debtcases.api.web.session import COOKIE_NAME, Session, SessionCodec
from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor, Role

HERE = Path(__file__).parent
FLASH_COOKIE = "debtcases_flash"

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(fmt.filters())
templates.env.globals["month_de"] = fmt.month_de


class SignInRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Forbidden(Exception):
    """A signed-in user reached a page or action of the other role: 403, never data."""


class CsrfRejected(Exception):
    """A form arrived without (or with a wrong) CSRF token."""


@dataclass(frozen=True)
class WebUser:
    key: ApiKey
    actor: Actor

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def display(self) -> str:
        if self.role is Role.VENDOR:
            return f"Händler {self.actor.id}"
        return f"Support ({self.actor.id})"

    @property
    def home(self) -> str:
        return "/inkasso-beta" if self.role is Role.VENDOR else "/schulden"


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def codec_of(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.web_codec
    return codec


def session_of(request: Request) -> Session:
    session: Session = request.state.web_session
    return session


def csrf_token(request: Request) -> str:
    return codec_of(request).csrf_token(session_of(request))


def current_user(request: Request) -> WebUser | None:
    """The signed-in user, re-checked against the key store (a revoked key signs out)."""
    session = session_of(request)
    if session.key_hash is None:
        return None
    key = container_of(request).keys.lookup_by_hash(session.key_hash)
    if key is None or key.role not in (Role.SUPPORT, Role.VENDOR):
        return None
    return WebUser(key, key.actor())


def require(request: Request, role: Role) -> WebUser:
    user = current_user(request)
    if user is None:
        raise SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    if user.role is not role:
        raise Forbidden()
    return user


async def read_form(request: Request) -> FormData:
    """The posted form, refused (CsrfRejected) without this session's CSRF token."""
    form = await request.form(max_files=1, max_fields=50)
    token = form.get("csrf")
    if not isinstance(token, str) or not codec_of(request).csrf_ok(session_of(request), token):
        raise CsrfRejected()
    return form


def support(request: Request) -> WebUser:
    return require(request, Role.SUPPORT)


# The Schulden tab's route dependencies: the signed-in support user, the CSRF-checked form.
Support = Annotated[WebUser, Depends(support)]
Form = Annotated[FormData, Depends(read_form)]


def field(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def is_fragment(request: Request) -> bool:
    return request.headers.get("x-fragment") == "1"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    user: WebUser | None = None,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf": csrf_token(request),
        "fragment": is_fragment(request),
        "flash": read_flash(request),
        "Role": Role,
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    if ctx["flash"] is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_return(url: str | None, default: str) -> str:
    """Only paths of our own tabs: a form's return address can never lead elsewhere."""
    if url and url.startswith(("/schulden", "/inkasso-beta")) and "//" not in url:
        return url
    return default


# ---------------------------------------------------------------- session cookie, flash


def set_session_cookie(request: Request, response: Response, session: Session | None) -> None:
    secure = request.url.scheme == "https"
    if session is None:
        response.delete_cookie(
            COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="strict"
        )
        return
    response.set_cookie(
        COOKIE_NAME,
        codec_of(request).encode(session),
        max_age=max(0, session.expires - int(__import__("time").time())),
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def flash(request: Request, response: Response, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page (after a redirect)."""
    payload = base64.urlsafe_b64encode(json.dumps({"m": message, "k": kind}).encode()).decode()
    mac = codec_of(request).sign("flash", payload)
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{mac}",
        max_age=60,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, mac = raw.rsplit(".", 1)
    if not codec_of(request).verify("flash", payload, mac):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
        return {"message": str(data["m"]), "kind": str(data["k"])}
    except (ValueError, KeyError, TypeError):
        return None


def sign_in_url(next_url: str) -> str:
    return f"/anmelden?weiter={quote(next_url, safe='')}"
