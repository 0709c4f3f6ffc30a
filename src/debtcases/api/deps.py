"""Request dependencies: the container and the calling actor (bearer token).

They are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, a hand-off
to a worker thread and back per dependency and request (with the route's own, 11 % of
`serve`'s GIL samples under 32 clients). None of them blocks: the token's key comes from
the key store's cache, and only a miss (once per token per cache period) is looked up in
the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor, Role
from debtcases.domain.errors import NotPermitted
from debtcases.domain.rules import Command, may_issue

IN_PROCESS_ACTOR = "debtcases.in_process_actor"

_bearer = HTTPBearer(auto_error=False, description="API token from `debtcases keys create`")


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_container(request: Request) -> Container:
    return container_of(request)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    # The web UI calls the API in-process as its signed-in user (api/web/inprocess.py); the
    # scope key cannot be set by anything arriving over HTTP.
    in_process = request.scope.get(IN_PROCESS_ACTOR)
    if isinstance(in_process, Actor):
        return in_process
    if credentials is None or not credentials.credentials:
        raise HTTPException(401, "Missing bearer token.", headers={"WWW-Authenticate": "Bearer"})
    keys = container_of(request).keys
    known, key = keys.cached(credentials.credentials)
    if not known:
        key = await run_in_threadpool(keys.lookup, credentials.credentials)
    if key is None:
        raise HTTPException(401, "Invalid bearer token.", headers={"WWW-Authenticate": "Bearer"})
    return key.actor()


ContainerDep = Annotated[Container, Depends(get_container)]
ActorDep = Annotated[Actor, Depends(current_actor)]


def require_roles(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency refusing (403) every role but ``roles``."""

    async def _check(actor: ActorDep) -> Actor:
        if actor.role not in roles:
            raise HTTPException(403, f"Role {actor.role.value!r} may not call this endpoint.")
        return actor

    return Depends(_check)


SupportActor = Annotated[Actor, require_roles(Role.SUPPORT)]
VendorActor = Annotated[Actor, require_roles(Role.VENDOR)]


def permitted(command: Command):  # type: ignore[no-untyped-def]
    """The caller, if their role may ever issue ``command`` (403 otherwise). Declared before
    the body, so a role that may never act learns nothing about the body it sent."""

    async def _check(actor: ActorDep) -> Actor:
        if not may_issue(actor.role, command):
            raise NotPermitted(actor.role.value, command.value)
        return actor

    return Depends(_check)
