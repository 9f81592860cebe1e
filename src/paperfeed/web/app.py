"""The site. Every page has a JSON twin at the same path plus `.json`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Connection
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperfeed.config import Settings
from paperfeed.query import Filters, QueryError, compose, split_filters
from paperfeed.services import trending as trending_service
from paperfeed.services.cite import bibtex
from paperfeed.services.community import Submissions, comments_on, voted_among
from paperfeed.services.daily import daily_items, period
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.paper_views import DayListing, PaperView, day_listing, get_paper
from paperfeed.services.recommend import Recommender
from paperfeed.services.search import SORTS, SearchEngine
from paperfeed.services.trending import trending_papers
from paperfeed.sources.arxiv_api import fetch_paper
from paperfeed.sources.http import HttpClient
from paperfeed.store import Store
from paperfeed.store.secrets import get_or_create_secret
from paperfeed.web import schemas
from paperfeed.web.accounts import RateLimits, create_accounts_router
from paperfeed.web.actions import wants_json
from paperfeed.web.community import create_community_router, my_collections
from paperfeed.web.edge import (
    AS_BIBTEX,
    BIBTEX_MEDIA_TYPE,
    MAX_SEARCH_PAGE,
    SEARCH_CATEGORIES,
    SEARCH_PAGE_SIZE,
    Day,
    MonthParam,
    SearchCategory,
    SearchDate,
    SearchMode,
    SearchPage,
    SearchSort,
    SearchText,
    WeekParam,
    describe_api,
    errors,
    refuse_forbidden_chars,
)
from paperfeed.web.feeds import create_feeds_router
from paperfeed.web.for_you import create_for_you_router
from paperfeed.web.hf_api import create_router
from paperfeed.web.observability import (
    Metrics,
    ObservabilityMiddleware,
    Readiness,
    create_observability_router,
)
from paperfeed.web.page_cache import PageCache
from paperfeed.web.schemas import answers
from paperfeed.web.searching import search_or_http_error
from paperfeed.web.security import BrowserSecurityMiddleware, Security
from paperfeed.web.subscriptions import create_subscriptions_router
from paperfeed.web.templating import make_templates

HERE = Path(__file__).parent
DaySort = Literal["votes", "time"]
trending_doc = (trending_service.__doc__ or "").strip()


def _listing_json(listing: DayListing) -> dict[str, Any]:
    return {
        "day": listing.day.isoformat() if listing.day else None,
        "kind": listing.kind,
        "previous_day": listing.previous_day.isoformat() if listing.previous_day else None,
        "next_day": listing.next_day.isoformat() if listing.next_day else None,
        "papers": [p.to_json() for p in listing.papers],
    }


def server_config(
    app: FastAPI, host: str, port: int, trusted_proxies: tuple[str, ...], **options: Any
) -> uvicorn.Config:
    """How uvicorn serves the site. X-Forwarded-For/-Proto are believed only from
    `trusted_proxies`: uvicorn's own default trusts them from 127.0.0.1, so behind a local
    proxy that passes a client's header through, anyone could choose their address (and
    with it their rate-limit bucket). Its own log lines go through paperfeed.logs' format
    (log_config=None) and the request log replaces its access log."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies),
        log_config=None,
        access_log=False,
        **options,
    )


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
    metrics = Metrics(store, search)
    readiness = Readiness(store, search)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for job in jobs:
            job.start()
        yield
        for job in jobs:
            job.close()
        readiness.close()
        arxiv.close()

    # No Swagger/ReDoc pages: they load their scripts from a CDN. The spec is /openapi.json.
    # The OpenAPI description covers what answers data (JSON, Atom, BibTeX); HTML pages
    # and forms are left out of it. Any request can be refused with a 400 (see edge.py).
    app = FastAPI(
        title="paperfeed",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(refuse_forbidden_chars)],
        responses=errors(400),
    )
    app.openapi = describe_api(app)  # type: ignore[method-assign]
    # Order: the cache sits inside, so that each new browser still gets its CSRF cookie.
    if page_cache_ttl_s > 0:
        app.add_middleware(PageCache, ttl_s=page_cache_ttl_s)
    app.add_middleware(BrowserSecurityMiddleware)
    # Outermost: every request gets its id, log line and count, cached or not.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, routes=app.router.routes)
    app.include_router(create_observability_router(metrics, readiness, settings.metrics_allow))
    security = Security(store, get_or_create_secret(store.engine, "site"), settings.base_url)
    templates = make_templates(security)
    app.include_router(
        create_accounts_router(store, settings, security, templates, rate_limits or RateLimits())
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
        sort: DaySort = "votes",
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(
        request: Request, week: WeekParam = None, month: MonthParam = None, sort: DaySort = "votes"
    ) -> Response:
        return render_day(request, None, False, week, month, sort)

    @app.get("/index.json", responses=answers(schemas.DayPage))
    def home_json(
        request: Request, week: WeekParam = None, month: MonthParam = None, sort: DaySort = "votes"
    ) -> Response:
        """The latest day's papers, or every paper featured in an ISO week or a month."""
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

    @app.get("/trending", response_class=HTMLResponse, include_in_schema=False)
    def trending_page(request: Request) -> Response:
        return render_trending(request, as_json=False)

    @app.get("/trending.json", responses=answers(schemas.TrendingPage))
    def trending_json(request: Request) -> Response:
        return render_trending(request, as_json=True)

    @app.get("/about", response_class=HTMLResponse, include_in_schema=False)
    def about(request: Request) -> Response:
        coverage = search.semantic_coverage() if search is not None else None
        return templates.TemplateResponse(
            request, "about.html", {"formula": trending_doc, "coverage": coverage}
        )

    def run_search(
        request: Request, q: str, mode: str, page: int, sort: str, as_json: bool
    ) -> Response:
        per_page = SEARCH_PAGE_SIZE
        offset = (page - 1) * per_page
        results = search_or_http_error(search, q, mode, per_page, offset, sort)
        coverage = search.semantic_coverage() if search is not None and mode != "keyword" else None
        if as_json:
            return JSONResponse(
                {
                    "query": q,
                    "mode": mode,
                    "sort": sort,
                    "page": page,
                    "total": results.total,
                    "semantic_available": results.semantic_available,
                    "semantic_coverage": coverage.to_json() if coverage else None,
                    "did_you_mean": results.did_you_mean,
                    "hits": [h.to_json() for h in results.hits],
                }
            )
        if results.query.arxiv_id and results.hits:  # an id or URL: straight to the paper
            return RedirectResponse(f"/papers/{results.hits[0].paper.arxiv_id}", 303)
        text, filters = split_filters(q)
        return templates.TemplateResponse(
            request,
            "search.html",
            {
                "q": q,
                "text": text,
                "filters": filters,
                "categories": SEARCH_CATEGORIES,
                "mode": mode,
                "sort": sort,
                "sorts": SORTS,
                "page": page,
                "results": results,
                "coverage": coverage,
                "per_page": per_page,
                "last_page": MAX_SEARCH_PAGE,
                "voted": voted_of(request, [h.paper.arxiv_id for h in results.hits]),
            },
        )

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request,
        q: SearchText = "",
        mode: SearchMode = "hybrid",
        page: SearchPage = 1,
        sort: SearchSort = "relevance",
        form: Annotated[bool, Query(description="sent by the page's form")] = False,
        cat: SearchCategory = "",
        since: SearchDate = "",
        until: SearchDate = "",
        code: bool = False,
    ) -> Response:
        if form:  # the form's controls become the query's own filters, in its URL
            query = compose(q, Filters(category=cat, since=since, until=until, has_code=code))
            target = "/search?" + urlencode({"q": query, "mode": mode, "sort": sort})
            return RedirectResponse(target, 303)
        return run_search(request, q, mode, page, sort, as_json=False)

    @app.get("/search.json", responses={**answers(schemas.SearchPage), **errors(503)})
    def search_json(
        request: Request,
        q: SearchText = "",
        mode: SearchMode = "hybrid",
        page: SearchPage = 1,
        sort: SearchSort = "relevance",
    ) -> Response:
        """Search (keyword, semantic or both fused), 20 results a page; sort by relevance,
        or the best 100 matches by date or votes."""
        return run_search(request, q, mode, page, sort, as_json=True)

    def render_date(request: Request, day: str, as_json: bool) -> Response:
        try:
            parsed = date.fromisoformat(day)
        except ValueError as exc:
            raise HTTPException(400, f"not a date (YYYY-MM-DD): {day!r}") from exc
        return render_day(request, parsed, as_json)

    # The .json and .bib twins come first: `{arxiv_id:path}` would swallow the suffix.
    @app.get("/papers/date/{day}.json", responses={**answers(schemas.DayPage), **errors(404)})
    def papers_on_json(request: Request, day: Day) -> Response:
        """A day's papers: its community list, else arXiv's announcements of that day."""
        return render_date(request, day, as_json=True)

    @app.get("/papers/date/{day}", response_class=HTMLResponse, include_in_schema=False)
    def papers_on(request: Request, day: Day) -> Response:
        return render_date(request, day, as_json=False)

    def paper_or_404(conn: Connection, arxiv_id: str) -> PaperView:
        found = get_paper(conn, arxiv_id)
        if found is None:
            raise HTTPException(404, "no such paper here")
        return found

    @app.get(
        "/papers/{arxiv_id:path}.bib",
        response_class=Response,
        responses={**AS_BIBTEX, **errors(404)},
    )
    def paper_bib(arxiv_id: str) -> Response:
        """The paper as a BibTeX entry."""
        with store.engine.connect() as conn:
            found = paper_or_404(conn, arxiv_id)
        return Response(bibtex(found), media_type=BIBTEX_MEDIA_TYPE)

    @app.get(
        "/papers/{arxiv_id:path}.json", responses={**answers(schemas.PaperPage), **errors(404)}
    )
    def paper_json(request: Request, arxiv_id: str) -> Response:
        """A paper with its similar papers and its comments."""
        return render_paper(request, arxiv_id, as_json=True)

    @app.get("/papers/{arxiv_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def paper(request: Request, arxiv_id: str) -> Response:
        return render_paper(request, arxiv_id, as_json=False)

    def render_paper(request: Request, arxiv_id: str, as_json: bool) -> Response:
        with store.engine.connect() as conn:
            found = paper_or_404(conn, arxiv_id)
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

    def error_page(
        request: Request, status: int, detail: str, headers: dict[str, str] | None = None
    ) -> Response:
        """JSON for data routes and scripts, the error page for browsers."""
        path = request.url.path
        if path.endswith(".json") or path.startswith("/api/") or wants_json(request):
            return JSONResponse({"error": detail}, status_code=status, headers=headers)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "detail": detail},
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # exc.headers carries e.g. the Allow header of a 405.
        return error_page(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """A parameter out of its bounds or type: 404 when it is part of the path (it names
        nothing that can exist), else 400. The message names the parameter, not its value."""
        found = list(exc.errors())
        status = 404 if any(e["loc"][:1] == ("path",) for e in found) else 400
        first = found[0] if found else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"][1:]) or "request"
        return error_page(request, status, f"{where}: {first['msg']}")

    return app
