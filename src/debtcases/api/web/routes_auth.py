"""Sign-in with a token, sign-out, the start page, and the API documentation (Swagger UI
served from our own static files)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from debtcases.adapters.keys import hash_token
from debtcases.api.web.core import (
    container_of,
    current_user,
    field,
    read_form,
    redirect,
    render,
    safe_return,
    set_session_cookie,
)
from debtcases.api.web.session import Session
from debtcases.domain.actors import Role

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(read_form)]


@router.get("/")
def start(request: Request) -> Response:
    user = current_user(request)
    return redirect(user.home if user else "/anmelden")


@router.get("/anmelden")
def sign_in_page(request: Request, weiter: str = "") -> Response:
    user = current_user(request)
    if user is not None:
        return redirect(safe_return(weiter, user.home))
    return render(request, "signin.html", {"weiter": weiter, "errors": {}})


@router.post("/anmelden")
async def sign_in(request: Request, form: Form) -> Response:
    token = field(form, "token", 200)
    weiter = field(form, "weiter", 500)
    errors: dict[str, str] = {}
    key = None
    if not token:
        errors["token"] = "Bitte Ihr Zugangstoken eingeben."
    else:
        key = await run_in_threadpool(container_of(request).keys.lookup, token)
        if key is None:
            errors["token"] = "Dieses Token ist unbekannt oder wurde widerrufen."
        elif key.role not in (Role.SUPPORT, Role.VENDOR):
            errors["token"] = (
                "Dieses Token gehört zu einer Integration; die Oberfläche ist für Support "
                "und Händler."
            )
    if errors or key is None:
        # The token is not shown again (it is a secret); everything else stays.
        return render(request, "signin.html", {"weiter": weiter, "errors": errors}, status_code=422)
    home = "/inkasso-beta" if key.role is Role.VENDOR else "/schulden"
    target = safe_return(weiter, home)
    if not target.startswith(home):
        target = home
    response = redirect(target)
    set_session_cookie(request, response, Session.signed_in(hash_token(token)))
    return response


@router.post("/abmelden")
async def sign_out(request: Request, form: Form) -> Response:
    response = redirect("/anmelden")
    set_session_cookie(request, response, Session.anonymous())
    return response


@router.get("/docs")
def api_docs() -> HTMLResponse:
    return HTMLResponse(
        """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>debtcases API (Swagger UI)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css"></head>
<body><main id="swagger-ui"></main>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script></body></html>"""
    )
