"""For you: recommendations from a user's own signals, over the paper embeddings.

The liked vectors are the papers a user voted for, put in their collections or submitted
to a daily list; users with no signals yet start from their interest seeds (a category,
an author, an arXiv paper, a pasted abstract), each seed one more "liked" vector. The
ranking itself, on plain arrays, is `rank` in services/recommend_rank.py.

Incremental by construction: the model is rebuilt at every request from the user's own
few vectors (a k-means over tens of vectors, well under a millisecond), so a new vote
counts at the next page load and nothing is ever trained over the corpus. The corpus side
is the SearchEngine's vector backend (index/backend.py), shared with search and refreshed
by the indexer; the pool is one nearest-neighbour search of it per centroid.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import sqlalchemy as sa

from paperfeed.index.backend import VectorBackend, VectorFilter
from paperfeed.index.embedder import DIM
from paperfeed.query import ParsedQuery, words_of
from paperfeed.services.digest_compose import ForYou
from paperfeed.services.paper_views import PaperView, papers_by_id
from paperfeed.services.recommend_rank import (
    POOL_PER_PICK,
    RankSettings,
    interest_centroids,
    rank,
    shared_authors,
    unit_rows,
)
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.store.schema import (
    collection_items,
    collections,
    daily_entries,
    interest_seeds,
    not_interested,
    paper_categories,
    papers,
    votes,
)

AUTHOR_POOL = 10  # the user's most liked authors whose papers join the candidate pool
SEED_PAPERS = 200  # newest papers of a category or author averaged into its seed vector
TEXT_CACHE = 2_000  # pasted texts whose vectors a Recommender keeps
MAX_LIMIT = 100


@dataclass
class Recommendation:
    paper: PaperView
    score: float
    # Why: (arXiv id, title) of the liked papers it is closest to; for a seed, the seed
    # as ("category:cs.CL" | "author:NAME" | "text", what it says).
    because: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            **self.paper.to_json(),
            "score": round(self.score, 6),
            "because": [{"ref": ref, "title": title} for ref, title in self.because],
        }


@dataclass
class _Interest:
    """One "liked" vector, its authors, and how to name it in an explanation."""

    vector: np.ndarray
    authors: list[str]
    because: tuple[str, str]


class Recommender:
    """The "For you" list of a user. One per process, beside the SearchEngine whose
    loaded vectors and keyword index it reads."""

    def __init__(
        self, store: Store, search: SearchEngine, settings: RankSettings = RankSettings()
    ) -> None:
        self.store = store
        self.search = search
        self.settings = settings
        self._text_seeds: OrderedDict[str, np.ndarray] = OrderedDict()

    def for_user(
        self, user_id: int, limit: int = 20, since: date | None = None
    ) -> list[Recommendation]:
        """Up to `limit` papers for this user, best first; only papers announced,
        published or featured on or after `since` if given (a digest's day or week).
        Empty when the user has no signals and no seeds, or nothing is embedded yet."""
        limit = max(1, min(limit, MAX_LIMIT))
        index = self.search.loaded_vectors()
        with self.store.engine.connect() as conn:
            liked_ids, disliked_ids = _signals(conn, user_id)
            vectors = index.vectors_of(liked_ids | disliked_ids)
            interests = [
                _Interest(vectors[pid], authors, (arxiv_id, title))
                for pid, (arxiv_id, title, authors) in _papers(
                    conn, [p for p in liked_ids if p in vectors]
                ).items()
            ]
            seeds, seed_paper_ids = self._seeds(conn, user_id, index)
            allowed = _recent_ids(conn, since) if since is not None else None
        interests += seeds
        if not interests:
            return []
        liked = np.stack([i.vector for i in interests])
        disliked = _matrix([vectors[p] for p in disliked_ids if p in vectors])
        excluded = liked_ids | disliked_ids | seed_paper_ids
        pool = self._pool(liked, interests, POOL_PER_PICK * limit + len(excluded), allowed)
        pool_vectors = index.vectors_of(pool - excluded)
        with self.store.engine.connect() as conn:
            pool_papers = _papers(conn, list(pool_vectors))
        pool_ids = sorted(pool_vectors)
        if not pool_ids:
            return []
        candidates = np.stack([pool_vectors[p] for p in pool_ids])
        shared = shared_authors(
            [pool_papers[p][2] for p in pool_ids], [i.authors for i in interests]
        )
        ranked = rank(liked, disliked, candidates, limit, self.settings, shared)
        with self.store.engine.connect() as conn:
            views = papers_by_id(conn, [pool_ids[r.row] for r in ranked])
        return [
            Recommendation(
                paper=views[pool_ids[r.row]],
                score=r.score,
                because=[interests[i].because for i in r.nearest],
            )
            for r in ranked
            if pool_ids[r.row] in views
        ]

    def _pool(
        self,
        liked: np.ndarray,
        interests: list[_Interest],
        depth: int,
        allowed: np.ndarray | None,
    ) -> set[int]:
        """The candidates `rank` sees: the `depth` nearest papers to each centroid (so
        that it sees the top of a scan of the whole corpus: exactly so without dislikes,
        which only ever lower a score), and the papers of the user's most liked authors,
        found by the keyword index."""
        index = self.search.loaded_vectors()
        pool: set[int] = set()
        with self.search.cpu:
            centroids = interest_centroids(liked, self.settings)
            for found in index.search_many(centroids, depth, VectorFilter(among=allowed)):
                pool.update(pid for pid, _ in found)
        if not self.settings.author_weight:
            return pool
        counts = Counter(name for i in interests for name in set(i.authors))
        for name, _ in counts.most_common(AUTHOR_POOL):
            if not (words := words_of(name)):
                continue
            found = self.search.keyword.matching_ids(ParsedQuery(text="", authors=[words]))
            if allowed is not None:
                found = np.intersect1d(found, allowed)
            pool.update(found.tolist())
        return pool

    def _author_paper_ids(self, name: str) -> list[int]:
        """The newest SEED_PAPERS papers with every word of `name` in their authors (the
        keyword index answers: no scan of the papers table)."""
        words = words_of(name)
        if not words:
            return []
        found = self.search.keyword.matching_ids(ParsedQuery(text="", authors=[words]))
        return sorted(found.tolist(), reverse=True)[:SEED_PAPERS]

    def _text_vector(self, text: str) -> np.ndarray:
        """A pasted text's vector, embedded once and kept (the most recent TEXT_CACHE)."""
        vector = self._text_seeds.pop(text, None)
        if vector is None:
            vector = self.search.embedder.embed([text])[0]
        self._text_seeds[text] = vector
        while len(self._text_seeds) > TEXT_CACHE:
            self._text_seeds.popitem(last=False)
        return vector

    def _seeds(
        self, conn: sa.Connection, user_id: int, index: VectorBackend
    ) -> tuple[list[_Interest], set[int]]:
        """The user's interest seeds as vectors, and the ids of the papers named as
        seeds (to leave out of the list). A seed matching nothing embedded is skipped."""
        rows = conn.execute(
            sa.select(interest_seeds.c.kind, interest_seeds.c.value)
            .where(interest_seeds.c.user_id == user_id)
            .order_by(interest_seeds.c.id)
        ).all()
        found: list[_Interest] = []
        seed_papers: set[int] = set()
        for kind, value in rows:
            if kind == "paper":
                paper_id = conn.execute(
                    sa.select(papers.c.id).where(papers.c.arxiv_id == value)
                ).scalar()
                if paper_id is None:
                    continue
                seed_papers.add(paper_id)
                vector = index.vectors_of([paper_id]).get(paper_id)
                if vector is not None:
                    _, title, authors = _papers(conn, [paper_id])[paper_id]
                    found.append(_Interest(vector, authors, (value, title)))
            elif kind == "text":
                found.append(_Interest(self._text_vector(value), [], ("text", value[:120])))
            elif kind in ("category", "author"):
                ids = (
                    _category_paper_ids(conn, value)
                    if kind == "category"
                    else self._author_paper_ids(value)
                )
                vectors = list(index.vectors_of(ids).values())
                if vectors:
                    mean = unit_rows(np.mean(vectors, axis=0)).astype(np.float32)
                    authors = [value] if kind == "author" else []
                    found.append(_Interest(mean, authors, (f"{kind}:{value}", value)))
        return found, seed_papers


def _matrix(rows: list[np.ndarray]) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)


