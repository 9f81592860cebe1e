"""The web edge: the bounded, typed parameters every router shares, the one check for
characters no text column accepts, and the error statuses the OpenAPI description
declares. Values are bounded here, before any service or engine sees them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from paperfeed.query import MAX_QUERY_CHARS
from paperfeed.records import has_forbidden_chars
from paperfeed.services.daily import SORTS
from paperfeed.services.search import MAX_RESULTS_DEPTH, MODES
from paperfeed.services.search import SORTS as SEARCH_SORTS

# Row ids are 32-bit integers on PostgreSQL: a larger one names nothing (404), it must
# not reach the database as an out-of-range parameter.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
FormRowId = Annotated[int, Form(ge=1, le=MAX_ROW_ID)]
# Database listings of the API: pages past this one are refused (at 100 a page that is
# 100,000 rows deep; beyond it OFFSET costs grow while nobody pages that far by hand).
MAX_API_PAGE = 1_000
ApiPage = Annotated[int, Query(ge=0, le=MAX_API_PAGE, description="page number, from 0")]
SEARCH_PAGE_SIZE = 20
# Search serves at most MAX_RESULTS_DEPTH results: deeper pages are refused at the edge.
MAX_SEARCH_PAGE = MAX_RESULTS_DEPTH // SEARCH_PAGE_SIZE
SearchPage = Annotated[int, Query(ge=1, le=MAX_SEARCH_PAGE, description="page number, from 1")]
SearchText = Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="the search syntax")]
SearchMode = Literal[MODES]  # the service's modes, as an enum in the description
SearchSort = Literal[SEARCH_SORTS]
# The search page's controls; the query language checks their values again.
SearchCategory = Annotated[str, Query(max_length=40, pattern=r"^[A-Za-z0-9.\-]*$")]
SearchDate = Annotated[str, Query(max_length=10, pattern=r"^([0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?)?$")]
# The categories offered in the search page's select (others can be typed as cat:...).
SEARCH_CATEGORIES = (
    "cs.AI",
    "cs.CL",
    "cs.CV",
    "cs.LG",
    "cs.RO",
    "cs.IR",
    "cs.CR",
    "cs.SE",
    "cs.HC",
    "cs.MA",
    "cs.NE",
    "cs.SD",
    "eess.AS",
    "eess.IV",
    "stat.ML",
)
# ASCII digits only ([0-9], not \d, which matches every script's digits). A well-formed
# value that names no day (2026-02-30, 2026-W53, 9999-W52 ending in the year 10000) is a
# 400 from services.daily.period / date.fromisoformat, the parsers of these values.
_MONTH = "-(0[1-9]|1[0-2])"
_DATE = f"^[0-9]{{4}}{_MONTH}-(0[1-9]|[12][0-9]|3[01])$"
_WEEK = "^[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$"
# In a path: anything shaped like a date reaches the parser (2026-13-45 is a 400, as a
# date that does not exist); anything else names no page (404).
Day = Annotated[str, Path(pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD")]
DayParam = Annotated[str | None, Query(pattern=_DATE, description="YYYY-MM-DD")]
WeekParam = Annotated[str | None, Query(pattern=_WEEK, description="ISO week, YYYY-Www")]
MonthParam = Annotated[str | None, Query(pattern=f"^[0-9]{{4}}{_MONTH}$", description="YYYY-MM")]
# arXiv categories: cs.CL, hep-th, q-bio.NC.
Category = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9.\-]{0,63}$")]
DailySort = Literal[SORTS]


BIBTEX_MEDIA_TYPE = "application/x-bibtex; charset=utf-8"
# How the OpenAPI description declares a BibTeX answer (not the default JSON).
AS_BIBTEX: dict[int | str, dict[str, Any]] = {
    200: {"content": {BIBTEX_MEDIA_TYPE: {}}, "description": "BibTeX"}
}


class ErrorBody(BaseModel):
    """What every refusal answers in JSON."""

    error: str


_MEANING = {
    400: "Invalid input: a value out of range, malformed, or with a character refused",
    401: "Not signed in",
    403: "Missing or wrong CSRF token, a cross-site request, or not an admin",
    404: "Nothing here: an unknown or out-of-range id, or a private collection",
    409: "Conflicts with the current state",
    411: "An upload without a Content-Length",
    413: "An upload larger than the site accepts",
    429: "Too many attempts from this client: retry later",
    502: "arXiv could not be reached or did not answer",
    503: "Not available now: search is not enabled, or arXiv is busy",
}


# Refusals refer to one ErrorBody schema, which describe_api adds: a `model` here would
# make FastAPI build a validator for each status of each route, in every app made (a
# tenth of building one).
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error statuses it can answer, with their meaning."""
    return {
        status: {"description": _MEANING[status], "content": _ERROR_CONTENT} for status in statuses
    }


def action_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a CSRF-checked POST action: JSON when the request accepts it, a
    redirect back for browsers, and the refusals every action shares."""
    return {
        200: {"description": "The result, when the request accepts application/json"},
        303: {"description": "Back to the page, for a browser"},
        **errors(401, 403, *statuses),
    }


async def refuse_forbidden_chars(request: Request) -> None:
    """A dependency of every route (site_router): 400 for a NUL or lone surrogate anywhere in the
    path, the query or a form (names and values), on SQLite exactly as on PostgreSQL."""
    texts = [request.scope["path"], *request.query_params.keys(), *request.query_params.values()]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        texts += [*form.keys(), *(v for v in form.values() if isinstance(v, str))]
    if any(has_forbidden_chars(text) for text in texts):
        raise HTTPException(400, "the request contains a NUL or an invalid character")


def site_router(**options: Any) -> APIRouter:
    """A router for the site's routes, carrying what every route of the site has: the
    refusal of forbidden characters and its declared 400. create_app adds its routes to the
    app as they are, not with include_router: FastAPI 0.165 prepares an included route a
    second time, in each app, on its first request (a third of making a site, paid again
    by every app the tests make)."""
    dependencies = [Depends(refuse_forbidden_chars), *options.pop("dependencies", [])]
    responses = {**errors(400), **options.pop("responses", {})}
    return APIRouter(dependencies=dependencies, responses=responses, **options)


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A form field's schema without `null`: a form cannot carry a null, it leaves the
    field out (FastAPI declares `int | None` fields as integer-or-null)."""
    kinds = [k for k in prop.get("anyOf", []) if k != {"type": "null"}]
    if len(kinds) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**kinds[0], **rest}


def describe_api(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI description as the server behaves: without FastAPI's automatic
    422 answers (an invalid parameter is a 400 here, a 404 in a path, both declared), and
    without `null` in form fields."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            schemas["ErrorBody"] = ErrorBody.model_json_schema()
            for name, body in schemas.items():
                if name.startswith("Body_"):  # FastAPI's name for a form's fields
                    props = body.get("properties", {})
                    body["properties"] = {k: _without_null(v) for k, v in props.items()}
            app.openapi_schema = spec
        return app.openapi_schema

    return build
