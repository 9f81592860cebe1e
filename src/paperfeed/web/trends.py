"""/trends: how many papers match each of up to 6 queries per week or month (share,
count, votes), with its `.json`, `.csv` and `.svg` twins; with no query, the rising
topics the indexing job found."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from paperfeed.query import QueryError
from paperfeed.services.rising import rising_topics
from paperfeed.services.search import SearchEngine
from paperfeed.services.trends import GRANULARITIES, MAX_QUERIES, VIEWS, Trends, trends
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.edge import SearchDate, errors, site_router
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.trends_chart import SIZES, trends_svg
from paperfeed.web.twins import Page, twin_pages

# The number of queries and each one's length are checked by the service (400): a list
# parameter's own bounds would not name which query is at fault.
TrendQueries = Annotated[list[str], Query(description=f"up to {MAX_QUERIES} queries")]
By = Literal[GRANULARITIES]
View = Literal[VIEWS]
ChartSize = Literal[tuple(SIZES)]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
SVG_MEDIA_TYPE = "image/svg+xml"


def _as(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {}}, "description": what}}


def trend_link(queries: list[str], by: str = "month", view: str = "share") -> str:
    return "/trends?" + urlencode({"q": queries, "by": by, "view": view}, doseq=True)


def phrase_query(phrase: str) -> str:
    """A phrase as the search syntax finds it: quoted when it has several words."""
    return f'"{phrase}"' if " " in phrase else phrase


def create_trends_router(
    store: Store, search: SearchEngine | None, templates: Jinja2Templates, today: date | None
) -> APIRouter:
    router = site_router(tags=["trends"])

    def computed(q: list[str], by: str, since: str, until: str) -> Trends:
        if search is None:
            raise HTTPException(503, "search is not enabled on this server")
        try:
            return trends(search, q, by, since, until, today)
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from exc

    @twin_pages(router, templates, "/trends", schemas.TrendsPage, errors(503))
    def trends_page(
        request: Request,
        q: TrendQueries = [],  # noqa: B006 (FastAPI copies a list default per request)
        by: By = "month",
        view: View = "share",
        since: SearchDate = "",
        until: SearchDate = "",
    ) -> Page:
        """Papers matching each query per week or month: count, share of the period's
        papers, and upvotes. With no query, the rising topics (phrases whose share grew
        most in the last 4 weeks against the 12 before)."""
        result = computed(q, by, since, until)
        with store.engine.connect() as conn:
            run, rising = rising_topics(conn) if not result.series else (None, [])
        rising_json = [
            {
                **r.to_json(),
                "trend_url": trend_link([phrase_query(r.phrase)], "week"),
                "search_url": "/search?" + urlencode({"q": phrase_query(r.phrase)}),
            }
            for r in rising
        ]
        chart_query = urlencode(
            {
                "q": [s.query for s in result.series],
                "by": by,
                "view": view,
                "since": since,
                "until": until,
            },
            doseq=True,
        )
        return Page(
            "trends.html",
            {
                **result.to_json(),
                "view": view,
                "rising": rising_json,
                "rising_window": {
                    "clock": run.clock.isoformat() if run.clock else None,
                    "recent_since": run.recent_since.isoformat() if run.recent_since else None,
                    "before_since": run.before_since.isoformat() if run.before_since else None,
                    "recent_papers": run.recent_total,
                    "before_papers": run.before_total,
                }
                if run is not None
                else None,
            },
            {
                "result": result,
                "queries": [s.query for s in result.series],
                "max_queries": MAX_QUERIES,
                "chart_query": chart_query,
                "views": VIEWS,
                "rising_run": run,
                "rising_topics": rising_json,
                "top_rising_link": trend_link([phrase_query(r.phrase) for r in rising[:4]], "week"),
                "since": since,
                "until": until,
                "link": lambda **changes: trend_link(
                    [s.query for s in result.series],
                    changes.get("by", by),
                    changes.get("view", view),
                ),
            },
        )

    @router.get(
        "/trends.csv",
        response_class=Response,
        responses={**_as(CSV_MEDIA_TYPE, "CSV: one row per query and period"), **errors(503)},
        dependencies=[CACHEABLE],
    )
    def trends_csv(
        q: TrendQueries = [],  # noqa: B006
        by: By = "month",
        since: SearchDate = "",
        until: SearchDate = "",
    ) -> Response:
        """The trend as CSV: query, period, start, papers_in_period, count, share, votes."""
        result = computed(q, by, since, until)
        return Response(
            result.to_csv(),
            media_type=CSV_MEDIA_TYPE,
            headers={"content-disposition": 'attachment; filename="trends.csv"'},
        )

    @router.get(
        "/trends.svg",
        response_class=Response,
        responses={**_as(SVG_MEDIA_TYPE, "the chart, as SVG"), **errors(503)},
        dependencies=[CACHEABLE],
    )
    def trends_chart(
        q: TrendQueries = [],  # noqa: B006
        by: By = "month",
        view: View = "share",
        since: SearchDate = "",
        until: SearchDate = "",
        size: ChartSize = "wide",
    ) -> Response:
        """The trend's chart (drawn by matplotlib)."""
        result = computed(q, by, since, until)
        return Response(trends_svg(result, view, size), media_type=SVG_MEDIA_TYPE)

    return router
