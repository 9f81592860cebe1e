"""Daily lists by day, ISO week or month, and by submitter: what the feed pages and the
Hugging Face-compatible API serve."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from paperfeed.query import QueryError
from paperfeed.services.paper_views import (
    LISTING,
    PaperView,
    Submitter,
    submitter_of,
    view_of,
    with_submitter,
)
from paperfeed.services.trending import trending
from paperfeed.store.schema import daily_entries, imported_submitters, papers

SORTS = ("publishedAt", "trending", "upvotes")
MAX_PAGE = 100


@dataclass
class DailyItem:
    paper: PaperView
    day: date
    submitted_at: datetime | None
    submitted_by: Submitter | None


def period(
    day: str | None = None, week: str | None = None, month: str | None = None
) -> tuple[date, date] | None:
    """The first and last day named by one of day (YYYY-MM-DD), week (YYYY-Www) or month
    (YYYY-MM); None when none is given."""
    try:
        if day:
            start = date.fromisoformat(day)
            return start, start
        if week:
            match = re.fullmatch(r"([0-9]{4})-W([0-9]{2})", week)
            if not match:
                raise ValueError(week)
            start = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return start, start + timedelta(days=6)
        if month:
            match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", month)
            if not match:
                raise ValueError(month)
            start = date(int(match[1]), int(match[2]), 1)
            return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])
    except (ValueError, OverflowError) as exc:  # OverflowError: a span past year 9999
        raise QueryError(
            f"bad period {day or week or month!r}: use YYYY-MM-DD, YYYY-Www or YYYY-MM"
        ) from exc
    return None


def daily_items(
    conn: sa.Connection,
    span: tuple[date, date] | None = None,
    submitter: str | None = None,
    sort: str = "publishedAt",
    offset: int = 0,
    limit: int = 50,
) -> list[DailyItem]:
    """Featured papers in `span` (default: the latest day with a list, unless a submitter
    is named: an imported one), newest submission first, or by trending score or upvotes."""
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}: use {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise QueryError(f"limit must be 1..{MAX_PAGE} and the page >= 0")
    if span is None and submitter is None:
        latest = conn.execute(sa.select(sa.func.max(daily_entries.c.day))).scalar()
        if latest is None:
            return []
        span = (latest, latest)
    query = with_submitter(
        LISTING.add_columns(daily_entries.c.day, daily_entries.c.submitted_at).join(
            daily_entries, daily_entries.c.paper_id == papers.c.id
        )
    )
    if span is not None:
        query = query.where(daily_entries.c.day.between(*span))
    if submitter is not None:
        # Hugging Face's names, as in the API this serves; a local account's submissions
        # are on its user page, and never mixed with an imported namesake's.
        query = query.where(imported_submitters.c.name == submitter)
    if sort == "upvotes":
        query = query.order_by(sa.desc("upvotes"), papers.c.arxiv_id.desc())
    else:
        query = query.order_by(
            daily_entries.c.day.desc(),
            daily_entries.c.submitted_at.desc(),
            papers.c.arxiv_id.desc(),
        )
    if sort == "trending":
        rows = conn.execute(query).mappings().all()
        scores = dict(trending(conn, limit=10_000))
        rows = sorted(rows, key=lambda r: (-scores.get(r["id"], 0.0), -r["upvotes"]))
        rows = rows[offset : offset + limit]
    else:
        rows = conn.execute(query.offset(offset).limit(limit)).mappings().all()
    return [DailyItem(view_of(r), r["day"], r["submitted_at"], submitter_of(r)) for r in rows]
