"""Author and category pages, following them, the personal feed, and author claims with
their admin queue. Actions are CSRF-checked POSTs that work without JavaScript (a
redirect back) and answer JSON when asked (`Accept: application/json`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.services import claims as claim_service
from paperfeed.services import follows as follow_service
from paperfeed.services.authors import author_page
from paperfeed.services.paper_views import papers_in_category
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.actions import done, run_action, wants_json
from paperfeed.web.edge import Category, RowId, action_responses, errors, site_router
from paperfeed.web.feeds import AS_ATOM, ATOM_MEDIA_TYPE, atom
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.security import Security
from paperfeed.web.twins import Page, twin_pages

AuthorName = Annotated[str, Path(min_length=1, max_length=200)]
FeedToken = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def author_url(name: str) -> str:
    return f"/authors/{quote(name, safe='')}"


def create_authors_router(
    store: Store, security: Security, templates: Jinja2Templates, base_url: str
) -> APIRouter:
    router = site_router(tags=["authors"])
    csrf = [Depends(security.require_csrf)]

    def followed(request: Request, kind: str, value: str) -> bool:
        user = security.user(request)
        if user is None:
            return False
        with store.engine.connect() as conn:
            held = follow_service.following(conn, user.id)
        return follow_service.Follow(kind, value) in held  # type: ignore[arg-type]

    @twin_pages(router, templates, "/authors/{name}", schemas.AuthorPage, errors(404))
    def author(request: Request, name: AuthorName) -> Page:
        """An author's papers (newest first, the first 100), co-authors, categories over
        time, total votes, the name's written variants, whether the name is ambiguous
        (and with whom), and the readers whose claim to it an admin approved."""
        with store.engine.connect() as conn:
            found = author_page(conn, name)
        if found is None:
            raise HTTPException(404, "no paper here has an author of that name")
        return Page(
            "author.html",
            found.to_json(),
            {
                "author": found,
                "listed": found.papers,
                "following": followed(request, "author", found.name),
                "voted": security.voted_among(request, [p.arxiv_id for p in found.papers]),
            },
        )

    @twin_pages(router, templates, "/categories/{category}", schemas.CategoryPage, errors(404))
    def category(request: Request, category: Category) -> Page:
        """The newest 100 papers in an arXiv category (primary or cross-listed)."""
        with store.engine.connect() as conn:
            found = papers_in_category(conn, category, 100)
        return Page(
            "category.html",
            {"category": category, "papers": [p.to_json() for p in found]},
            {
                "listed": found,
                "following": followed(request, "category", category),
                "voted": security.voted_among(request, [p.arxiv_id for p in found]),
            },
        )

    def feed(request: Request, title: str, found: list[Any]) -> Response:
        body = atom(title, f"{base_url}{request.url.path}", f"{base_url}/", found)
        return Response(body, media_type=ATOM_MEDIA_TYPE)

    @router.get(
        "/feeds/authors/{name}.atom",
        response_class=Response,
        responses={**AS_ATOM, **errors(404)},
        dependencies=[CACHEABLE],
    )
    def author_feed(request: Request, name: AuthorName) -> Response:
        """An author's newest papers."""
        with store.engine.connect() as conn:
            found = author_page(conn, name)
        if found is None:
            raise HTTPException(404, "no paper here has an author of that name")
        return feed(request, f"paperfeed: {found.name}", found.papers[: follow_service.FEED_PAPERS])

    @router.get("/feeds/me/{token}.atom", response_class=Response, responses=errors(404))
    def personal_feed(request: Request, token: FeedToken) -> Response:
        """A reader's followed authors and categories, newest first, at a secret URL
        (made and revoked at /account/follows). Never cached: a revoked URL stops at once."""
        with store.engine.connect() as conn:
            owner = follow_service.feed_owner(conn, token)
            if owner is None:
                raise HTTPException(404, "no such feed (the link may have been revoked)")
            found = follow_service.followed_papers(conn, owner)
        response = feed(request, "paperfeed: followed authors and categories", found)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    # --- following ---

    @router.post("/follows", dependencies=csrf, responses=action_responses())
    def follow(
        request: Request,
        kind: str = Form("", max_length=20),
        value: str = Form("", max_length=200),
        next: str = Form(""),
    ) -> Response:
        """Follow an author or a category: their new papers come to For you, the digest
        and the personal feed."""
        user = security.require_user(request)
        item = run_action(store, lambda conn: follow_service.follow(conn, user.id, kind, value))
        return done(request, next or "/account/follows", {"following": True, **item.__dict__})

    @router.post("/follows/remove", dependencies=csrf, responses=action_responses())
    def unfollow(
        request: Request,
        kind: str = Form("", max_length=20),
        value: str = Form("", max_length=200),
        next: str = Form(""),
    ) -> Response:
        user = security.require_user(request)
        run_action(store, lambda conn: follow_service.unfollow(conn, user.id, kind, value))
        return done(
            request, next or "/account/follows", {"following": False, "kind": kind, "value": value}
        )

    def follows_page(request: Request, new_token: str | None = None) -> Response:
        user = security.require_user(request)
        with store.engine.connect() as conn:
            held = follow_service.following(conn, user.id)
            has_token = follow_service.has_feed_token(conn, user.id)
            claims = claim_service.claims_of_user(conn, user.id)
        if wants_json(request):
            return JSONResponse(
                {
                    "follows": [f.__dict__ for f in held],
                    "feed_token": has_token,
                    "claims": [c.to_json() for c in claims],
                    **({"feed_url": f"{base_url}/feeds/me/{new_token}.atom"} if new_token else {}),
                }
            )
        return templates.TemplateResponse(
            request,
            "follows.html",
            {
                "follows": held,
                "has_token": has_token,
                "feed_url": f"{base_url}/feeds/me/{new_token}.atom" if new_token else None,
                "claims": claims,
            },
        )

    @router.get("/account/follows", include_in_schema=False)
    def my_follows(request: Request) -> Response:
        return follows_page(request)

    @router.post("/account/feed-token", dependencies=csrf, responses=action_responses())
    def make_feed_token(request: Request) -> Response:
        """A new secret URL for the personal feed, shown once (the old one stops working)."""
        user = security.require_user(request)
        token = run_action(store, lambda conn: follow_service.new_feed_token(conn, user.id))
        return follows_page(request, token)

    @router.post("/account/feed-token/revoke", dependencies=csrf, responses=action_responses())
    def revoke_feed_token(request: Request) -> Response:
        user = security.require_user(request)
        run_action(store, lambda conn: follow_service.revoke_feed_token(conn, user.id))
        return done(request, "/account/follows", {"feed_token": False})

    # --- claims ---

    @router.post(
        "/papers/{arxiv_id:path}/claim",
        dependencies=csrf,
        responses=action_responses(404, 409),
    )
    def claim(
        request: Request,
        arxiv_id: str,
        author: str = Form(max_length=1000),
        note: str = Form("", max_length=claim_service.MAX_NOTE_CHARS),
    ) -> Response:
        """Claim to be `author` (as the paper lists the name) of this paper: an admin
        approves or rejects it at /admin/claims."""
        user = security.require_user(request)
        claim_id = run_action(
            store,
            lambda conn: claim_service.request_claim(conn, user.id, arxiv_id, author, note),
        )
        return done(request, f"/papers/{arxiv_id}", {"claim": claim_id, "status": "pending"})

    @twin_pages(
        router, templates, "/admin/claims", schemas.ClaimQueue, errors(401, 403), cacheable=False
    )
    def claim_queue(request: Request) -> Page:
        """The claims waiting for an admin, oldest first (admins only)."""
        security.require_admin(request)
        with store.engine.connect() as conn:
            waiting = claim_service.pending_claims(conn)
        return Page("claims.html", {"claims": [c.to_json() for c in waiting]}, {"queue": waiting})

    @router.post(
        "/admin/claims/{claim_id}/{decision}",
        dependencies=csrf,
        responses=action_responses(404, 409),
    )
    def decide(
        request: Request, claim_id: RowId, decision: Literal["approve", "reject"]
    ) -> Response:
        """Approve or reject a pending claim (admins only)."""
        admin = security.require_admin(request)
        status = run_action(
            store,
            lambda conn: claim_service.decide_claim(
                conn, claim_id, admin.id, decision == "approve"
            ),
        )
        return done(request, "/admin/claims", {"claim": claim_id, "status": status})

    return router
