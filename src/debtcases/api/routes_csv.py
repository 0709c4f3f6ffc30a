"""CSV exportieren / CSV importieren (thin: parse the request, call csvformat or the import
command, answer)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from debtcases.api.deps import ContainerDep, SupportActor, VendorActor
from debtcases.api.filters import (
    FellBackQuery,
    OrderQuery,
    PeriodQuery,
    SearchQuery,
    StatusQuery,
    VendorQuery,
    case_filter,
    invalid_query,
    search_filter,
)
from debtcases.api.problems import problem
from debtcases.api.schemas import Problem
from debtcases.commands.imports import import_cases
from debtcases.csvformat import export, parse
from debtcases.domain.actors import Actor, Role
from debtcases.projections.queries import CaseFilter

router = APIRouter(prefix="/api/v1", tags=["csv"])

_P = {"model": Problem, "content": {"application/problem+json": {}}}
_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "UTF-8 with BOM, CRLF, `;` (or `?sep=,`), German headers: "
        + ";".join(export.EXPORT_HEADER)
        + ". With `q`, the header `X-Search-Matched` says what it matched "
        "(`order_id`, `user_id` or `none`).",
    },
    401: {**_P, "description": "Missing or invalid token"},
    403: {**_P, "description": "This role may not do this"},
    422: {
        **_P,
        "description": "Unknown status, period or query parameter; `as=vendor` without "
        "a single vendor",
    },
}

SepQuery = Annotated[
    Literal[";", ","],
    Query(
        description="Separator: `;` (Excel, German locale; decimal comma) or `,` (decimal point)"
    ),
]
AsQuery = Annotated[
    Literal["support", "vendor"],
    Query(
        alias="as",
        description="`vendor`: the file as that vendor sees it (their statuses, never "
        "Blockiert; vendor fields only), to send it to them. Needs one vendor: `user_id`, "
        "or `q` matching a User-ID.",
    ),
]


def _export(
    container: Any,
    actor: Actor,
    case_filter: CaseFilter,
    sep: str,
    headers: dict[str, str] | None = None,
) -> Response:
    views = container.views
    if views is None or not hasattr(views, "iter_cases"):
        return problem(
            503,
            "Service unavailable",
            "The case views are not available.",
            "unavailable",
            headers={"Retry-After": "5"},
        )
    rows = views.iter_cases(case_filter, actor.role, actor.vendor_id)
    name = export.export_filename(
        actor.role,
        user_id=case_filter.user_id if actor.role is not Role.VENDOR else actor.vendor_id,
        order_id=case_filter.order_id,
        statuses=case_filter.statuses,
        period=case_filter.period,
    )
    return StreamingResponse(
        export.export_csv(rows, sep),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


@router.get(
    "/support/cases.csv",
    response_class=StreamingResponse,
    responses=_CSV_RESPONSES,
    summary="CSV exportieren: the Schulden list with the same filters (support)",
)
def export_support(
    actor: SupportActor,
    container: ContainerDep,
    q: SearchQuery = None,
    order_id: OrderQuery = None,
    user_id: VendorQuery = None,
    status: StatusQuery = None,
    period: PeriodQuery = None,
    fell_back: FellBackQuery = None,
    sep: SepQuery = ";",
    as_: AsQuery = "support",
) -> Response:
    """Streamed (constant memory), newest change first; status labels as support sees
    them (BLOCKED = Blockiert); formula-like cells are neutralised with an apostrophe.
    `as=vendor`: exactly the file that vendor would download (*send the vendor a list*)."""
    search = search_filter(
        container.views, actor.role, q, order_id, user_id, status, period, fell_back
    )
    headers: dict[str, str] = {"X-Search-Matched": search.matched or "none"} if q else {}
    if as_ == "vendor":
        vendor = search.filter.user_id
        if vendor is None:
            raise invalid_query("as", "as=vendor needs one vendor: user_id, or q with a User-ID")
        # The vendor's own filter rules (BLOCKED is no status for them), their rows.
        as_vendor = case_filter(
            Role.VENDOR, search.filter.order_id, None, status, period, fell_back
        )
        return _export(container, Actor.vendor(vendor), as_vendor, sep, headers)
    return _export(container, actor, search.filter, sep, headers)


@router.get(
    "/vendor/cases.csv",
    response_class=StreamingResponse,
    responses=_CSV_RESPONSES,
    summary="CSV exportieren: the vendor's own Inkasso-Beta list (vendor)",
)
def export_vendor(
    actor: VendorActor,
    container: ContainerDep,
    order_id: OrderQuery = None,
    status: StatusQuery = None,
    period: PeriodQuery = None,
    fell_back: FellBackQuery = None,
    sep: SepQuery = ";",
) -> Response:
    """Own cases only; a blocked case shows the status it had before the block."""
    return _export(
        container, actor, case_filter(actor.role, order_id, None, status, period, fell_back), sep
    )


# ------------------------------------------------------------------------------ import


class ImportErrorOut(BaseModel):
    line: int | None
    field: str | None
    message: str
    code: str


class ImportReportOut(BaseModel):
    dry_run: bool
    applied: bool
    rows: int
    created: int
    unchanged: int
    errors: list[ImportErrorOut]
    # Present (false) only when the lists had not caught up with the import within the
    # read-your-writes timeout (they will shortly); the X-Views-Caught-Up header always.
    views_caught_up: bool | None = None


class ImportProblem(Problem):
    report: ImportReportOut


_IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


async def _uploaded(request: Request) -> tuple[bytes, str] | JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return problem(
                422,
                "Validation error",
                "file: the multipart field 'file' with the CSV file is missing.",
                "validation_error",
                errors=[
                    {"loc": ["body", "file"], "field": "file", "msg": "missing", "type": "missing"}
                ],
            )
        return await upload.read(), upload.filename or ""
    if content_type in ("application/json", "application/x-www-form-urlencoded"):
        return problem(
            415,
            "Unsupported media type",
            "Send the CSV as multipart field 'file' or as a text/csv body.",
            "unsupported_media_type",
        )
    return await request.body(), ""


@router.post(
    "/support/cases/import",
    response_model=ImportReportOut,
    responses={
        401: {**_P, "description": "Missing or invalid token"},
        403: {**_P, "description": "Only support imports"},
        413: {**_P, "description": "File larger than the body limit (1 MiB by default)"},
        415: {**_P, "description": "Neither multipart nor a CSV body"},
        422: {
            "model": ImportProblem,
            "content": {"application/problem+json": {}},
            "description": "`validation_error`: the file was rejected whole; the per-row "
            "report is in `report`",
        },
    },
    openapi_extra={"requestBody": _IMPORT_BODY},
    summary="CSV importieren: admit a legacy dunning list, all rows or none (support)",
    description=(parse.__doc__ or "").split("Import (legacy vendor dunning lists)")[-1],
)
async def import_csv(
    request: Request,
    actor: SupportActor,
    container: ContainerDep,
    dry_run: Annotated[bool, Query(description="Validate and report only")] = False,
) -> Response:
    uploaded = await _uploaded(request)
    if isinstance(uploaded, JSONResponse):
        return uploaded
    data, filename = uploaded
    limit = container.settings.max_body_bytes
    if len(data) > limit:
        return problem(
            413, "Payload too large", f"File larger than {limit} bytes.", "payload_too_large"
        )
    reason = (
        f"{parse.DEFAULT_IMPORT_REASON} ({filename})" if filename else parse.DEFAULT_IMPORT_REASON
    )
    report = await run_in_threadpool(
        import_cases,
        container.cases,
        data,
        actor,
        dry_run=dry_run,
        default_reason=reason[:1000],
    )
    if not report.ok:
        first = report.errors[0]
        where = f"line {first.line}: " if first.line is not None else ""
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        return problem(
            422,
            "Validation error",
            f"The file was rejected, nothing was imported. {where}{first.message}{more}",
            "validation_error",
            report=report.as_dict(),
        )
    answer = report.as_dict()
    headers: dict[str, str] = {}
    if report.position is not None:
        caught_up = await run_in_threadpool(container.wait_for_views, report.position)
        if not caught_up:  # only then: the report's shape stays as it was otherwise
            answer["views_caught_up"] = False
        headers["X-Views-Caught-Up"] = "true" if caught_up else "false"
    return JSONResponse(answer, status_code=200, headers=headers)
