"""The site. Every page has a JSON twin at the same path plus `.json`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from paperfeed.config import Settings
from paperfeed.services.community import Submissions
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.recommend import Recommender
from paperfeed.services.search import SearchEngine
from paperfeed.sources.arxiv_api import fetch_paper
from paperfeed.sources.http import HttpClient, interactive
from paperfeed.store import Store
from paperfeed.store.secrets import get_or_create_secret
from paperfeed.web.accounts import RateLimits, create_accounts_router
from paperfeed.web.actions import wants_json
from paperfeed.web.authors import create_authors_router
from paperfeed.web.community import create_community_router
from paperfeed.web.edge import describe_api
from paperfeed.web.feeds import create_feeds_router
from paperfeed.web.for_you import create_for_you_router
from paperfeed.web.head import HeadAsGet
from paperfeed.web.hf_api import create_router
from paperfeed.web.library import UploadLimit, create_library_router
from paperfeed.web.map import create_map_router
from paperfeed.web.observability import (
    Metrics,
    ObservabilityMiddleware,
    Readiness,
    create_observability_router,
)
from paperfeed.web.outbox import create_outbox_router
from paperfeed.web.page_cache import PageCache
from paperfeed.web.pages import create_pages_router
from paperfeed.web.routing import ReplicaRouting
from paperfeed.web.security import BrowserSecurityMiddleware, Security
from paperfeed.web.subscriptions import create_subscriptions_router
from paperfeed.web.templating import make_templates
from paperfeed.web.trends import create_trends_router

HERE = Path(__file__).parent


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


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, as routes of the app itself (see edge.site_router: they carry
    what every route of the site needs)."""
    app.router.routes.extend(router.routes)


def create_app(
    store: Store,
    search: SearchEngine | None = None,
    jobs: Sequence[PeriodicJob] = (),
    settings: Settings | None = None,
    rate_limits: RateLimits | None = None,
) -> FastAPI:
    """The site on `store`. Search pages need `search`; `jobs` (the background indexer,
    the updater) run while the app serves; `settings` gives the base URL, arXiv and mail servers, and the
    submission window, and how long anonymous pages and day lists are kept (page_cache_s,
    0: not at all)."""
    settings = settings or Settings()
    arxiv = HttpClient(interactive(settings.http))
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
    )
    app.openapi = describe_api(app)  # type: ignore[method-assign]
    # Order: the cache sits inside, so that each new browser still gets its CSRF cookie,
    # and inside compression, so that it keeps one plain copy whatever a client accepts.
    if settings.page_cache_s > 0:
        app.add_middleware(PageCache, ttl_s=settings.page_cache_s)
    if store.replicas:  # outside the cache: a reader who just wrote skips both
        app.add_middleware(ReplicaRouting)
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BrowserSecurityMiddleware)
    app.add_middleware(UploadLimit, max_bytes=settings.import_max_bytes)
    # Outermost: every request gets its id, log line and count, cached or not.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, routes=app.router.routes)
    add_routes(app, create_observability_router(metrics, readiness, settings.metrics_allow))
    security = Security(store, get_or_create_secret(store.engine, "site"), settings.base_url)
    templates = make_templates(security)
    add_routes(
        app,
        create_accounts_router(store, settings, security, templates, rate_limits or RateLimits()),
    )
    # Before the community router: its /collections/{id} would take /collections/{id}.ris.
    add_routes(app, create_library_router(store, search, security, templates, settings))
    add_routes(app, create_community_router(store, security, templates, submissions))
    recommender = Recommender(store, search) if search is not None else None
    add_routes(app, create_for_you_router(store, security, templates, recommender))
    add_routes(app, create_subscriptions_router(store, settings, security, templates))
    add_routes(app, create_outbox_router(settings, security, templates))
    add_routes(app, create_router(store, search))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    add_routes(app, create_feeds_router(store, search, settings.base_url))
    add_routes(app, create_authors_router(store, security, templates, settings.base_url))
    add_routes(app, create_pages_router(store, search, security, templates, settings.page_cache_s))
    add_routes(app, create_trends_router(store, search, templates, settings.today))
    add_routes(app, create_map_router(store, search, templates))

    def error_page(
        request: Request, status: int, detail: str, headers: dict[str, str] | None = None
    ) -> Response:
        """JSON for data routes and scripts, the error page for browsers; a signed-out
        browser asking for a page of an account goes to log in, and comes back after."""
        path = request.url.path
        if path.endswith(".json") or path.startswith("/api/") or wants_json(request):
            return JSONResponse({"error": detail}, status_code=status, headers=headers)
        if status == 401 and request.method in ("GET", "HEAD"):
            back = f"{path}?{request.url.query}" if request.url.query else path
            return RedirectResponse(f"/login?{urlencode({'next': back})}", status_code=303)
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