def _signals(conn: sa.Connection, user_id: int) -> tuple[set[int], set[int]]:
    """(liked paper ids, not-interested paper ids). A paper both liked and marked not
    interested counts as not interested: the mark is the later, explicit word."""
    liked_queries = [
        sa.select(votes.c.paper_id).where(votes.c.user_id == user_id),
        sa.select(collection_items.c.paper_id)
        .join(collections, collections.c.id == collection_items.c.collection_id)
        .where(collections.c.user_id == user_id),
        sa.select(daily_entries.c.paper_id).where(daily_entries.c.submitted_by == user_id),
    ]
    liked = set(conn.execute(sa.union(*liked_queries)).scalars())
    disliked = set(
        conn.execute(
            sa.select(not_interested.c.paper_id).where(not_interested.c.user_id == user_id)
        ).scalars()
    )
    return liked - disliked, disliked


def _papers(conn: sa.Connection, paper_ids: list[int]) -> dict[int, tuple[str, str, list[str]]]:
    """(arXiv id, title, authors) of these papers, by paper id."""
    found: dict[int, tuple[str, str, list[str]]] = {}
    for start in range(0, len(paper_ids), 5_000):
        rows = conn.execute(
            sa.select(papers.c.id, papers.c.arxiv_id, papers.c.title, papers.c.authors).where(
                papers.c.id.in_(paper_ids[start : start + 5_000])
            )
        )
        found.update((r.id, (r.arxiv_id, r.title, r.authors or [])) for r in rows)
    return found


def _category_paper_ids(conn: sa.Connection, category: str) -> list[int]:
    """The newest SEED_PAPERS papers in a category."""
    query = (
        sa.select(paper_categories.c.paper_id)
        .where(paper_categories.c.category == category)
        .order_by(paper_categories.c.paper_id.desc())
    )
    return list(conn.execute(query.limit(SEED_PAPERS)).scalars())


def _recent_ids(conn: sa.Connection, since: date) -> np.ndarray:
    """Papers announced, first published or featured on a daily list on or after `since`."""
    featured = sa.select(daily_entries.c.paper_id).where(daily_entries.c.day >= since)
    ids = conn.execute(
        sa.select(papers.c.id).where(
            sa.or_(
                papers.c.announced_date >= since,
                papers.c.published_at >= datetime.combine(since, time.min),
                papers.c.id.in_(featured),
            )
        )
    ).scalars()
    return np.fromiter(ids, dtype=np.int64)


def digest_section(recommender: Recommender, limit: int = 5) -> ForYou:
    """The digest's "For you" provider: the user's best papers among those since then."""

    def for_you(user_id: int, since: datetime) -> list[PaperView]:
        return [r.paper for r in recommender.for_user(user_id, limit, since.date())]

    return for_you
