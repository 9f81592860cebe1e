"""Counts of what the store holds, for `paperfeed stats` and the site's footer."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from paperfeed.store.schema import (
    comments,
    daily_entries,
    ingest_checkpoints,
    paper_categories,
    papers,
    users,
    votes,
)


def _count(conn: sa.Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _by_month(conn: sa.Connection, column: sa.Column) -> Counter[str]:
    # Grouped by day in SQL (portable), folded into months here: a few hundred rows.
    rows = conn.execute(
        sa.select(column, sa.func.count()).where(column.is_not(None)).group_by(column)
    )
    months: Counter[str] = Counter()
    for day, count in rows:
        months[day.isoformat()[:7]] += count
    return months


def store_stats(conn: sa.Connection) -> dict[str, Any]:
    by_category = dict(
        conn.execute(
            sa.select(paper_categories.c.category, sa.func.count())
            .group_by(paper_categories.c.category)
            .order_by(sa.func.count().desc(), paper_categories.c.category)
        ).all()
    )
    announced = _by_month(conn, papers.c.announced_date)
    featured = _by_month(conn, daily_entries.c.day)
    days = conn.execute(
        sa.select(sa.func.min(daily_entries.c.day), sa.func.max(daily_entries.c.day))
    ).one()
    return {
        "papers": _count(conn, papers),
        "daily_entries": _count(conn, daily_entries),
        "daily_days": conn.execute(
            sa.select(sa.func.count(sa.distinct(daily_entries.c.day)))
        ).scalar_one(),
        "first_daily_day": days[0].isoformat() if days[0] else None,
        "last_daily_day": days[1].isoformat() if days[1] else None,
        "votes": _count(conn, votes),
        "imported_upvotes": conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(daily_entries.c.imported_upvotes), 0))
        ).scalar_one(),
        "comments": _count(conn, comments),
        "users": _count(conn, users),
        "interrupted_ingest_jobs": _count(conn, ingest_checkpoints),
        "by_category": by_category,
        "by_month": {
            month: {
                "papers_announced": announced.get(month, 0),
                "daily_entries": featured.get(month, 0),
            }
            for month in sorted(set(announced) | set(featured))
        },
    }
