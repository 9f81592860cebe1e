"""Trends: how many papers match each of a few queries, week by week or month by month.

A paper matches a query as a count counts it (`SearchEngine.matching_days`): the search
syntax parsed by the same code as search, its filters (`cat:`, `author:`, `since:`,
`until:`, `has:code`) and exclusions applied as search applies them, and every content
word (stopwords aside) and quoted phrase required, stemmed, in the title or abstract.
A paper's period is the one of its arXiv announcement (else its publication), the date
`since:` and `until:` read. For each period a series gives the count, the share of all
papers of that period, and the community's votes: the upvotes of the matching papers
(as every list counts them: imported from Hugging Face plus votes cast here).

The clock follows the papers: the default range ends at the newest paper's period (or at
PAPERFEED_TODAY), so an archive or the demo's data shows its own last months.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from paperfeed.query import QueryError, parse_query
from paperfeed.services.paper_views import upvotes_by_paper
from paperfeed.services.search import SearchEngine

GRANULARITIES = ("week", "month")
MAX_QUERIES = 6
# A trend's query is a topic, not a pasted abstract: far below search's 2,000 characters.
MAX_TREND_QUERY_CHARS = 200
# The longest range drawn: three years of weeks, thirteen of months.
MAX_PERIODS = 156
DEFAULT_PERIODS = {"week": 26, "month": 24}
VIEWS = ("share", "count", "votes")
# Dates a range may hold: from before arXiv to far ahead, away from date's own limits.
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class Period:
    start: date
    label: str  # 2026-W05 or 2026-05
    papers: int = 0  # all papers of the period


@dataclass
class Series:
    query: str
    counts: list[int]
    votes: list[int]
    shares: list[float]

    def to_json(self, periods: list[Period]) -> dict[str, Any]:
        return {
            "query": self.query,
            "total": sum(self.counts),
            "votes": sum(self.votes),
            "points": [
                {"period": p.label, "count": c, "share": round(s, 6), "votes": v}
                for p, c, s, v in zip(periods, self.counts, self.shares, self.votes, strict=True)
            ],
        }


@dataclass
class Trends:
    by: str
    clock: date | None  # the day the default range ends at
    periods: list[Period] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "clock": self.clock.isoformat() if self.clock else None,
            "since": self.periods[0].start.isoformat() if self.periods else None,
            "until": period_end(self.periods[-1].start, self.by).isoformat()
            if self.periods
            else None,
            "periods": [
                {"period": p.label, "start": p.start.isoformat(), "papers": p.papers}
                for p in self.periods
            ],
            "series": [s.to_json(self.periods) for s in self.series],
        }

    def to_csv(self) -> str:
        """One row per query and period (a long table: every spreadsheet pivots it)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["query", "period", "start", "papers_in_period", "count", "share", "votes"])
        for s in self.series:
            for p, c, share, v in zip(self.periods, s.counts, s.shares, s.votes, strict=True):
                writer.writerow(
                    [
                        _csv_safe(s.query),
                        p.label,
                        p.start.isoformat(),
                        p.papers,
                        c,
                        f"{share:.6f}",
                        v,
                    ]
                )
        return out.getvalue()


def _csv_safe(text: str) -> str:
    """A query as a spreadsheet cell: one starting with = + - @ would be read as a formula
    (`-survey` is a query, not a sum), so it is written after an apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def period_start(day: date, by: str) -> date:
    if by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(start: date, by: str) -> date:
    return _next_start(start, by) - timedelta(days=1)


def _next_start(start: date, by: str) -> date:
    if by == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def period_label(start: date, by: str) -> str:
    if by == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def _starts(days: np.ndarray, by: str) -> np.ndarray:
    """Each yyyymmdd day's period start, as days since 1970 (-1 for no date)."""
    valid = days > 0
    year, month, day = days // 10_000, days // 100 % 100, days % 100
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    if by == "month":
        starts = (months.astype("datetime64[D]") - _EPOCH).astype(np.int64)
    else:
        ordinal = (months.astype("datetime64[D]") - _EPOCH).astype(np.int64) + day - 1
        starts = ordinal - (ordinal + 3) % 7  # 1970-01-01 was a Thursday
    return np.where(valid, starts, -1)


