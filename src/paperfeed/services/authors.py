"""Author pages: a name's papers, co-authors, categories over time and votes, found
through the one author matcher (paperfeed/authors.py) over the `paper_authors` rows,
with the name variants that approved claims join to it (services/claims.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from paperfeed.authors import AuthorName, parse_name
from paperfeed.services.paper_views import LISTING, NEWEST_FIRST, PaperView, view_of
from paperfeed.store.schema import author_claims, paper_authors, papers, users

MAX_AUTHOR_PAPERS = 2_000  # a name's papers read for its page and votes (the newest)
PAGE_PAPERS = 100
MAX_COAUTHORS = 30
MAX_AMBIGUOUS_SHOWN = 30  # "Y. Wang" stands for a hundred first names in a year of cs
TABLE_CATEGORIES = 6  # columns of the categories-over-time table; the rest are "other"


@dataclass
class Variant:
    """A written form of a name and how many papers write it so."""

    name: str
    papers: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "papers": self.papers}


@dataclass
class AuthorPage:
    name: str
    key: str
    papers: list[PaperView]  # newest first, at most PAGE_PAPERS
    total_papers: int
    total_votes: int
    variants: list[Variant]  # how the matched papers write the name
    # Other authors the key may stand for (rule 5 of paperfeed/authors.py): non-empty
    # when the name is ambiguous.
    ambiguous_with: list[Variant]  # the most frequent MAX_AMBIGUOUS_SHOWN
    ambiguous_total: int  # how many other first names the key stands for
    coauthors: list[Variant]
    category_columns: list[str]
    categories_by_year: list[tuple[int, list[int]]]  # (year, counts by column)
    claimed_by: list[str] = field(default_factory=list)  # usernames, approved claims

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "papers": [p.to_json() for p in self.papers],
            "total_papers": self.total_papers,
            "total_votes": self.total_votes,
            "variants": [v.to_json() for v in self.variants],
            "ambiguous": bool(self.ambiguous_with),
            "ambiguous_with": [v.to_json() for v in self.ambiguous_with],
            "ambiguous_total": self.ambiguous_total,
            "coauthors": [v.to_json() for v in self.coauthors],
            "categories_by_year": [
                {"year": year, "counts": dict(zip(self.category_columns, counts, strict=True))}
                for year, counts in self.categories_by_year
            ],
            "claimed_by": self.claimed_by,
        }


def _row_name(key: str, first: str | None) -> AuthorName:
    return AuthorName(key=key, first=first, family=key.rsplit(" ", 1)[-1])


def _most_written(names: Counter[str]) -> list[Variant]:
    return [Variant(n, c) for n, c in sorted(names.items(), key=lambda x: (-x[1], x[0]))]


def _claimants(conn: sa.Connection, asked: AuthorName) -> tuple[list[str], set[int]]:
    """(usernames, their claimed paper ids): the readers with an approved claim on a name
    the matcher takes for `asked`, and every paper they claimed under any variant (the
    variants merge)."""
    claims = conn.execute(
        sa.select(author_claims.c.user_id, author_claims.c.author_name).where(
            author_claims.c.author_key == asked.key, author_claims.c.status == "approved"
        )
    ).all()
    user_ids = sorted(
        {uid for uid, name in claims if (p := parse_name(name)) and p.same_author(asked)}
    )
    if not user_ids:
        return [], set()
    names = conn.execute(
        sa.select(users.c.username).where(users.c.id.in_(user_ids)).order_by(users.c.username)
    ).scalars()
    claimed = conn.execute(
        sa.select(author_claims.c.paper_id).where(
            author_claims.c.user_id.in_(user_ids), author_claims.c.status == "approved"
        )
    ).scalars()
    return list(names), set(claimed)


def author_paper_ids(conn: sa.Connection, name: str) -> set[int]:
    """The papers the matcher gives to `name`, with those approved claims join to it."""
    asked = parse_name(name)
    if asked is None:
        return set()
    rows = conn.execute(
        sa.select(paper_authors.c.paper_id, paper_authors.c.first).where(
            paper_authors.c.key == asked.key
        )
    ).all()
    found = {pid for pid, first in rows if asked.same_author(_row_name(asked.key, first))}
    return found | _claimants(conn, asked)[1]


def author_page(conn: sa.Connection, name: str) -> AuthorPage | None:
    """The page of `name`; None when no paper has an author the matcher takes for it."""
    asked = parse_name(name)
    if asked is None:
        return None
    rows = conn.execute(
        sa.select(paper_authors.c.paper_id, paper_authors.c.name, paper_authors.c.first).where(
            paper_authors.c.key == asked.key
        )
    ).all()
    written: Counter[str] = Counter()
    others: dict[str, Counter[str]] = defaultdict(Counter)  # first name -> written forms
    matched: set[int] = set()
    initials_matched = False
    for paper_id, written_as, first in rows:
        if asked.same_author(_row_name(asked.key, first)):
            matched.add(paper_id)
            written[written_as] += 1
            initials_matched |= first is None
        if first is not None and first != asked.first:
            others[first][written_as] += 1
    claimed_by, claimed = _claimants(conn, asked)
    matched |= claimed
    if not matched:
        return None
    # Ambiguous: the name in initials stands for several first names, or papers matched
    # only by initials may be by another author with this key.
    ambiguous = (asked.first is None and len(others) > 1) or bool(initials_matched and others)
    ambiguous_with = (
        [Variant(forms.most_common(1)[0][0], forms.total()) for forms in others.values()]
        if ambiguous
        else []
    )
    ambiguous_with.sort(key=lambda v: (-v.papers, v.name))
    newest = conn.execute(
        LISTING.where(papers.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(*NEWEST_FIRST)
        .limit(MAX_AUTHOR_PAPERS),
        {"ids": sorted(matched)[-MAX_AUTHOR_PAPERS:]},  # bounded IN list: the newest ids
    ).mappings()
    views = [view_of(row) for row in newest]
    return AuthorPage(
        name=" ".join(name.split()),
        key=asked.key,
        papers=views[:PAGE_PAPERS],
        total_papers=len(matched),
        total_votes=sum(p.upvotes for p in views),
        variants=_most_written(written),
        ambiguous_with=ambiguous_with[:MAX_AMBIGUOUS_SHOWN],
        ambiguous_total=len(ambiguous_with),
        coauthors=_coauthors(conn, asked, [p.id for p in views]),
        **_categories_over_time(views),
        claimed_by=claimed_by,
    )


def _coauthors(conn: sa.Connection, asked: AuthorName, paper_ids: list[int]) -> list[Variant]:
    """The most frequent co-authors (by the matcher's identity), each under the form most
    papers write, with how many papers they share."""
    shared: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for start in range(0, len(paper_ids), 5_000):
        rows = conn.execute(
            sa.select(
                paper_authors.c.paper_id,
                paper_authors.c.name,
                paper_authors.c.key,
                paper_authors.c.first,
            ).where(paper_authors.c.paper_id.in_(paper_ids[start : start + 5_000]))
        )
        seen: set[tuple[int, str]] = set()
        for paper_id, written_as, key, first in rows:
            other = _row_name(key, first)
            if other.same_author(asked) or (paper_id, other.full) in seen:
                continue
            seen.add((paper_id, other.full))
            shared[other.full] += 1
            forms[other.full][written_as] += 1
    return [
        Variant(forms[identity].most_common(1)[0][0], count)
        for identity, count in shared.most_common(MAX_COAUTHORS)
    ]


def _categories_over_time(views: list[PaperView]) -> dict[str, Any]:
    """Primary categories counted per year, the most frequent as columns."""
    per_year: dict[int, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for paper in views:
        day = paper.announced_date or (paper.published_at.date() if paper.published_at else None)
        if day is None:
            continue
        category = paper.primary_category or "other"
        per_year[day.year][category] += 1
        overall[category] += 1
    columns = [c for c, _ in overall.most_common(TABLE_CATEGORIES)]
    if len(overall) > len(columns):
        columns.append("other")
    table = []
    for year in sorted(per_year, reverse=True):
        counts = per_year[year]
        row = [counts[c] for c in columns if c != "other"]
        if "other" in columns:
            row.append(sum(n for c, n in counts.items() if c not in columns[:-1]))
        table.append((year, row))
    return {"category_columns": columns, "categories_by_year": table}
