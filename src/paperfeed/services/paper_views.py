"""Read models for pages: a day's papers and one paper, with community counts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from paperfeed.records import parse_arxiv_id
from paperfeed.store.schema import (
    comments,
    daily_entries,
    imported_submitters,
    paper_categories,
    paper_links,
    paper_tldrs,
    papers,
    users,
    votes,
)


@dataclass(frozen=True)
class Submitter:
    """Who put a paper on a daily list: a local account (`local`, its page is
    /users/NAME), or a name from imported data, a different person even when a local
    account has the same name."""

    name: str
    local: bool


def with_submitter(query: sa.Select) -> sa.Select:
    """`query` (over daily_entries) with the entry's submitter as two columns: by_local
    (a local username) and by_imported (an imported submitter's name)."""
    return (
        query.add_columns(
            users.c.username.label("by_local"), imported_submitters.c.name.label("by_imported")
        )
        .outerjoin(users, users.c.id == daily_entries.c.submitted_by)
        .outerjoin(
            imported_submitters,
            imported_submitters.c.id == daily_entries.c.imported_submitter_id,
        )
    )


def submitter_of(row: sa.RowMapping) -> Submitter | None:
    """The submitter from a row of a `with_submitter` query."""
    if row["by_local"] is not None:
        return Submitter(row["by_local"], local=True)
    if row["by_imported"] is not None:
        return Submitter(row["by_imported"], local=False)
    return None


@dataclass
class PaperView:
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
    published_at: datetime | None
    announced_date: date | None
    upvotes: int = 0
    imported_comments: int = 0  # counted on Hugging Face; their text is not here
    local_comments: int = 0  # written here, shown on the paper's page
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    organization: str | None = None
    ai_summary: str | None = None  # Hugging Face's, labelled as theirs
    ai_keywords: list[str] | None = None
    tldr: str | None = None  # one sentence of the abstract (services/tldr.py)
    featured_on: list[date] = field(default_factory=list)
    submitted_by: Submitter | None = None
    id: int = 0  # the store's row id; not shown to readers

    @property
    def num_comments(self) -> int:
        """Both kinds: what Hugging Face's API calls numComments."""
        return self.imported_comments + self.local_comments

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}"

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "id"}
        data["num_comments"] = self.num_comments
        for key in ("published_at", "announced_date"):
            data[key] = data[key].isoformat() if data[key] else None
        data["featured_on"] = [d.isoformat() for d in self.featured_on]
        data["submitted_by"] = self.submitted_by.name if self.submitted_by else None
        # False: a name from imported data, not this site's account of that name.
        data["submitted_by_local"] = self.submitted_by.local if self.submitted_by else None
        data.update(abs_url=self.abs_url, pdf_url=self.pdf_url)
        return data


@dataclass
class DayListing:
    day: date | None
    kind: str  # 'community' (a daily list) or 'arxiv' (that day's announcements)
    papers: list[PaperView]
    previous_day: date | None
    next_day: date | None


_PAPER_COLUMNS = [
    papers.c.id,
    papers.c.arxiv_id,
    papers.c.title,
    papers.c.abstract,
    papers.c.authors,
    papers.c.categories,
    papers.c.primary_category,
    papers.c.version,
    papers.c.comment,
    papers.c.journal_ref,
    papers.c.doi,
    papers.c.published_at,
    papers.c.announced_date,
]


