"""The shapes of the site's JSON answers, for the OpenAPI description only: routes build
their JSON from the services' `to_json()`, and tests/test_openapi.py checks every answer
against these models, so a change on either side that the other misses fails there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def answers(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 200 answer is `model` as JSON."""
    return {200: {"model": model, "description": "JSON"}}


class Paper(BaseModel):
    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    primary_category: str | None
    version: int | None
    comment: str | None
    journal_ref: str | None
    doi: str | None
    published_at: str | None
    announced_date: str | None
    upvotes: int
    num_comments: int
    imported_comments: int
    local_comments: int
    github_repo: str | None
    github_stars: int | None
    project_page: str | None
    organization: str | None
    ai_summary: str | None
    ai_keywords: list[str] | None
    featured_on: list[str]
    submitted_by: str | None
    abs_url: str
    pdf_url: str


class DayPage(BaseModel):
    day: str | None
    kind: str
    previous_day: str | None
    next_day: str | None
    papers: list[Paper]
    period: str | None = None


class PaperList(BaseModel):
    papers: list[Paper]
    page: int


class TrendingPaper(Paper):
    trending_score: float


class TrendingPage(BaseModel):
    papers: list[TrendingPaper]


class SearchHit(Paper):
    score: float
    keyword_rank: int | None
    semantic_rank: int | None
    snippet_html: str


class SemanticCoverage(BaseModel):
    embedded: int
    total: int
    percent: float


class SearchPage(BaseModel):
    query: str
    mode: str
    sort: str
    page: int
    total: int  # papers in the ranking (at most 1,000)
    semantic_available: bool
    semantic_coverage: SemanticCoverage | None  # None in keyword mode
    did_you_mean: str | None  # the query with misspelled words corrected
    hits: list[SearchHit]


class Comment(BaseModel):
    id: int
    author: str
    body: str | None  # None once an admin hid it
    hidden: bool
    parent_id: int | None
    created_at: str


class PaperPage(Paper):
    similar: list[str]
    comments: list[Comment]


class CollectionSummary(BaseModel):
    id: int
    owner: str
    name: str
    description: str
    public: bool
    updated_at: str


class Collection(CollectionSummary):
    papers: list[Paper]


class UserPage(BaseModel):
    username: str
    submitted: list[str]
    voted: list[str]
    collections: list[CollectionSummary]


class Reason(BaseModel):
    ref: str
    title: str


class Recommendation(Paper):
    score: float
    because: list[Reason]


class ForYouPage(BaseModel):
    papers: list[Recommendation]


class MapRegion(BaseModel):
    id: int
    label: str
    x: float
    y: float
    size: int  # papers in it when laid out


class MapPoints(BaseModel):
    """One page of points as columns: the i-th point is arxiv_id[i] at (x[i], y[i])."""

    arxiv_id: list[str]
    x: list[float]
    y: list[float]
    region: list[int]


class MapPage(BaseModel):
    total_points: int
    page: int
    pages: int
    page_size: int
    width: float
    height: float
    regions: list[MapRegion]
    today: list[str]  # arXiv ids of the latest day's papers
    query: str
    matches: list[str]  # arXiv ids of the query's best matches, best first
    points: MapPoints
