"""CSV exportieren / CSV importieren (thin: parse the request, call csvformat or the import
command, answer)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from debtcases.api.deps import ContainerDep, SupportActor, VendorActor
from debtcases.api.filters import (
    NO_CASE,
    AsOfQuery,
    FellBackQuery,
    OrderQuery,
    PeriodQuery,
    SearchQuery,
    StatusQuery,
    VendorQuery,
    VendorStatusQuery,
    case_filter,
    parse_moment,
    search_filter,
)
from debtcases.api.openapi import CODES_KEY
from debtcases.api.problems import problem
from debtcases.api.responses import Problem
from debtcases.commands.imports import import_cases
from debtcases.csvformat import export, parse
from debtcases.domain.actors import Actor, Role
from debtcases.domain.statuses import Status
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
        description="`vendor`: the file as the vendor sees it (their statuses, never "
        "Blockiert; vendor fields only), to send it to them: with one vendor (`user_id`, or "
        "`q` matching a User-ID) byte for byte that vendor's own download; otherwise every "
        "matching case as its vendor sees it. `status=Blockiert` matches none of them.",
    ),
]


def _export(
    container: Any,
    actor: Actor,
    case_filter: CaseFilter,
    sep: str,
    headers: dict[str, str] | None = None,
    *,
    as_vendors: bool = False,
    as_of: datetime | None = None,
) -> Response:
    """``as_vendors``: every vendor's cases, each as its vendor sees it. ``as_of``: the
    list as it stood at that moment."""
    views = container.views
    if views is None or not hasattr(views, "export_rows"):
        return problem(
            503,
            "Service unavailable",
            "The case views are not available.",
            "unavailable",
            headers={"Retry-After": "5"},
        )
    if as_vendors:
        rows = views.export_rows(case_filter, Role.VENDOR, None, every_vendor=True, as_of=as_of)
    else:
        rows = views.export_rows(case_filter, actor.role, actor.vendor_id, as_of=as_of)
    name = export.export_filename(
        Role.VENDOR if as_vendors else actor.role,
        user_id=case_filter.user_id if actor.role is not Role.VENDOR else actor.vendor_id,
        order_id=case_filter.order_id,
        statuses=case_filter.statuses,
        period=case_filter.period,
    )
    return StreamingResponse(
        export.export_csv_rows(rows, sep),
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
    as_of: AsOfQuery = None,
) -> Response:
    """Streamed (constant memory), newest change first; status labels as support sees
    them (BLOCKED = Blockiert); formula-like cells are neutralised with an apostrophe.
    `as=vendor`: exactly the file that vendor would download (*send the vendor a list*).
    `as_of`: the list as it stood at that moment."""
    moment = parse_moment("as_of", as_of)
    search = search_filter(
        container.views, actor.role, q, order_id, user_id, status, period, fell_back
    )
    headers: dict[str, str] = {"X-Search-Matched": search.matched or "none"} if q else {}
    if as_ == "vendor":
        # The vendors' filter rules: BLOCKED is no status they see, so it matches none of
        # their cases (the rest of a status list still does).
        f = search.filter
        seen = tuple(s for s in f.statuses if s is not Status.BLOCKED)
        as_vendor = NO_CASE if f.statuses and not seen else replace(f, statuses=seen)
        vendor = f.user_id
        if vendor is None:  # not one vendor: each case as its own vendor sees it
            return _export(container, actor, as_vendor, sep, headers, as_vendors=True, as_of=moment)
        as_vendor = replace(as_vendor, user_id=None)  # the vendor's rows are theirs anyway
        return _export(container, Actor.vendor(vendor), as_vendor, sep, headers, as_of=moment)
    return _export(container, actor, search.filter, sep, headers, as_of=moment)


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
    status: VendorStatusQuery = None,
    period: PeriodQuery = None,
    fell_back: FellBackQuery = None,
    sep: SepQuery = ";",
    as_of: AsOfQuery = None,
) -> Response:
    """Own cases only; a blocked case shows the status it had before the block. `as_of`:
    the list as it stood at that moment, as the vendor saw it then."""
    f = case_filter(actor.role, order_id, None, status, period, fell_back)
    return _export(container, actor, f, sep, as_of=parse_moment("as_of", as_of))


# ------------------------------------------------------------------------------ import


class ImportErrorOut(BaseModel):
    line: int | None
    field: str | None
    message: str
    code: str


class ImportedCase(BaseModel):
    order_id: str
    user_id: int


class ImportReportOut(BaseModel):
    dry_run: bool
    applied: bool
    rows: int
    created: int
    unchanged: int
    errors: list[ImportErrorOut]
    cases: list[ImportedCase] = Field(
        default=[],
        description="The cases the file admitted or found unchanged (a dry run: would "
        "admit or leave unchanged), in file order; empty when the file was rejected",
    )
    # Present (false) only when the lists had not caught up with the import within the
    # read-your-writes timeout (they will shortly); the X-Views-Caught-Up header always.
    views_caught_up: bool | None = None


class ImportProblem(Problem):
    report: ImportReportOut | None = Field(
        default=None, description="The per-row report (absent when no file was read)"
    )


# The document describes one well-formed file: the English (or German) header and one data
# row. The import takes more (any column order, both separators, Excel's quoting and
# number formats, up to 50,000 rows; docs/api.md), which no pattern could say exactly; every
# file this pattern allows is imported (tests/unit/test_openapi_document.py).
_CELL = "[A-Za-z0-9äöüÄÖÜß .]"
CSV_ROW = (
    "[A-Za-z0-9][A-Za-z0-9._-]{0,63};[1-9][0-9]{0,14};[0-9]{1,9}(?:,[0-9]{2})?;[A-Za-z]{3};"
    f"{_CELL}{{0,40}};{_CELL}{{0,40}};[A-Za-z0-9]{{0,10}};{_CELL}{{0,40}};(?:[A-Za-z]{{2}})?"
)
CSV_HEADERS = (
    "order_id;user_id;amount;currency;name;street;postal_code;city;country",
    "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land",
)
CSV_PATTERN = f"^(?:{'|'.join(CSV_HEADERS)})\\r?\\n{CSV_ROW}(?:\\r?\\n)?$"
_CSV_FILE = {
    "type": "string",
    "contentMediaType": "text/csv",
    "pattern": CSV_PATTERN,
    "description": "A CSV file (UTF-8, or Windows-1252): a header line, then one order per "
    "row; see docs/api.md for every column and rule",
}
_IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": _CSV_FILE},
                "additionalProperties": False,
            },
            "encoding": {"file": {"contentType": "text/csv"}},
        },
        "text/csv": {"schema": _CSV_FILE},
    },
}


async def _uploaded(request: Request) -> tuple[bytes, str] | JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        unknown = [k for k in dict.fromkeys(form.keys()) if k != "file"]
        if unknown:  # as in JSON bodies: a field the request does not have is refused
            return problem(
                422,
                "Validation error",
                "; ".join(f"{k}: is not a field of this request (only 'file')" for k in unknown),
                "validation_error",
                errors=[
                    {
                        "loc": ["body", k],
                        "field": k,
                        "msg": "is not a field of this request (only 'file')",
                        "type": "extra_forbidden",
                    }
                    for k in unknown
                ],
            )
        upload = form.get("file")
        if isinstance(upload, str):  # a plain form field named file: its text is the file
            return upload.encode("utf-8"), ""
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
        413: {
            **_P,
            "description": "File larger than the import's limit (16 MiB by default: "
            "room for 50,000 rows)",
        },
        415: {**_P, "description": "Neither multipart nor a CSV body"},
        409: {
            "model": ImportProblem,
            "content": {"application/problem+json": {}},
            "description": "`order_conflict`: nothing was imported, because orders in the file "
            "already have cases with other data (and nothing else was wrong); see `report`",
            CODES_KEY: ["order_conflict"],
        },
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
    limit = container.settings.max_import_bytes
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
        detail = f"The file was rejected, nothing was imported. {where}{first.message}{more}"
        if report.conflicts_only:  # a valid file meeting other data: a conflict, as in admit
            return problem(409, "Order conflict", detail, "order_conflict", report=report.as_dict())
        return problem(422, "Validation error", detail, "validation_error", report=report.as_dict())
    answer = report.as_dict()
    headers: dict[str, str] = {}
    if report.position is not None:
        caught_up = await run_in_threadpool(container.wait_for_views, report.position)
        if not caught_up:  # only then: the report's shape stays as it was otherwise
            answer["views_caught_up"] = False
        headers["X-Views-Caught-Up"] = "true" if caught_up else "false"
    return JSONResponse(answer, status_code=200, headers=headers)