def _build_listing_query() -> sa.Select:
    """Papers with their community counts: the most imported upvotes any daily snapshot
    saw, plus votes cast here (likewise for comments). Correlated subqueries, so the
    counts are computed for the rows selected only, through the paper_id indexes."""
    # correlate(papers) only: callers may join daily_entries to the outer query too.
    by_paper = daily_entries.c.paper_id == papers.c.id
    imported_up = sa.select(sa.func.max(daily_entries.c.imported_upvotes)).where(by_paper)
    imported_com = sa.select(sa.func.max(daily_entries.c.imported_comments)).where(by_paper)
    local_votes = (
        sa.select(sa.func.count()).select_from(votes).where(votes.c.paper_id == papers.c.id)
    )
    local_comments = (
        sa.select(sa.func.count())
        .select_from(comments)
        .where(comments.c.paper_id == papers.c.id, comments.c.hidden.is_(False))
    )
    imported_up, imported_com, local_votes, local_comments = (
        q.correlate(papers) for q in (imported_up, imported_com, local_votes, local_comments)
    )
    upvotes = sa.func.coalesce(imported_up.scalar_subquery(), 0) + local_votes.scalar_subquery()
    imported_count = sa.func.coalesce(imported_com.scalar_subquery(), 0)
    local_count = local_comments.scalar_subquery()
    return (
        sa.select(
            *_PAPER_COLUMNS,
            upvotes.label("upvotes"),
            imported_count.label("imported_comments"),
            local_count.label("local_comments"),
            paper_links.c.github_repo,
            paper_links.c.github_stars,
            paper_links.c.project_page,
            paper_links.c.organization,
            paper_links.c.ai_summary,
            paper_links.c.ai_keywords,
            paper_tldrs.c.tldr,
        )
        .select_from(papers)
        .outerjoin(paper_links, paper_links.c.paper_id == papers.c.id)
        .outerjoin(paper_tldrs, paper_tldrs.c.paper_id == papers.c.id)
    )


# Built once: constructing it costs more than running it for a page of results.
LISTING = _build_listing_query()
NEWEST_FIRST = (
    papers.c.announced_date.desc().nulls_last(),
    papers.c.published_at.desc().nulls_last(),
    papers.c.arxiv_id.desc(),
)


def view_of(row: sa.RowMapping, submitted_by: Submitter | None = None) -> PaperView:
    names = PaperView.__dataclass_fields__
    return PaperView(**{k: row[k] for k in row if k in names}, submitted_by=submitted_by)


def latest_day(conn: sa.Connection) -> date | None:
    days = [
        conn.execute(sa.select(sa.func.max(daily_entries.c.day))).scalar(),
        conn.execute(sa.select(sa.func.max(papers.c.announced_date))).scalar(),
    ]
    present = [d for d in days if d is not None]
    return max(present) if present else None


def _neighbour(conn: sa.Connection, day: date, later: bool) -> date | None:
    found = []
    for column in (daily_entries.c.day, papers.c.announced_date):
        pick = sa.func.min(column) if later else sa.func.max(column)
        found.append(
            conn.execute(sa.select(pick).where(column > day if later else column < day)).scalar()
        )
    present = [d for d in found if d is not None]
    if not present:
        return None
    return min(present) if later else max(present)


def day_listing(conn: sa.Connection, day: date | None = None, limit: int = 500) -> DayListing:
    """A day's community list (sorted by upvotes) when one exists, else arXiv's
    announcements of that day. Without a day: the latest day that has papers."""
    day = day or latest_day(conn)
    if day is None:
        return DayListing(None, "arxiv", [], None, None)
    query = LISTING
    featured = sa.select(daily_entries.c.paper_id).where(daily_entries.c.day == day)
    has_community = conn.execute(sa.select(sa.exists(featured))).scalar()
    if has_community:
        # Joined to the day's entry for its submitter (one entry per paper and day).
        query = (
            with_submitter(
                query.join(
                    daily_entries,
                    (daily_entries.c.paper_id == papers.c.id) & (daily_entries.c.day == day),
                )
            )
        ).order_by(sa.desc("upvotes"), papers.c.arxiv_id.desc())
    else:
        query = query.where(papers.c.announced_date == day).order_by(papers.c.arxiv_id.desc())
    rows = conn.execute(query.limit(limit)).mappings().all()
    return DayListing(
        day=day,
        kind="community" if has_community else "arxiv",
        papers=[view_of(r, submitter_of(r) if has_community else None) for r in rows],
        previous_day=_neighbour(conn, day, later=False),
        next_day=_neighbour(conn, day, later=True),
    )


