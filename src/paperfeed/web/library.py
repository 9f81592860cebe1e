"""Your library on the site: read / read-later buttons on every list, private notes,
/library with search inside it, exports (BibTeX, RIS, CSL-JSON) of the library and of
collections, importing a reference manager's file, your data download and account
deletion. Every action is a CSRF-checked form POST that works without JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.types import ASGIApp, Receive, Scope, Send

from paperfeed.config import Settings
from paperfeed.errors import ActionError
from paperfeed.services import collections as collection_service
from paperfeed.services import library
from paperfeed.services.library import READING_STATES, SHELVES, LibraryItem
from paperfeed.services.library_import import import_references
from paperfeed.services.paper_views import PaperView
from paperfeed.services.references import (
    CSL_JSON_MEDIA_TYPE,
    FORMATS,
    RIS_MEDIA_TYPE,
    Format,
    write_references,
)
from paperfeed.services.search import MAX_LIMIT, SearchEngine
from paperfeed.services.your_data import delete_account, your_data
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.actions import done, run_action, wants_json
from paperfeed.web.community import my_collections
from paperfeed.web.edge import (
    BIBTEX_MEDIA_TYPE,
    RowId,
    SearchText,
    action_responses,
    errors,
    site_router,
)
from paperfeed.web.searching import search_or_http_error
from paperfeed.web.security import Security
from paperfeed.web.twins import Page, twin_pages

IMPORT_PATH = "/import"
# Room for the form's other fields and the multipart framing around the file.
FORM_OVERHEAD_BYTES = 64_000
ReadingChoice = Literal["read", "later", "none"]
# File suffix -> (media type, format, what the OpenAPI description calls it).
_EXPORTS: dict[str, tuple[str, Format, str]] = {
    "bib": (BIBTEX_MEDIA_TYPE, "bibtex", "BibTeX"),
    "ris": (RIS_MEDIA_TYPE, "ris", "RIS"),
    "csl.json": (CSL_JSON_MEDIA_TYPE, "csl-json", "CSL-JSON"),
}


class UploadLimit:
    """Refuses an import larger than the setting before any of it is read: a 413 by its
    Content-Length, a 411 without one (every browser sends it with a form)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + FORM_OVERHEAD_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == IMPORT_PATH:
            length = dict(scope["headers"]).get(b"content-length", b"")
            refusal = None
            if not length.isdigit():
                refusal = JSONResponse({"error": "an import needs a Content-Length"}, 411)
            elif int(length) > self.max_bytes:
                said = f"the file is larger than the {self.max_bytes:,} bytes an import may have"
                refusal = JSONResponse({"error": said}, 413)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _export(papers: list[PaperView], suffix: str, name: str) -> Response:
    media_type, fmt, _ = _EXPORTS[suffix]
    disposition = f'attachment; filename="{name}.{suffix.replace("csl.json", "json")}"'
    return Response(
        write_references(papers, fmt),
        media_type=media_type,
        headers={"content-disposition": disposition},
    )


