"""Trending papers: votes, weighted by how recent they are, damped by the paper's age.

    score(paper) = sum over its votes of 0.5 ** (vote_age_hours / VOTE_HALF_LIFE_H)
                   / (1 + paper_age_days / PAPER_AGE_SCALE_D) ** AGE_EXPONENT

- Two kinds of votes add up. Upvotes imported from Hugging Face have no individual times;
  they count as cast when the paper was featured (its daily entry's submission time, else
  noon of that day). A vote cast here counts at the moment it was cast, and one vote here
  weighs as much as one imported upvote.
- paper_age is measured from arXiv's first publication (else the first announcement,
  else the first feature), so an old paper that resurfaces needs more votes to trend.
- "Now" follows the papers, not the votes: the current time, or, for a store whose
  newest featured or announced paper is older (an archive, or the demo data), one day
  after it. The list then shows what was trending when the data ends, and local votes
  cast since count as cast at that "now", so a few of them lift their papers without
  emptying the list of everything else.
Only papers with a vote or a feature in the last WINDOW_DAYS before "now" are considered.
The /about page prints this docstring's formula.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.services.paper_views import PaperView, papers_by_id
from paperfeed.store.schema import daily_entries, papers, votes

VOTE_HALF_LIFE_H = 36.0
PAPER_AGE_SCALE_D = 7.0
AGE_EXPONENT = 1.5
WINDOW_DAYS = 14


@dataclass
class Vote:
    at: datetime
    count: int = 1


def score(votes_cast: list[Vote], paper_born: datetime, now: datetime) -> float:
    """The formula above for one paper."""
    weight = sum(
        v.count * 0.5 ** (max(0.0, (now - v.at).total_seconds() / 3600) / VOTE_HALF_LIFE_H)
        for v in votes_cast
    )
    age_days = max(0.0, (now - paper_born).total_seconds() / 86400)
    return weight / (1 + age_days / PAPER_AGE_SCALE_D) ** AGE_EXPONENT


def reference_time(conn: sa.Connection) -> datetime:
    """The formula's "now": the newest paper's time plus a day, at most the current time.
    Votes cast here are left out on purpose: one of them must not move the clock months
    ahead of the data and leave every imported vote outside the window."""
    latest = [conn.execute(sa.select(sa.func.max(daily_entries.c.submitted_at))).scalar()]
    for day in (
        conn.execute(sa.select(sa.func.max(daily_entries.c.day))).scalar(),
        conn.execute(sa.select(sa.func.max(papers.c.announced_date))).scalar(),
    ):
        if day is not None:
            latest.append(datetime.combine(day, time(12)))
    present = [moment for moment in latest if moment is not None]
    now = utcnow()
    return min(now, max(present) + timedelta(days=1)) if present else now


def trending(conn: sa.Connection, limit: int = 50) -> list[tuple[int, float]]:
    """(paper id, score) best first."""
    now = reference_time(conn)
    since = now - timedelta(days=WINDOW_DAYS)
    cast: dict[int, list[Vote]] = defaultdict(list)
    for paper_id, day, submitted_at, upvotes in conn.execute(
        sa.select(
            daily_entries.c.paper_id,
            daily_entries.c.day,
            daily_entries.c.submitted_at,
            daily_entries.c.imported_upvotes,
        ).where(daily_entries.c.day >= since.date())
    ):
        at = submitted_at or datetime.combine(day, time(12))
        cast[paper_id].append(Vote(at, upvotes))
    for paper_id, created_at in conn.execute(
        sa.select(votes.c.paper_id, votes.c.created_at).where(votes.c.created_at >= since)
    ):
        cast[paper_id].append(Vote(created_at))
    if not cast:
        return []
    born: dict[int, datetime] = {}
    first_featured = (
        sa.select(sa.func.min(daily_entries.c.day))
        .where(daily_entries.c.paper_id == papers.c.id)
        .scalar_subquery()
    )
    for paper_id, published_at, announced, featured in conn.execute(
        sa.select(
            papers.c.id, papers.c.published_at, papers.c.announced_date, first_featured
        ).where(papers.c.id.in_(list(cast)))
    ):
        fallback = announced or featured
        born[paper_id] = published_at or (datetime.combine(fallback, time(0)) if fallback else now)
    ranked = sorted(
        ((pid, score(cast[pid], born[pid], now)) for pid in cast if pid in born),
        key=lambda item: (-item[1], item[0]),
    )
    return [(pid, s) for pid, s in ranked[:limit] if s > 0]


def trending_papers(conn: sa.Connection, limit: int = 50) -> list[tuple[PaperView, float]]:
    ranked = trending(conn, limit)
    views = papers_by_id(conn, [pid for pid, _ in ranked])
    return [(views[pid], value) for pid, value in ranked if pid in views]
