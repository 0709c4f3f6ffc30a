"""The CSV download of a tab's list, as both tabs serve it (the filters' errors as a page,
the rows (``Views.export_rows``) streamed with the file name the API gives the same
filters)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from debtcases.api.web.core import WebUser, render
from debtcases.csvformat.export import ExportRow, export_csv_rows, export_filename
from debtcases.domain.actors import Role


def export_refused(request: Request, user: WebUser, errors: dict[str, str], back: str) -> Response:
    """The filters could not be read: say so (422), with the way back to the list."""
    return render(
        request,
        "message.html",
        {"title": "Export nicht möglich", "message": " ".join(errors.values()), "back": back},
        status_code=422,
        user=user,
    )


def csv_download(rows: Iterable[ExportRow], role: Role, lq: Any, user_id: int | None) -> Response:
    """The rows as the ;-separated file, named after the role's view and the filters."""
    name = export_filename(
        role, user_id=user_id, order_id=lq.order_id, statuses=lq.statuses, period=lq.period
    )
    return StreamingResponse(
        export_csv_rows(rows, ";"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
