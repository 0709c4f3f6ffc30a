"""create_app(container): the FastAPI application; ``worker_app()``: the same for each
worker process of `serve --processes N` (uvicorn imports it by name in every process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from debtcases import __version__
from debtcases.adapters.bulk import database_busy
from debtcases.api import (
    routes_cases,
    routes_csv,
    routes_diagonal,
    routes_queries,
    routes_service,
    routes_support,
)
from debtcases.api.asgi import BodyLimit, RequestMetrics
from debtcases.api.openapi import install_openapi
from debtcases.api.problems import install_problem_handlers, problem
from debtcases.api.query_guard import OPENAPI_NOTE, reject_unknown_query_parameters
from debtcases.api.routes_orders import router as orders_router
from debtcases.api.web import install_web
from debtcases.bootstrap import Container

DESCRIPTION = """Event-sourced dunning cases of a digital-sales platform.

Support steers every case (Schulden tab); vendors see and start their own (Inkasso-Beta tab).
Authenticate with `Authorization: Bearer <token>` (tokens from `debtcases keys create`).
Errors are `application/problem+json` with a machine-readable `code`.

"""


def worker_app() -> FastAPI:
    """The application of one worker process of `serve --processes N`: a container of its
    own, built from the environment's settings, without the background workers (the log
    runner, the outbox, Kafka and the schedulers run once, in the supervising process or
    beside it), closed when the process shuts down."""
    from debtcases.bootstrap import build_container
    from debtcases.config import Settings

    settings = Settings()
    settings.run_workers = False
    container = build_container(settings)

    @asynccontextmanager
    async def closing(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            container.close()

    return create_app(container, lifespan=closing)


def create_app(container: Container, *, lifespan: Any = None) -> FastAPI:
    # The web UI serves /docs with its vendored Swagger UI; ReDoc would need a CDN.
    app = FastAPI(
        title="debtcases",
        version=__version__,
        description=DESCRIPTION + OPENAPI_NOTE,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query_parameters)],
        lifespan=lifespan,
    )
    app.state.container = container
    install_problem_handlers(app)
    body_limit = container.settings.max_body_bytes
    import_limit = max(body_limit, container.settings.max_import_bytes)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _db_unavailable(_: Request, exc: Exception) -> JSONResponse:
        if database_busy(exc):
            # Another write holds the events table (e.g. a large import) longer than the
            # lock timeout, or a statement ran out of time: nothing was stored.
            return problem(
                503,
                "Service busy",
                "The case store is busy (another write holds it); nothing was changed. "
                "Retry in a few seconds.",
                "busy",
                headers={"Retry-After": "2"},
            )
        return problem(
            503,
            "Service unavailable",
            "The database is unreachable; retry later.",
            "unavailable",
            headers={"Retry-After": "5"},
        )

    # Pure ASGI (no BaseHTTPMiddleware task and stream per request). Added last, so the
    # metrics run first and time everything, the body limit included. The CSV import (API
    # and the web UI's upload) takes up to its row limit of the documented format; every
    # other route 1 MiB.
    app.add_middleware(
        BodyLimit,
        limit=body_limit,
        larger=IMPORT_PATHS,
        larger_limit=import_limit,
        too_large=_too_large,
    )
    app.add_middleware(RequestMetrics)
    app.include_router(routes_cases.router)
    app.include_router(routes_queries.router)
    app.include_router(routes_csv.router)
    app.include_router(routes_diagonal.router)
    app.include_router(routes_service.router)
    install_web(app)
    app.include_router(orders_router)
    app.include_router(routes_support.router)
    install_openapi(app)
    return app


# The routes that take a CSV file (the body limit is the import's, not 1 MiB).
IMPORT_PATHS = frozenset({"/api/v1/support/cases/import", "/schulden/import"})


def _too_large(limit: int) -> Response:
    return problem(
        413, "Payload too large", f"Request body larger than {limit} bytes.", "payload_too_large"
    )
