"""The site. Every page has a JSON twin at the same path plus `.json`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperfeed.config import Settings
from paperfeed.services import trending as trending_service
from paperfeed.services.cite import bibtex
from paperfeed.services.community import Submissions, comments_on, voted_among
from paperfeed.services.daily import daily_items, period
from paperfeed.services.feed import DayListing, day_listing, get_paper
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.query import QueryError
from paperfeed.services.recommend import Recommender
from paperfeed.services.search import SearchEngine
from paperfeed.services.trending import trending_papers
from paperfeed.sources.arxiv_api import fetch_paper
from paperfeed.sources.http import HttpClient
from paperfeed.store import Store
from paperfeed.store.secrets import get_or_create_secret
from paperfeed.web.accounts import RateLimits, create_accounts_router
from paperfeed.web.actions import wants_json
from paperfeed.web.community import create_community_router, my_collections
from paperfeed.web.feeds import create_feeds_router
from paperfeed.web.for_you import create_for_you_router
from paperfeed.web.hf_api import create_router
from paperfeed.web.page_cache import PageCache
from paperfeed.web.searching import search_or_http_error
from paperfeed.web.security import BrowserSecurityMiddleware, Security
from paperfeed.web.subscriptions import create_subscriptions_router
from paperfeed.web.templating import make_templates

HERE = Path(__file__).parent
trending_doc = (trending_service.__doc__ or "").strip()


def _listing_json(listing: DayListing) -> dict[str, Any]:
    return {
        "day": listing.day.isoformat() if listing.day else None,
        "kind": listing.kind,
        "previous_day": listing.previous_day.isoformat() if listing.previous_day else None,
        "next_day": listing.next_day.isoformat() if listing.next_day else None,
        "papers": [p.to_json() for p in listing.papers],
    }


def create_app(
    store: Store,
    search: SearchEngine | None = None,
    jobs: Sequence[PeriodicJob] = (),
    settings: Settings | None = None,
    rate_limits: RateLimits | None = None,
    page_cache_ttl_s: float = 30.0,
) -> FastAPI:
    """The site on `store`. Search pages need `search`; `jobs` (the background indexer,
    the updater) run while the app serves; `settings` gives the base URL, arXiv and mail servers, and the
    submission window. `page_cache_ttl_s`: how long anonymous pages are reused (0: off)."""
    settings = settings or Settings()
    arxiv = HttpClient(settings.http)
    submissions = Submissions(
        store,
        lambda arxiv_id: fetch_paper(arxiv, settings.arxiv_api_url, arxiv_id),
        settings.submission_max_age_days,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for job in jobs:
            job.start()
        yield
        for job in jobs:
            job.close()
        arxiv.close()

    # No Swagger/ReDoc pages: they load their scripts from a CDN. The spec is /openapi.json.
    app = FastAPI(title="paperfeed", docs_url=None, redoc_url=None, lifespan=lifespan)
    # Order: the cache sits inside, so that each new browser still gets its CSRF cookie.
    if page_cache_ttl_s > 0:
        app.add_middleware(PageCache, ttl_s=page_cache_ttl_s)
    app.add_middleware(BrowserSecurityMiddleware)
    security = Security(store, get_or_create_secret(store.engine, "site"), settings.base_url)
    templates = make_templates(security)
    app.include_router(
        create_accounts_router(store, security, templates, rate_limits or RateLimits())
    )
    app.include_router(create_community_router(store, security, templates, submissions))
    recommender = Recommender(store, search) if search is not None else None
    app.include_router(create_for_you_router(store, security, templates, recommender))
    app.include_router(create_subscriptions_router(store, settings, security, templates))
    app.include_router(create_router(store, search))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    app.include_router(create_feeds_router(store, search, settings.base_url))

    def voted_of(request: Request, arxiv_ids: list[str]) -> set[str]:
        user = security.user(request)
        if user is None:
            return set()
        with store.engine.connect() as conn:
            return voted_among(conn, user.id, arxiv_ids)

    def render_day(
        request: Request,
        day: date | None,
        as_json: bool,
        week: str | None = None,
        month: str | None = None,
        sort: str = "votes",
    ) -> Response:
        """A day's list; with week= or month=, every paper featured in that period."""
        heading = None
        with store.engine.connect() as conn:
            if week or month:
                try:
                    items = daily_items(
                        conn,
                        period(None, week, month),
                        sort="upvotes" if sort == "votes" else "publishedAt",
                        limit=100,
                    )
                except QueryError as exc:
                    raise HTTPException(400, str(exc)) from exc
                listing = DayListing(None, "community", [i.paper for i in items], None, None)
                heading = f"Daily papers of {week or month}"
            else:
                listing = day_listing(conn, day)
                if sort == "time":
                    listing.papers.sort(key=lambda p: p.published_at or datetime.min, reverse=True)
        if as_json:
            return JSONResponse({**_listing_json(listing), "period": week or month})
        return templates.TemplateResponse(
            request,
            "day.html",
            {
                "listing": listing,
                "heading": heading,
                "sort": sort,
                "voted": voted_of(request, [p.arxiv_id for p in listing.papers]),
            },
        )

    @app.get("/", response_class=HTMLResponse)
    def home(
        request: Request, week: str | None = None, month: str | None = None, sort: str = "votes"
    ) -> Response:
        return render_day(request, None, False, week, month, sort)

    @app.get("/index.json")
    def home_json(
        request: Request, week: str | None = None, month: str | None = None, sort: str = "votes"
    ) -> Response:
        return render_day(request, None, True, week, month, sort)

    def render_trending(request: Request, as_json: bool) -> Response:
        with store.engine.connect() as conn:
            ranked = trending_papers(conn, 50)
        if as_json:
            return JSONResponse(
                {
                    "papers": [
                        {**p.to_json(), "trending_score": round(score, 4)} for p, score in ranked
                    ]
                }
            )
        return templates.TemplateResponse(
            request,
            "trending.html",
            {"ranked": ranked, "voted": voted_of(request, [p.arxiv_id for p, _ in ranked])},
        )

    @app.get("/trending", response_class=HTMLResponse)
    def trending_page(request: Request) -> Response:
        return render_trending(request, as_json=False)

    @app.get("/trending.json")
    def trending_json(request: Request) -> Response:
        return render_trending(request, as_json=True)

    @app.get("/about", response_class=HTMLResponse)
    def about(request: Request) -> Response:
        return templates.TemplateResponse(request, "about.html", {"formula": trending_doc})

    def run_search(request: Request, q: str, mode: str, page: int, as_json: bool) -> Response:
        per_page = 20
        offset = (max(page, 1) - 1) * per_page
        results = search_or_http_error(search, q, mode, per_page, offset)
        if as_json:
            return JSONResponse(
                {
                    "query": q,
                    "mode": mode,
                    "page": page,
                    "semantic_available": results.semantic_available,
                    "hits": [h.to_json() for h in results.hits],
                }
            )
        return templates.TemplateResponse(
            request,
            "search.html",
            {
                "q": q,
                "mode": mode,
                "page": page,
                "results": results,
                "per_page": per_page,
                "voted": voted_of(request, [h.paper.arxiv_id for h in results.hits]),
            },
        )

    @app.get("/search", response_class=HTMLResponse)
    def search_page(request: Request, q: str = "", mode: str = "hybrid", page: int = 1) -> Response:
        return run_search(request, q, mode, page, as_json=False)

    @app.get("/search.json")
    def search_json(request: Request, q: str = "", mode: str = "hybrid", page: int = 1) -> Response:
        return run_search(request, q, mode, page, as_json=True)

    @app.get("/papers/date/{day}", response_class=HTMLResponse)
    def papers_on(request: Request, day: str) -> Response:
        as_json = day.endswith(".json")
        try:
            parsed = date.fromisoformat(day.removesuffix(".json"))
        except ValueError as exc:
            raise HTTPException(400, f"not a date (YYYY-MM-DD): {day[:40]!r}") from exc
        return render_day(request, parsed, as_json)

    @app.get("/papers/{arxiv_id:path}", response_class=HTMLResponse)
    def paper(request: Request, arxiv_id: str) -> Response:
        as_json, as_bib = arxiv_id.endswith(".json"), arxiv_id.endswith(".bib")
        with store.engine.connect() as conn:
            found = get_paper(conn, arxiv_id.removesuffix(".json").removesuffix(".bib"))
            if found is None:
                raise HTTPException(404, "no such paper here")
            if as_bib:
                return Response(bibtex(found), media_type="application/x-bibtex; charset=utf-8")
            discussion = comments_on(conn, found.id)
        similar = search.similar(found.arxiv_id, limit=5) if search is not None else []
        if as_json:
            return JSONResponse(
                {
                    **found.to_json(),
                    "similar": [h.paper.arxiv_id for h in similar],
                    "comments": [c.to_json() for c in discussion],
                }
            )
        user = security.user(request)
        return templates.TemplateResponse(
            request,
            "paper.html",
            {
                "paper": found,
                "similar": similar,
                "bibtex": bibtex(found),
                "comments": discussion,
                "voted": voted_of(request, [found.arxiv_id]),
                "collections": my_collections(store, user.id) if user else [],
            },
        )

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if path.endswith(".json") or path.startswith("/api/") or wants_json(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
        )

    return app
