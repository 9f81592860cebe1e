"""The "For you" page: recommendations with their reasons, "not interested", and the
interests a reader states to start with (categories, authors, papers, pasted text)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.services import interests
from paperfeed.services.community import voted_among
from paperfeed.services.recommend import Recommender
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.actions import done, run_action
from paperfeed.web.edge import RowId, action_responses, errors, site_router
from paperfeed.web.schemas import answers
from paperfeed.web.security import Security

PAGE_SIZE = 30


def create_for_you_router(
    store: Store,
    security: Security,
    templates: Jinja2Templates,
    recommender: Recommender | None,
) -> APIRouter:
    router = site_router(tags=["for you"])
    csrf = [Depends(security.require_csrf)]

    def page(request: Request, as_json: bool) -> Response:
        user = security.user(request)
        if user is None:
            if as_json:
                raise HTTPException(401, "log in first")
            return templates.TemplateResponse(request, "for_you.html", {"recommended": []})
        found = recommender.for_user(user.id, PAGE_SIZE) if recommender is not None else []
        if as_json:
            return JSONResponse({"papers": [r.to_json() for r in found]})
        with store.engine.connect() as conn:
            stated = interests.seeds_of(conn, user.id)
            voted = voted_among(conn, user.id, [r.paper.arxiv_id for r in found])
        return templates.TemplateResponse(
            request,
            "for_you.html",
            {
                "recommended": found,
                "seeds": stated,
                "voted": voted,
                "kinds": interests.SEED_KINDS,
                "available": recommender is not None,
                "coverage": recommender.search.semantic_coverage() if recommender else None,
            },
        )

    @router.get("/for-you", include_in_schema=False)
    def for_you_page(request: Request) -> Response:
        return page(request, as_json=False)

    @router.get("/for-you.json", responses={**answers(schemas.ForYouPage), **errors(401)})
    def for_you_json(request: Request) -> Response:
        """Your recommendations, best first, each with `because`: the liked papers (or
        stated interests) it is closest to."""
        return page(request, as_json=True)

    @router.post(
        "/papers/{arxiv_id:path}/not-interested",
        dependencies=csrf,
        responses=action_responses(404),
    )
    def not_interested(request: Request, arxiv_id: str, marked: bool = Form(True)) -> Response:
        """Mark a paper "not interested" (marked=false takes the mark back)."""
        user = security.require_user(request)
        run_action(
            store, lambda conn: interests.mark_not_interested(conn, user.id, arxiv_id, marked)
        )
        return done(request, "/for-you", {"paper": arxiv_id, "not_interested": marked})

    @router.post("/for-you/interests", dependencies=csrf, responses=action_responses(404))
    def add_interest(
        request: Request,
        kind: Annotated[interests.SeedKind, Form()],
        value: str = Form(""),
    ) -> Response:
        """State an interest: kind `category` (cs.CL), `author`, `paper` (arXiv id or
        URL) or `text` (an abstract or any passage)."""
        user = security.require_user(request)
        added = run_action(store, lambda conn: interests.add_seed(conn, user.id, kind, value))
        return done(request, "/for-you", {"added": added})

    @router.post(
        "/for-you/interests/{seed_id}/remove",
        dependencies=csrf,
        responses=action_responses(404),
    )
    def remove_interest(request: Request, seed_id: RowId) -> Response:
        user = security.require_user(request)
        removed = run_action(store, lambda conn: interests.remove_seed(conn, user.id, seed_id))
        return done(request, "/for-you", {"removed": removed})

    return router
