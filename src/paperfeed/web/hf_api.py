"""The Hugging Face papers API, served from the store, so that
`huggingface_hub.HfApi(endpoint=...)` works unchanged for list_daily_papers, paper_info
and list_papers. Shapes and field names follow huggingface.co/api (camelCase); this
module only translates service results into them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from paperfeed.query import QueryError
from paperfeed.services.daily import DailyItem, daily_items, period
from paperfeed.services.paper_views import PaperView, Submitter, get_paper, latest_papers
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.web.edge import (
    ApiPage,
    DailySort,
    DayParam,
    MonthParam,
    SearchMode,
    SearchText,
    WeekParam,
    errors,
    site_router,
)
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.searching import search_or_http_error

PageSize = Query(50, ge=1, le=100, description="results per page")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") + "Z" if moment else None


def _user(submitter: Submitter | None) -> dict[str, Any] | None:
    if submitter is None:
        return None
    name = submitter.name
    return {"user": name, "fullname": name, "name": name, "type": "user"}


def paper_json(
    paper: PaperView, submitted_at: datetime | None = None, submitted_by: Submitter | None = None
) -> dict[str, Any]:
    """The `paper` object of the API (also the answer of /api/papers/{id})."""
    data: dict[str, Any] = {
        "id": paper.arxiv_id,
        "authors": [{"name": name, "hidden": False} for name in paper.authors],
        "publishedAt": _iso(paper.published_at),
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": paper.upvotes,
        "numComments": paper.num_comments,
        "discussionId": paper.arxiv_id,
        "githubRepo": paper.github_repo,
        "githubStars": paper.github_stars,
        "projectPage": paper.project_page,
        "organization": {"name": paper.organization} if paper.organization else None,
        "categories": paper.categories,
        "ai_summary": paper.ai_summary,
        "ai_keywords": paper.ai_keywords,
        "tldr": paper.tldr,  # ours, beside Hugging Face's fields: one abstract sentence
        "submittedOnDailyAt": _iso(submitted_at),
        "submittedOnDailyBy": _user(submitted_by),
    }
    return {k: v for k, v in data.items() if v is not None}


def entry_json(item: DailyItem) -> dict[str, Any]:
    """One element of /api/daily_papers: the paper, and the list entry around it."""
    paper = paper_json(item.paper, item.submitted_at, item.submitted_by)
    top = {
        k: paper[k]
        for k in (
            "title",
            "summary",
            "numComments",
            "githubRepo",
            "githubStars",
            "projectPage",
            "organization",
        )
        if k in paper
    }
    entry = {
        "paper": paper,
        "publishedAt": _iso(item.submitted_at),
        **top,
        "submittedBy": _user(item.submitted_by),
        "isAuthorParticipating": False,
        "date": item.day.isoformat(),
    }
    return {k: v for k, v in entry.items() if v is not None}


def create_router(store: Store, search: SearchEngine | None) -> APIRouter:
    router = site_router(prefix="/api", tags=["Hugging Face-compatible"], dependencies=[CACHEABLE])

    @router.get("/daily_papers")
    def list_daily_papers(
        date: DayParam = None,
        week: WeekParam = None,
        month: MonthParam = None,
        submitter: str | None = Query(None, max_length=100),
        sort: DailySort = "publishedAt",
        p: ApiPage = 0,
        limit: int = PageSize,
    ) -> list[dict[str, Any]]:
        """Featured papers of a day, ISO week (2026-W34) or month (2026-08), optionally
        of one submitter; default: the latest day. Sort: publishedAt, trending, upvotes."""
        try:
            span = period(date, week, month)
            with store.read() as conn:
                items = daily_items(conn, span, submitter, sort, offset=p * limit, limit=limit)
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from exc
        return [entry_json(item) for item in items]

    @router.get("/papers/search", responses=errors(503))
    def search_papers(
        q: SearchText = "",
        limit: int = Query(20, ge=1, le=100, description="results"),
        mode: SearchMode = "hybrid",
    ) -> list[dict[str, Any]]:
        """Search (as HfApi.list_papers); `mode` is paperfeed's: hybrid, keyword, semantic."""
        results = search_or_http_error(search, q, mode, limit)
        return [
            {
                "paper": paper_json(h.paper),
                "title": h.paper.title,
                "summary": h.paper.abstract,
                "numComments": h.paper.num_comments,
            }
            for h in results.hits
        ]

    @router.get("/papers")
    def list_papers(p: ApiPage = 0, limit: int = PageSize) -> list[dict[str, Any]]:
        """The newest papers (by announcement, then publication)."""
        with store.read() as conn:
            found = latest_papers(conn, offset=p * limit, limit=limit)
        return [
            {"paper": paper_json(paper), "title": paper.title, "summary": paper.abstract}
            for paper in found
        ]

    @router.get("/papers/{arxiv_id:path}", responses=errors(404))
    def paper_info(arxiv_id: str) -> dict[str, Any]:
        """One paper (as HfApi.paper_info); 404 for an unknown id."""
        with store.read() as conn:
            found = get_paper(conn, arxiv_id)
        if found is None:
            raise HTTPException(404, f"paper {arxiv_id[:40]!r} not found")
        featured = found.featured_on[0] if found.featured_on else None
        data = paper_json(found, submitted_by=found.submitted_by)
        if featured:
            data["submittedOnDailyAt"] = f"{featured.isoformat()}T00:00:00.000Z"
        return data

    return router
