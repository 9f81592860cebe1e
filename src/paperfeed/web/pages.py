"""The reading pages: the daily list (a day, an ISO week or a month), trending, a paper,
search, an imported submitter's and an organization's papers, and /about. Each page is
declared once with its `.json` twin (web/twins.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection

from paperfeed.query import Filters, QueryError, compose, split_filters
from paperfeed.services import trending as trending_service
from paperfeed.services.cite import bibtex
from paperfeed.services.claims import approved_on_paper
from paperfeed.services.community import comments_on
from paperfeed.services.daily import MAX_PAGE, DailyItem, daily_items, period, period_of
from paperfeed.services.paper_map import neighbourhood
from paperfeed.services.paper_views import (
    DayListing,
    PaperView,
    day_listing,
    fresh_counts,
    get_paper,
)
from paperfeed.services.read_cache import ReadCache
from paperfeed.services.search import (
    SORTS,
    SearchEngine,
    SearchHit,
    SearchResults,
    with_fresh_hit_counts,
)
from paperfeed.services.trending import trending_papers
from paperfeed.store import Store
from paperfeed.web import schemas
from paperfeed.web.community import my_collections
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
    errors,
    site_router,
)
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.searching import search_or_http_error
from paperfeed.web.security import Security
from paperfeed.web.twins import Page, twin_pages

DaySort = Literal["votes", "time"]
# "cards": a denser grid without abstracts; kept in the links of the list pages.
Layout = Literal["list", "cards"]
ListPage = Annotated[int, Query(ge=1, le=1000, description="page of 100 papers")]
# A paper's similar papers change only as new papers are embedded: one nearest-neighbour
# search per paper and SIMILAR_TTL_S, not one per rendering (services/read_cache.py).
SIMILAR_SHOWN = 5
SIMILAR_TTL_S = 300.0
SIMILAR_KEPT = 20_000
# A day's list is the same for every reader but for its counts, read fresh for each page
# (paper_views.fresh_counts): kept as long as the anonymous page cache keeps pages.
LISTINGS_KEPT = 500
# A search's results are the same for every reader but for their counts (as a day's list),
# and as old as the keyword index a worker follows: kept as long, counts read fresh.
SEARCHES_KEPT = 2_000
Name = Annotated[str, Path(min_length=1, max_length=200)]
trending_doc = (trending_service.__doc__ or "").strip()


def _listing_json(listing: DayListing) -> dict[str, object]:
    return {
        "day": listing.day.isoformat() if listing.day else None,
        "kind": listing.kind,
        "previous_day": listing.previous_day.isoformat() if listing.previous_day else None,
        "next_day": listing.next_day.isoformat() if listing.next_day else None,
        "papers": [p.to_json() for p in listing.papers],
    }


def _with_submitters(items: list[DailyItem]) -> list[PaperView]:
    for item in items:
        item.paper.submitted_by = item.submitted_by
    return [item.paper for item in items]


def create_pages_router(
    store: Store,
    search: SearchEngine | None,
    security: Security,
    templates: Jinja2Templates,
    listing_ttl_s: float,
) -> APIRouter:
    router = site_router(tags=["pages"])
    pages = twin_pages
    similar_papers: ReadCache[list[SearchHit]] = ReadCache(SIMILAR_TTL_S, SIMILAR_KEPT)
    listings: ReadCache[DayListing] = ReadCache(listing_ttl_s, LISTINGS_KEPT)
    searches: ReadCache[SearchResults] = ReadCache(listing_ttl_s, SEARCHES_KEPT)

    def day_of(conn: Connection, day: date | None, sort: DaySort) -> DayListing:
        listing = fresh_counts(conn, listings.get(day, lambda: day_listing(conn, day)))
        if sort == "time":
            listing.papers.sort(key=lambda p: p.published_at or datetime.min, reverse=True)
        return listing

    def listing_page(
        request: Request,
        listing: DayListing,
        sort: DaySort,
        layout: Layout,
        week: str | None = None,
        month: str | None = None,
        page: int = 1,
    ) -> Page:
        shown = week or month
        span = None
        if shown:
            kind = "week" if week else "month"
            span = period_of(kind, period(None, week, month)[0])  # type: ignore[index]
        return Page(
            "day.html",
            {**_listing_json(listing), "period": shown},
            {
                "listing": listing,
                "span": span,
                "sort": sort,
                "layout": layout,
                "page": page,
                "more": shown is not None and len(listing.papers) == MAX_PAGE,
                "voted": security.voted_among(request, [p.arxiv_id for p in listing.papers]),
            },
        )

    @pages(router, templates, "/", schemas.DayPage, errors(400))
    def home(
        request: Request,
        week: WeekParam = None,
        month: MonthParam = None,
        sort: DaySort = "votes",
        layout: Layout = "list",
        page: ListPage = 1,
    ) -> Page:
        """The latest day's papers, or every paper featured in an ISO week or a month
        (100 a page)."""
        with store.read() as conn:
            if week or month:
                try:
                    items = daily_items(
                        conn,
                        period(None, week, month),
                        sort="upvotes" if sort == "votes" else "publishedAt",
                        offset=(page - 1) * MAX_PAGE,
                        limit=MAX_PAGE,
                    )
                except QueryError as exc:
                    raise HTTPException(400, str(exc)) from exc
                listing = DayListing(None, "community", _with_submitters(items), None, None)
            else:
                listing = day_of(conn, None, sort)
        return listing_page(request, listing, sort, layout, week, month, page)

    @router.get("/papers/date", include_in_schema=False)
    def pick_date(day: Annotated[date, Query()]) -> Response:
        """The date picker's form (a plain GET) lands here."""
        return RedirectResponse(f"/papers/date/{day.isoformat()}", status_code=303)

    @pages(router, templates, "/papers/date/{day}", schemas.DayPage, errors(404))
    def papers_on(
        request: Request, day: Day, sort: DaySort = "votes", layout: Layout = "list"
    ) -> Page:
        """A day's papers: its community list, else arXiv's announcements of that day."""
        try:
            parsed = date.fromisoformat(day)
        except ValueError as exc:
            raise HTTPException(400, f"not a date (YYYY-MM-DD): {day!r}") from exc
        with store.read() as conn:
            listing = day_of(conn, parsed, sort)
        return listing_page(request, listing, sort, layout)

    @pages(router, templates, "/trending", schemas.TrendingPage)
    def trending(request: Request, layout: Layout = "list") -> Page:
        """The 50 papers with the most recent votes, damped by age (see /about)."""
        with store.read() as conn:
            ranked = trending_papers(conn, 50)
        data = [{**p.to_json(), "trending_score": round(score, 4)} for p, score in ranked]
        voted = security.voted_among(request, [p.arxiv_id for p, _ in ranked])
        return Page(
            "trending.html", {"papers": data}, {"ranked": ranked, "voted": voted, "layout": layout}
        )

    @router.get(
        "/about", response_class=HTMLResponse, include_in_schema=False, dependencies=[CACHEABLE]
    )
    def about(request: Request) -> Response:
        coverage = search.semantic_coverage() if search is not None else None
        return templates.TemplateResponse(
            request, "about.html", {"formula": trending_doc, "coverage": coverage}
        )

    @pages(router, templates, "/search", schemas.SearchPage, errors(503))
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
    ) -> Page:
        """Search (keyword, semantic or both fused), 20 results a page; sort by relevance,
        or the best 100 matches by date or votes. With `form`, the form's controls (cat,
        since, until, code) become the query's own filters."""
        redirect = None
        if form:  # a browser goes on to the query's own URL, which says it all
            q = compose(q, Filters(category=cat, since=since, until=until, has_code=code))
            redirect = "/search?" + urlencode({"q": q, "mode": mode, "sort": sort})

        def run_search() -> SearchResults:
            return search_or_http_error(
                search, q, mode, SEARCH_PAGE_SIZE, (page - 1) * SEARCH_PAGE_SIZE, sort
            )

        # A signed-in reader's results are kept (their page is rendered each time), their
        # counts read fresh; an anonymous reader's whole page is kept by the page cache
        # (keeping both would add their ages). Not kept: an order that moves with every vote,
        # and results that miss papers still being added to the keyword index (the page
        # says so, and the page cache does not keep it either).
        behind = search.keyword_backlog() if search is not None else 0
        if behind:
            request.state.cacheable = False
        if behind or sort == "votes" or security.user(request) is None:
            results = run_search()
        else:
            kept = searches.get((q, mode, page, sort), run_search)
            with store.read() as conn:
                results = with_fresh_hit_counts(conn, kept)
        if redirect is None and results.query.arxiv_id and results.hits:
            redirect = f"/papers/{results.hits[0].paper.arxiv_id}"  # an id or URL: the paper
        coverage = search.semantic_coverage() if search is not None and mode != "keyword" else None
        text, filters = split_filters(q)
        return Page(
            "search.html",
            {
                "query": q,
                "mode": mode,
                "sort": sort,
                "page": page,
                "total": results.total,
                "semantic_available": results.semantic_available,
                "semantic_coverage": coverage.to_json() if coverage else None,
                "did_you_mean": results.did_you_mean,
                "keyword_index_behind": behind,
                "hits": [h.to_json() for h in results.hits],
            },
            {
                "q": q,
                "text": text,
                "filters": filters,
                "categories": SEARCH_CATEGORIES,
                "sorts": SORTS,
                "results": results,
                "coverage": coverage,
                "keyword_behind": behind,
                "per_page": SEARCH_PAGE_SIZE,
                "last_page": MAX_SEARCH_PAGE,
                "voted": security.voted_among(request, [h.paper.arxiv_id for h in results.hits]),
            },
            redirect=redirect,
        )

    def paper_or_404(conn: Connection, arxiv_id: str) -> PaperView:
        found = get_paper(conn, arxiv_id)
        if found is None:
            raise HTTPException(404, "no such paper here")
        return found

    # Before the paper's page: `{arxiv_id:path}` would swallow the suffix.
    @router.get(
        "/papers/{arxiv_id:path}.bib",
        response_class=Response,
        responses={**AS_BIBTEX, **errors(404)},
        dependencies=[CACHEABLE],
    )
    def paper_bib(arxiv_id: str) -> Response:
        """The paper as a BibTeX entry."""
        with store.read() as conn:
            found = paper_or_404(conn, arxiv_id)
        return Response(bibtex(found), media_type=BIBTEX_MEDIA_TYPE)

    @pages(router, templates, "/papers/{arxiv_id:path}", schemas.PaperPage, errors(404))
    def paper(request: Request, arxiv_id: str) -> Page:
        """A paper with its similar papers and its comments."""
        with store.read() as conn:
            found = paper_or_404(conn, arxiv_id)
            discussion = comments_on(conn, found.id)
            claimed_by = approved_on_paper(conn, found.id)  # author name -> username
            map_hood = neighbourhood(conn, found.id)
        similar = (
            similar_papers.get(
                found.arxiv_id, lambda: search.similar(found.arxiv_id, limit=SIMILAR_SHOWN)
            )
            if search is not None
            else []
        )
        user = security.user(request)
        collections = my_collections(store, user.id) if user else []
        return Page(
            "paper.html",
            {
                **found.to_json(),
                "similar": [h.paper.arxiv_id for h in similar],
                "comments": [c.to_json() for c in discussion],
                "claimed_by": claimed_by,
            },
            {
                "claimed_by": claimed_by,
                "paper": found,
                "similar": similar,
                "bibtex": bibtex(found),
                "comments": discussion,
                "map_hood": map_hood,
                "voted": security.voted_among(request, [found.arxiv_id]),
                "collections": collections,
                "saved_in": [
                    c for c in collections if any(p.arxiv_id == found.arxiv_id for p in c.papers)
                ],
            },
        )

    def featured_by(
        request: Request, heading: str, items: list[DailyItem], layout: Layout, page: int
    ) -> Page:
        papers = _with_submitters(items)
        return Page(
            "featured.html",
            {"papers": [p.to_json() for p in papers], "page": page},
            {
                "heading": heading,
                "listed": papers,
                "layout": layout,
                "page": page,
                "more": len(papers) == MAX_PAGE,
                "voted": security.voted_among(request, [p.arxiv_id for p in papers]),
            },
        )

    @pages(router, templates, "/submitters/{name}", schemas.PaperList, errors(404))
    def submitter(
        request: Request, name: Name, layout: Layout = "list", page: ListPage = 1
    ) -> Page:
        """The papers a Hugging Face user put on the daily lists (imported data), newest
        first, 100 a page."""
        with store.read() as conn:
            items = daily_items(conn, submitter=name, offset=(page - 1) * MAX_PAGE, limit=MAX_PAGE)
        return featured_by(request, f"Submitted by {name} on Hugging Face", items, layout, page)

    @pages(router, templates, "/orgs/{name}", schemas.PaperList, errors(404))
    def organization(
        request: Request, name: Name, layout: Layout = "list", page: ListPage = 1
    ) -> Page:
        """The featured papers of an organization (as Hugging Face names it), newest first,
        100 a page."""
        with store.read() as conn:
            items = daily_items(
                conn, organization=name, offset=(page - 1) * MAX_PAGE, limit=MAX_PAGE
            )
        return featured_by(request, f"Papers from {name}", items, layout, page)

    return router
