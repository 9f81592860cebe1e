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
    tldr: str | None  # one sentence of the abstract, chosen here (docs/tldr.md)
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
    keyword_index_behind: int  # papers still being added to the keyword index (missed)
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
    claimed_by: dict[str, str]  # author name -> the username an admin approved a claim of


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


# --- Trends (/trends.json) ---


class TrendPeriod(BaseModel):
    period: str
    start: str
    papers: int


class TrendPoint(BaseModel):
    period: str
    count: int
    share: float
    votes: int


class TrendSeries(BaseModel):
    query: str
    total: int
    votes: int
    points: list[TrendPoint]


class RisingTopic(BaseModel):
    rank: int
    phrase: str
    recent_papers: int
    before_papers: int
    log_odds: float
    z_score: float
    trend_url: str
    search_url: str


class RisingWindow(BaseModel):
    clock: str | None
    recent_since: str | None
    before_since: str | None
    recent_papers: int
    before_papers: int


class TrendsPage(BaseModel):
    by: str
    view: str
    clock: str | None
    since: str | None
    until: str | None
    periods: list[TrendPeriod]
    series: list[TrendSeries]
    rising: list[RisingTopic]
    rising_window: RisingWindow | None


# --- Your library ---


class LibraryPaper(Paper):
    reading_state: str | None
    note: str | None
    voted: bool
    touched_at: str


class LibraryPage(BaseModel):
    shelf: str
    q: str
    papers: list[LibraryPaper]


# --- Authors (web/authors.py) ---


class AuthorVariant(BaseModel):
    name: str
    papers: int


class CategoryYear(BaseModel):
    year: int
    counts: dict[str, int]


class AuthorPage(BaseModel):
    name: str
    key: str
    papers: list[Paper]
    total_papers: int
    total_votes: int
    variants: list[AuthorVariant]
    ambiguous: bool
    ambiguous_with: list[AuthorVariant]
    ambiguous_total: int
    coauthors: list[AuthorVariant]
    categories_by_year: list[CategoryYear]
    claimed_by: list[str]


class CategoryPage(BaseModel):
    category: str
    papers: list[Paper]


class Claim(BaseModel):
    id: int
    username: str
    arxiv_id: str
    title: str
    author_name: str
    status: str
    note: str
    created_at: str


class ClaimQueue(BaseModel):
    claims: list[Claim]


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
