"""Pages and actions of readers: votes, comments, submissions, collections, user pages,
and the admin's undo buttons. Every action is a CSRF-checked POST that answers JSON when
asked for it (`Accept: application/json`) and otherwise redirects back to the page."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.errors import ActionError, SourceError
from paperfeed.services import collections as collection_service
from paperfeed.services import community
from paperfeed.services.accounts import allow_attempt, user_by_name
from paperfeed.services.cite import bibtex_many
from paperfeed.services.collections import CollectionView
from paperfeed.services.community import Submissions
from paperfeed.sources.arxiv_api import MissingPaper
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.actions import done, run_action, wants_json
from paperfeed.web.edge import (
    AS_BIBTEX,
    BIBTEX_MEDIA_TYPE,
    MAX_ROW_ID,
    FormRowId,
    RowId,
    action_responses,
    errors,
    site_router,
)
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.schemas import answers
from paperfeed.web.security import Security

log = logging.getLogger(__name__)
SUBMISSIONS_PER_HOUR = (20, timedelta(hours=1))


def create_community_router(
    store: Store, security: Security, templates: Jinja2Templates, submissions: Submissions
) -> APIRouter:
    router = site_router(tags=["community"])
    csrf = [Depends(security.require_csrf)]
    cache = [CACHEABLE]

    @router.post("/papers/{arxiv_id:path}/vote", dependencies=csrf, responses=action_responses(404))
    def vote(
        request: Request,
        arxiv_id: str,
        state: Literal["toggle", "on", "off"] = Form("toggle"),
        next: str = Form(""),
    ) -> Response:
        """Vote for a paper: `state` is `on`, `off` or `toggle`. Answers the new state and
        the paper's upvotes (imported plus local)."""
        user = security.require_user(request)
        want = {"on": True, "off": False}.get(state)

        def act(conn: Any) -> dict[str, Any]:
            voted = community.set_vote(conn, user.id, arxiv_id, want)
            paper_id = community.paper_id_of(conn, arxiv_id)
            return {"voted": voted, "upvotes": community.upvotes_of(conn, paper_id)}

        result = run_action(store, act)
        return done(request, next or f"/papers/{arxiv_id}", {"paper": arxiv_id, **result})

    @router.post(
        "/papers/{arxiv_id:path}/comments", dependencies=csrf, responses=action_responses(404)
    )
    def comment(
        request: Request,
        arxiv_id: str,
        body: str = Form(""),
        parent_id: int | None = Form(None, ge=1, le=MAX_ROW_ID),
    ) -> Response:
        """Comment on a paper (Markdown; rendered sanitized)."""
        user = security.require_user(request)
        comment_id = run_action(
            store, lambda conn: community.add_comment(conn, user.id, arxiv_id, body, parent_id)
        )
        return done(
            request,
            f"/papers/{arxiv_id}#comment-{comment_id}",
            {"paper": arxiv_id, "comment_id": comment_id},
        )

    @router.post("/comments/{comment_id}/hide", dependencies=csrf, responses=action_responses(404))
    def hide_comment(request: Request, comment_id: RowId, hidden: bool = Form(True)) -> Response:
        """Admin: hide (or, with hidden=false, show again) a comment."""
        security.require_admin(request)
        arxiv_id = run_action(
            store, lambda conn: community.set_comment_hidden(conn, comment_id, hidden)
        )
        return done(request, f"/papers/{arxiv_id}#comments", {"id": comment_id, "hidden": hidden})

    @router.get("/submit", include_in_schema=False)
    def submit_form(request: Request) -> Response:
        return templates.TemplateResponse(
            request,
            "submit.html",
            {"error": None, "paper": "", "max_age": submissions.max_age.days},
        )

    @router.post("/submit", dependencies=csrf, responses=action_responses(404, 409, 429, 502, 503))
    def submit(request: Request, paper: str = Form("")) -> Response:
        """Put a paper on today's list by arXiv id or URL (metadata fetched from arXiv)."""
        user = security.require_user(request)
        try:
            if not allow_attempt(store, f"submit:{user.id}", *SUBMISSIONS_PER_HOUR):
                raise ActionError("at most 20 submissions an hour: try again later", 429)
            found = submissions.submit(user.id, paper)
        except (ActionError, SourceError) as exc:
            status = exc.status if isinstance(exc, ActionError) else 502
            said = str(exc)
            if isinstance(exc, SourceError) and not isinstance(exc, MissingPaper):
                # The detail (URL, error, attempts) is the operator's: in the log.
                log.warning("submission of %r: arXiv unreachable: %s", paper[:100], exc)
                said = "arXiv cannot be reached just now. Please try again in a few minutes."
            if wants_json(request):
                return JSONResponse({"error": said}, status_code=status)
            return templates.TemplateResponse(
                request,
                "submit.html",
                {"error": said, "paper": paper, "max_age": submissions.max_age.days},
                status_code=status,
            )
        return done(request, f"/papers/{found.arxiv_id}", found.to_json())

    @router.post(
        "/papers/{arxiv_id:path}/remove-submission",
        dependencies=csrf,
        responses=action_responses(404),
    )
    def remove_submission(request: Request, arxiv_id: str) -> Response:
        """Admin: take a paper submitted here off the daily lists."""
        security.require_admin(request)
        removed = run_action(store, lambda conn: community.remove_submission(conn, arxiv_id))
        return done(request, f"/papers/{arxiv_id}", {"paper": arxiv_id, "removed": removed})

    # --- collections ---

    def collection_page(request: Request, collection_id: int, suffix: str) -> Response:
        viewer = security.user(request)
        try:
            with store.read() as conn:
                shown = collection_service.get_collection(
                    conn, collection_id, viewer.id if viewer else None
                )
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        if suffix == ".json":
            return JSONResponse(shown.to_json())
        if suffix == ".bib":
            return Response(bibtex_many(shown.papers), media_type=BIBTEX_MEDIA_TYPE)
        return templates.TemplateResponse(
            request,
            "collection.html",
            {
                "collection": shown,
                "mine": viewer is not None and viewer.id == shown.owner_id,
                "voted": security.voted_among(request, [p.arxiv_id for p in shown.papers]),
            },
        )

    @router.get(
        "/collections/{collection_id}.json",
        responses={**answers(schemas.Collection), **errors(404)},
        dependencies=cache,
    )
    def collection_json(request: Request, collection_id: RowId) -> Response:
        """A collection and its papers (a private one only to its owner)."""
        return collection_page(request, collection_id, ".json")

    @router.get(
        "/collections/{collection_id}.bib",
        response_class=Response,
        responses={**AS_BIBTEX, **errors(404)},
        dependencies=cache,
    )
    def collection_bib(request: Request, collection_id: RowId) -> Response:
        """BibTeX of every paper in a collection."""
        return collection_page(request, collection_id, ".bib")

    @router.get("/collections/{collection_id}", include_in_schema=False, dependencies=cache)
    def collection(request: Request, collection_id: RowId) -> Response:
        return collection_page(request, collection_id, "")

    @router.post("/collections", dependencies=csrf, responses=action_responses(404))
    def new_collection(
        request: Request,
        name: str = Form(""),
        description: str = Form(""),
        public: bool = Form(False),
        paper: str = Form(""),
    ) -> Response:
        """Make a collection; with `paper`, put that paper in it."""
        user = security.require_user(request)

        def act(conn: Any) -> int:
            made = collection_service.create_collection(conn, user.id, name, description, public)
            if paper:
                collection_service.add_paper(conn, made, user.id, paper)
            return made

        made = run_action(store, act)
        return done(request, f"/collections/{made}", {"id": made})

    @router.post("/collections/items", dependencies=csrf, responses=action_responses(404))
    def add_item(
        request: Request, collection: FormRowId, paper: str = Form(""), next: str = Form("")
    ) -> Response:
        """Put a paper into one of your collections."""
        user = security.require_user(request)
        collection_id = collection
        added = run_action(
            store, lambda conn: collection_service.add_paper(conn, collection_id, user.id, paper)
        )
        return done(request, next or f"/collections/{collection_id}", {"added": added})

    @router.post(
        "/collections/{collection_id}/items/remove",
        dependencies=csrf,
        responses=action_responses(404),
    )
    def remove_item(request: Request, collection_id: RowId, paper: str = Form("")) -> Response:
        user = security.require_user(request)
        removed = run_action(
            store, lambda conn: collection_service.remove_paper(conn, collection_id, user.id, paper)
        )
        return done(request, f"/collections/{collection_id}", {"removed": removed})

    @router.post(
        "/collections/{collection_id}/edit", dependencies=csrf, responses=action_responses(404)
    )
    def edit_collection(
        request: Request,
        collection_id: RowId,
        name: str = Form(""),
        description: str = Form(""),
        public: bool = Form(False),
    ) -> Response:
        user = security.require_user(request)
        run_action(
            store,
            lambda conn: collection_service.update_collection(
                conn, collection_id, user.id, name, description, public
            ),
        )
        return done(request, f"/collections/{collection_id}", {"id": collection_id})

    @router.post(
        "/collections/{collection_id}/delete", dependencies=csrf, responses=action_responses(404)
    )
    def delete_collection(request: Request, collection_id: RowId) -> Response:
        user = security.require_user(request)
        run_action(
            store, lambda conn: collection_service.delete_collection(conn, collection_id, user.id)
        )
        return done(request, f"/users/{user.username}", {"deleted": collection_id})

    # --- user pages ---

    @router.get(
        "/users/{name}.json",
        responses={**answers(schemas.UserPage), **errors(404)},
        dependencies=cache,
    )
    def user_json(request: Request, name: str) -> Response:
        """A reader's submissions, votes and collections (private ones to themselves)."""
        return user_page(request, name, as_json=True)

    @router.get("/users/{name}", include_in_schema=False, dependencies=cache)
    def user_html(request: Request, name: str) -> Response:
        return user_page(request, name, as_json=False)

    def user_page(request: Request, name: str, as_json: bool) -> Response:
        viewer = security.user(request)
        with store.read() as conn:
            shown = user_by_name(conn, name)
            if shown is None:
                raise HTTPException(404, "no such user")
            own = viewer is not None and viewer.id == shown.id
            page: dict[str, Any] = {
                "username": shown.username,
                "submitted": community.submitted_by(conn, shown.id),
                "voted": community.voted_by(conn, shown.id),
                "collections": collection_service.collections_of(conn, shown.id, own),
            }
        if as_json:
            return JSONResponse(
                {
                    "username": page["username"],
                    "submitted": [p.arxiv_id for p in page["submitted"]],
                    "voted": [p.arxiv_id for p in page["voted"]],
                    "collections": [
                        {k: v for k, v in c.to_json().items() if k != "papers"}
                        for c in page["collections"]
                    ],
                }
            )
        return templates.TemplateResponse(request, "user.html", {**page, "own": own})

    return router


def my_collections(store: Store, user_id: int) -> list[CollectionView]:
    with store.engine.connect() as conn:
        return collection_service.collections_of(conn, user_id, include_private=True)
