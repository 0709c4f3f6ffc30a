"""The Schulden tab's CSV import, in two steps: validate the whole file and show the
per-row report (nothing stored; the file waits, signed, for step 2), then apply it (all
rows or none)."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from debtcases.api.web.core import (
    Form,
    Support,
    codec_of,
    container_of,
    field,
    flash,
    redirect,
    render,
)
from debtcases.commands.imports import import_cases
from debtcases.csvformat.parse import DEFAULT_IMPORT_REASON

router = APIRouter(prefix="/schulden", include_in_schema=False)

PENDING_DIR = Path(tempfile.gettempdir()) / "debtcases-pending-imports"


def _report_view(report: Any) -> dict[str, Any]:
    return report.as_dict()  # type: ignore[no-any-return]


@router.get("/import")
def import_page(request: Request, user: Support) -> Response:
    return render(request, "import.html", {"report": None, "errors": {}}, user=user)


@router.post("/import")
async def import_dry_run(request: Request, user: Support, form: Form) -> Response:
    """Step 1: validate the whole file and show the per-row report; nothing is stored."""
    upload = form.get("datei")
    container = container_of(request)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(
            request,
            "import.html",
            {"report": None, "errors": {"datei": "Bitte eine CSV-Datei auswählen."}},
            status_code=422,
            user=user,
        )
    data = await upload.read()
    reason = f"{DEFAULT_IMPORT_REASON} ({upload.filename})"[:1000]
    report = await run_in_threadpool(
        import_cases, container.cases, data, user.actor, dry_run=True, default_reason=reason
    )
    pending = ""
    if report.ok and report.rows:
        digest = hashlib.sha256(data).hexdigest()
        PENDING_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        (PENDING_DIR / f"{digest}.csv").write_bytes(data)
        pending = digest
    return render(
        request,
        "import.html",
        {
            "report": _report_view(report),
            "filename": upload.filename,
            "pending": pending,
            "pending_mac": codec_of(request).sign("import", f"{pending}:{upload.filename}")
            if pending
            else "",
            "errors": {},
        },
        status_code=200 if report.ok else 422,
        user=user,
    )


@router.post("/import/anwenden")
async def import_apply(request: Request, user: Support, form: Form) -> Response:
    """Step 2: apply the file validated in step 1 (all rows or none)."""
    digest, filename, mac = field(form, "pending"), field(form, "filename"), field(form, "mac")
    container = container_of(request)
    path = PENDING_DIR / f"{digest}.csv"
    if (
        not re.fullmatch(r"[0-9a-f]{64}", digest)
        or not codec_of(request).verify("import", f"{digest}:{filename}", mac)
        or not path.exists()
    ):
        return render(
            request,
            "import.html",
            {
                "report": None,
                "errors": {
                    "datei": "Die geprüfte Datei liegt nicht mehr vor; bitte erneut prüfen."
                },
            },
            status_code=422,
            user=user,
        )
    data = path.read_bytes()
    reason = f"{DEFAULT_IMPORT_REASON} ({filename})"[:1000]
    report = await run_in_threadpool(
        import_cases, container.cases, data, user.actor, dry_run=False, default_reason=reason
    )
    if not report.ok:
        return render(
            request,
            "import.html",
            {"report": _report_view(report), "filename": filename, "pending": "", "errors": {}},
            status_code=422,
            user=user,
        )
    path.unlink(missing_ok=True)
    if report.position is not None:
        await run_in_threadpool(container.wait_for_views, report.position)
    response = redirect("/schulden")
    flash(
        request,
        response,
        f"CSV importiert: {report.created} neue Fälle, {report.unchanged} unverändert.",
    )
    return response
