"""/map: every embedded paper on a 2D map, its regions, today's and a search's papers.

The page draws the map with /static/map.js on a canvas (pan, zoom, click a point to open
its paper), loading the points page by page from /map.json. Without the script, a
server-drawn SVG shows the regions (each a link to a search of its words) and the
highlighted papers (each a link to the paper).
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.services.paper_map import (
    POINTS_PAGE,
    map_extent,
    map_regions_of,
    marked_points,
    point_count,
    points_page,
)
from paperfeed.services.paper_views import day_listing
from paperfeed.services.search import MAX_LIMIT, SearchEngine
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.edge import SearchText, errors, site_router
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.searching import search_or_http_error

# A search's papers highlighted on the map: its best matches, as many as one search gives.
MAX_MATCHES = MAX_LIMIT
MapPageNumber = Annotated[
    int, Query(ge=1, le=1000, description=f"page of {POINTS_PAGE:,} points, from 1")
]


def create_map_router(
    store: Store, search: SearchEngine | None, templates: Jinja2Templates
) -> APIRouter:
    router = site_router(tags=["pages"])

    def matches_of(q: str) -> list[str]:
        if not q.strip():
            return []
        results = search_or_http_error(search, q, "hybrid", MAX_MATCHES)
        return [h.paper.arxiv_id for h in results.hits]

    def today() -> list[str]:
        with store.engine.connect() as conn:
            return [p.arxiv_id for p in day_listing(conn).papers]

    @router.get(
        "/map.json",
        response_model=None,
        responses={**schemas.answers(schemas.MapPage), **errors(400, 503)},
        dependencies=[CACHEABLE],
    )
    def map_json(q: SearchText = "", page: MapPageNumber = 1) -> Response:
        """The map: its regions, today's papers, a search's best matches (`q`, in the
        search syntax), and one page of points (20,000 a page, in columns)."""
        matches = matches_of(q)
        with store.engine.connect() as conn:
            total = point_count(conn)
            width, height = map_extent(conn)
            data = {
                "total_points": total,
                "page": page,
                "pages": max(1, math.ceil(total / POINTS_PAGE)),
                "page_size": POINTS_PAGE,
                "width": round(width, 1),
                "height": round(height, 1),
                "regions": [r.to_json() for r in map_regions_of(conn)],
                "today": today(),
                "query": q,
                "matches": matches,
                "points": points_page(conn, page),
            }
        return JSONResponse(data)

    @router.get(
        "/map", response_class=HTMLResponse, include_in_schema=False, dependencies=[CACHEABLE]
    )
    def map_page(request: Request, q: SearchText = "") -> Response:
        matches = matches_of(q)
        today_ids = today()
        with store.engine.connect() as conn:
            total = point_count(conn)
            width, height = map_extent(conn)
            regions = map_regions_of(conn)
            matched = marked_points(conn, matches)
            todays = marked_points(conn, today_ids)
        largest = max((r.size for r in regions), default=1)
        return templates.TemplateResponse(
            request,
            "map.html",
            {
                "q": q,
                "total": total,
                "width": width,
                "height": height,
                "regions": regions,
                "radius": {r.id: 12 + 50 * math.sqrt(r.size / largest) for r in regions},
                "matched": matched,
                "todays": todays,
                "source": "/map.json" + (f"?{urlencode({'q': q})}" if q else ""),
            },
        )

    return router