def _as_day(value: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(value))


def _bound(text: str, end: bool) -> date | None:
    """A range bound written as search's dates are (YYYY, YYYY-MM or YYYY-MM-DD)."""
    if not text:
        return None
    parsed = parse_query(f"{'until' if end else 'since'}:{text}")
    return parsed.until if end else parsed.since


def check_queries(queries: list[str]) -> list[str]:
    """The queries to draw (blank ones dropped), or QueryError past the bounds."""
    queries = [q.strip() for q in queries if q.strip()]
    if len(queries) > MAX_QUERIES:
        raise QueryError(f"at most {MAX_QUERIES} queries at once")
    for q in queries:
        if len(q) > MAX_TREND_QUERY_CHARS:
            raise QueryError(f"a trend's query is at most {MAX_TREND_QUERY_CHARS} characters")
    return queries


def trends(
    engine: SearchEngine,
    queries: list[str],
    by: str = "month",
    since: str = "",
    until: str = "",
    today: date | None = None,
) -> Trends:
    """Counts, shares and votes of each query per period, from `since` to `until` (search's
    date syntax; by default the last DEFAULT_PERIODS periods up to the clock: `today`, or
    the newest paper's day)."""
    if by not in GRANULARITIES:
        raise QueryError(f"unknown period {by!r}: use {', '.join(GRANULARITIES)}")
    queries = check_queries(queries)
    _, all_days = engine.keyword.matching_days(None)
    newest = int(all_days.max()) if len(all_days) else 0
    clock = today or (date(newest // 10_000, newest // 100 % 100, newest % 100) if newest else None)
    last = _bound(until, end=True) or clock or date.today()
    first = _bound(since, end=False)
    if first and first > last:
        raise QueryError(f"since {first} is after until {last}")
    if not all(EARLIEST <= d <= LATEST for d in (first or last, last)):
        raise QueryError(f"dates from {EARLIEST.year} to {LATEST.year} only")
    starts = [period_start(last, by)]
    while starts[-1] > period_start(first, by) if first else len(starts) < DEFAULT_PERIODS[by]:
        if len(starts) == MAX_PERIODS:
            raise QueryError(f"at most {MAX_PERIODS} periods ({by}s) at once: narrow since/until")
        starts.append(period_start(starts[-1] - timedelta(days=1), by))
    starts.reverse()
    matched = [engine.matching_days(q) for q in queries]
    result = Trends(by, clock, [Period(s, period_label(s, by)) for s in starts])
    keys = np.array([(s - date(1970, 1, 1)).days for s in starts], dtype=np.int64)
    totals = _per_period(keys, _starts(all_days, by))
    for period, total in zip(result.periods, totals, strict=True):
        period.papers = int(total)
    with engine.store.engine.connect() as conn:
        upvotes = upvotes_by_paper(conn) if queries else {}
    for text, (ids, days) in zip(queries, matched, strict=True):
        of_paper = np.fromiter((upvotes.get(int(i), 0) for i in ids), np.int64, len(ids))
        counts = _per_period(keys, _starts(days, by))
        votes = _per_period(keys, _starts(days, by), of_paper)
        shares = [c / t if t else 0.0 for c, t in zip(counts, totals, strict=True)]
        result.series.append(
            Series(text, [int(c) for c in counts], [int(v) for v in votes], shares)
        )
    return result


def _per_period(keys: np.ndarray, starts: np.ndarray, weights: np.ndarray | None = None) -> list:
    """How many `starts` (or the sum of their weights) fall in each period of `keys`."""
    where = np.searchsorted(keys, starts)
    inside = (where < len(keys)) & (keys[np.minimum(where, len(keys) - 1)] == starts)
    chosen = weights[inside] if weights is not None else None
    return np.bincount(where[inside], weights=chosen, minlength=len(keys)).tolist()


def series_values(series: Series, view: str) -> list[float]:
    """What a chart draws of a series: its shares (in %), counts or votes."""
    if view == "share":
        return [100 * s for s in series.shares]
    return [float(v) for v in (series.counts if view == "count" else series.votes)]
