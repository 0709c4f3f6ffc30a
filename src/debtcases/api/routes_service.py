"""/healthz, /readyz (and /metrics when the metrics module provides it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from debtcases.api.deps import ContainerDep

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database reachable, views caught up within a bound and moving, nothing parked",
    responses={503: {"description": "Not ready (details in `checks`)"}},
)
def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, object] = {}
    ok = True
    database_ok = False
    try:
        position = container.cases.recorder.max_notification_id() or 0
        checks["database"] = {"ok": True, "max_position": position}
        database_ok = True
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        ok = False
    lag_report = getattr(container.views, "lag_report", None)
    if ok and lag_report is not None:
        report = lag_report()
        bound = container.settings.ready_max_lag
        for name, lag in report.items():
            fine = lag <= bound
            checks[f"view:{name}"] = {"ok": fine, "lag": lag, "bound": bound}
            ok = ok and fine
        # A view that lags and does not move is stalled, however small its lag.
        stall_bound = container.settings.ready_stall_seconds
        stalled = container.runner.watch.stalled_for(container.views.positions(), report)
        for name, seconds in stalled.items():
            fine = seconds < stall_bound
            checks[f"progress:{name}"] = {
                "ok": fine,
                "lag": report.get(name, 0),
                "stalled_seconds": round(seconds, 3),
                "bound_seconds": stall_bound,
            }
            ok = ok and fine
    if database_ok:
        # An event a processor could not write waits for a fix: not ready until then.
        parked = container.runner.parked_counts()
        fine = not any(parked.values())
        checks["parked_events"] = {"ok": fine, "unresolved": parked}
        ok = ok and fine
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