def create_library_router(
    store: Store,
    search: SearchEngine | None,
    security: Security,
    templates: Jinja2Templates,
    settings: Settings,
) -> APIRouter:
    router = site_router(tags=["library"])
    csrf = [Depends(security.require_csrf)]

    def marks_of(request: Request) -> dict[str, str]:
        """The reader's reading marks, read once per request (every list asks)."""
        if not hasattr(request.state, "reading_marks"):
            user = security.user(request)
            marks: dict[str, str] = {}
            if user is not None:
                with store.engine.connect() as conn:
                    marks = dict(library.reading_states_of(conn, user.id))
            request.state.reading_marks = marks
        return request.state.reading_marks

    @pass_context
    def reading_state(context: Context, arxiv_id: str) -> str | None:
        return marks_of(context["request"]).get(arxiv_id)

    @pass_context
    def hidden_as_read(context: Context, paper: PaperView) -> bool:
        """`?hide=read` on a list: the papers the reader has read are left out."""
        request = context["request"]
        if request.query_params.get("hide") != "read":
            return False
        return marks_of(request).get(paper.arxiv_id) == "read"

    @pass_context
    def my_note(context: Context, arxiv_id: str) -> str | None:
        user = security.user(context["request"])
        if user is None:
            return None
        with store.engine.connect() as conn:
            return library.note_of(conn, user.id, arxiv_id)

    templates.env.globals.update(
        reading_state=reading_state, hidden_as_read=hidden_as_read, my_note=my_note
    )

    @router.post(
        "/papers/{arxiv_id:path}/reading", dependencies=csrf, responses=action_responses(404)
    )
    def set_reading(
        request: Request,
        arxiv_id: str,
        state: Annotated[ReadingChoice, Form()],
        next: str = Form(""),
    ) -> Response:
        """Mark a paper `read` or `later` (read later); `none` clears the mark."""
        user = security.require_user(request)
        chosen = state if state in READING_STATES else None
        result = run_action(
            store,
            lambda conn: library.set_reading_state(conn, user.id, arxiv_id, chosen),  # type: ignore[arg-type]
        )
        return done(request, next or f"/papers/{arxiv_id}", {"paper": arxiv_id, "state": result})

    @router.post("/papers/{arxiv_id:path}/note", dependencies=csrf, responses=action_responses(404))
    def set_note(
        request: Request, arxiv_id: str, body: str = Form(""), next: str = Form("")
    ) -> Response:
        """Write your private note on a paper (Markdown, shown sanitized); an empty body
        removes it."""
        user = security.require_user(request)
        noted = run_action(store, lambda conn: library.set_note(conn, user.id, arxiv_id, body))
        return done(
            request, next or f"/papers/{arxiv_id}#note", {"paper": arxiv_id, "noted": noted}
        )

    # One route per format (not /library.{fmt}): a pattern would also catch
    # /library.json, and /collections/{id}.{fmt} the .json and .bib of web/community.py.
    def library_export(request: Request, fmt: str) -> Response:
        user = security.require_user(request)
        with store.engine.connect() as conn:
            items = library.library_items(conn, user.id)
        return _export([i.paper for i in items], fmt, "library")

    def collection_export(request: Request, collection_id: int, fmt: str) -> Response:
        viewer = security.user(request)
        try:
            with store.engine.connect() as conn:
                shown = collection_service.get_collection(
                    conn, collection_id, viewer.id if viewer else None
                )
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        return _export(shown.papers, fmt, f"collection-{collection_id}")

    def library_file_route(suffix: str, called: str) -> Callable[[Request], Response]:
        def library_file(request: Request) -> Response:
            return library_export(request, suffix)

        library_file.__doc__ = f"Every paper of your library as {called}."
        return library_file

    def collection_file_route(suffix: str, called: str) -> Callable[..., Response]:
        def collection_file(request: Request, collection_id: RowId) -> Response:
            return collection_export(request, collection_id, suffix)

        collection_file.__doc__ = (
            f"A collection's papers as {called} (a private one only to its owner)."
        )
        return collection_file

    for suffix, (media_type, _, called) in _EXPORTS.items():
        answer = {200: {"content": {media_type.split(";")[0]: {}}, "description": called}}
        router.get(
            f"/library.{suffix}",
            response_class=Response,
            responses={**answer, **errors(401)},
            name=f"library_{suffix}",
        )(library_file_route(suffix, called))
        if suffix != "bib":  # web/community.py serves a collection's BibTeX
            router.get(
                f"/collections/{{collection_id}}.{suffix}",
                response_class=Response,
                responses={**answer, **errors(404)},
                name=f"collection_{suffix}",
            )(collection_file_route(suffix, called))

    @twin_pages(
        router, templates, "/library", schemas.LibraryPage, errors(401, 503), cacheable=False
    )
    def library_page(
        request: Request,
        q: SearchText = "",
        shelf: Annotated[Literal[SHELVES], Query()] = "all",  # type: ignore[valid-type]
    ) -> Page:
        """Your library: papers you marked read or read later, noted or voted for, latest
        first; `q` searches among them (the site's search syntax, keyword matches: a
        library is searched to find a paper in it, not to rank it all), `shelf` narrows it."""
        user = security.require_user(request)
        with store.engine.connect() as conn:
            hits = None
            if q.strip():
                among = library.library_ids(conn, user.id, shelf)
                found = search_or_http_error(
                    search, q, "keyword", MAX_LIMIT, among=among
                ) if among else None  # fmt: skip
                hits = [h.paper.id for h in found.hits] if found else []
            items: list[LibraryItem] = library.library_items(conn, user.id, hits, shelf)
        return Page(
            "library.html",
            {"shelf": shelf, "q": q, "papers": [i.to_json() for i in items]},
            {"items": items, "shelves": SHELVES},
        )

    # --- import ---

    def import_form(request: Request, status: int = 200, **context: Any) -> Response:
        user = security.require_user(request)
        return templates.TemplateResponse(
            request,
            "import.html",
            {
                "collections": my_collections(store, user.id),
                "formats": FORMATS,
                "max_mb": settings.import_max_bytes / 1_000_000,
                "report": None,
                "error": None,
                **context,
            },
            status_code=status,
        )

    @router.get(IMPORT_PATH, include_in_schema=False)
    def import_page(request: Request) -> Response:
        return import_form(request)

    @router.post(IMPORT_PATH, dependencies=csrf, responses=action_responses(411, 413))
    async def import_file(
        request: Request,
        file: UploadFile,
        format: Annotated[Literal["auto", *FORMATS], Form()] = "auto",  # type: ignore[valid-type]
        collection: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
        name: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        """Import a BibTeX, RIS or CSL-JSON file: the papers known here go into a
        collection (`collection`, or a new one called `name`); the answer lists those
        added and the entries not found, each with its place in the file."""
        user = security.require_user(request)
        data = await file.read(settings.import_max_bytes + 1)
        try:
            if len(data) > settings.import_max_bytes:
                raise ActionError(
                    f"the file is larger than {settings.import_max_bytes:,} bytes", 413
                )
            with store.write() as conn:
                report = import_references(
                    conn,
                    user.id,
                    data,
                    collection_id=collection,
                    collection_name=name,
                    fmt=None if format == "auto" else format,
                )
        except ActionError as exc:
            if wants_json(request):
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            return import_form(request, exc.status, error=str(exc))
        if wants_json(request):
            return JSONResponse(report.to_json())
        return import_form(request, report=report)

    # --- your data ---

    @router.get("/account/data", responses=errors(401))
    def download_your_data(request: Request) -> Response:
        """Everything you made here (votes, comments, collections, notes, reading marks,
        subscriptions, interests ...) as one JSON file."""
        user = security.require_user(request)
        with store.engine.connect() as conn:
            data = your_data(conn, user.id)
        disposition = f'attachment; filename="paperfeed-{user.username}.json"'
        return JSONResponse(data, headers={"content-disposition": disposition})

    @router.get("/account/delete", include_in_schema=False)
    def delete_page(request: Request) -> Response:
        security.require_user(request)
        return templates.TemplateResponse(request, "account_delete.html", {"error": None})

    @router.post("/account/delete", dependencies=csrf, include_in_schema=False)
    def delete(
        request: Request, password: str = Form(""), remove_comments: bool = Form(False)
    ) -> Response:
        user = security.require_user(request)
        try:
            with store.write() as conn:
                delete_account(conn, user.id, password, remove_comments)
        except ActionError as exc:
            return templates.TemplateResponse(
                request, "account_delete.html", {"error": str(exc)}, status_code=exc.status
            )
        request.state.user = None  # the page after is a signed-out one
        response = templates.TemplateResponse(
            request,
            "subscribe_message.html",
            {
                "heading": "Your account is deleted",
                "text": "Your account and what you made here are gone"
                + ("." if remove_comments else "; your comments stay, by “deleted user”."),
            },
        )
        security.clear_session_cookie(request, response)
        return response

    return router