def get_paper(conn: sa.Connection, text: str) -> PaperView | None:
    """A paper by arXiv id (with or without version) or abs/PDF URL."""
    parsed = parse_arxiv_id(text)
    if parsed is None:
        return None
    row = conn.execute(LISTING.where(papers.c.arxiv_id == parsed[0])).mappings().first()
    if row is None:
        return None
    paper = view_of(row)
    entries = (
        conn.execute(
            with_submitter(sa.select(daily_entries.c.day))
            .where(daily_entries.c.paper_id == row["id"])
            .order_by(daily_entries.c.day)
        )
        .mappings()
        .all()
    )
    paper.featured_on = [e["day"] for e in entries]
    paper.submitted_by = next((s for e in entries if (s := submitter_of(e))), None)
    return paper


def papers_by_id(conn: sa.Connection, ids: list[int]) -> dict[int, PaperView]:
    """Listing views for these paper ids (search results), keyed by id."""
    if not ids:
        return {}
    rows = conn.execute(LISTING.where(papers.c.id.in_(ids))).mappings().all()
    return {row["id"]: view_of(row) for row in rows}


def latest_papers(conn: sa.Connection, offset: int = 0, limit: int = 50) -> list[PaperView]:
    """Newest first: by announcement date, then first publication."""
    rows = conn.execute(LISTING.order_by(*NEWEST_FIRST).offset(offset).limit(limit)).mappings()
    return [view_of(row) for row in rows]


def papers_in_category(conn: sa.Connection, category: str, limit: int = 50) -> list[PaperView]:
    """Newest papers tagged with `category` (primary or cross-list)."""
    rows = conn.execute(
        LISTING.join(paper_categories, paper_categories.c.paper_id == papers.c.id)
        .where(paper_categories.c.category == category)
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    ).mappings()
    return [view_of(row) for row in rows]


def upvotes_by_paper(conn: sa.Connection) -> dict[int, int]:
    """Every paper with a vote, and its upvotes as the listing counts them (the most
    imported upvotes any daily snapshot saw, plus votes cast here): a few thousand rows
    where a listing of all papers would be a hundred thousand."""
    imported = conn.execute(
        sa.select(daily_entries.c.paper_id, sa.func.max(daily_entries.c.imported_upvotes)).group_by(
            daily_entries.c.paper_id
        )
    ).all()
    local = conn.execute(
        sa.select(votes.c.paper_id, sa.func.count()).group_by(votes.c.paper_id)
    ).all()
    found: dict[int, int] = {}
    for paper_id, count in [*imported, *local]:
        found[paper_id] = found.get(paper_id, 0) + (count or 0)
    return {paper_id: count for paper_id, count in found.items() if count}


# The counts a listing shows, which change with every vote and comment (fresh_counts).
COUNTED = ("upvotes", "imported_comments", "local_comments")
_COUNTS = LISTING.with_only_columns(
    papers.c.id,
    *(c for c in LISTING.selected_columns if c.key in COUNTED),
)


def with_fresh_counts(conn: sa.Connection, views: list[PaperView]) -> list[PaperView]:
    """Kept views (services/read_cache.py) with their vote and comment counts read now, so
    that a reader sees their own vote in the count at once. The kept views are copied,
    never changed."""
    ids = [p.id for p in views]
    counts = (
        {row["id"]: row for row in conn.execute(_COUNTS.where(papers.c.id.in_(ids))).mappings()}
        if ids
        else {}
    )
    return [
        replace(p, **{k: counts[p.id][k] for k in COUNTED}) if p.id in counts else p for p in views
    ]


def fresh_counts(conn: sa.Connection, listing: DayListing) -> DayListing:
    """A kept listing with its counts read now (with_fresh_counts); a community list is
    sorted by them again, as day_listing sorts it."""
    shown = with_fresh_counts(conn, listing.papers)
    if listing.kind == "community":
        shown.sort(key=lambda p: p.arxiv_id, reverse=True)
        shown.sort(key=lambda p: p.upvotes, reverse=True)
    return replace(listing, papers=shown)
