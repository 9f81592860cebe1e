"""For you: recommendations from a user's own signals, over the paper embeddings.

The interest model is a handful of centroids: the vectors of the papers a user liked
(votes, papers in their collections, papers they submitted to a daily list), grouped by a
small spherical k-means, one centroid per LIKES_PER_CENTROID liked papers, at most
MAX_CENTROIDS. A candidate scores its best cosine to any centroid (several interests are
kept apart instead of being averaged into a vector that matches none of them), minus
DISLIKE_WEIGHT times its best cosine to a paper marked "not interested", plus
AUTHOR_WEIGHT times log(1 + the authors it shares with the liked papers). The list is
then re-ranked for diversity (MMR) and every pick names the liked papers it is closest
to. Users with no signals yet start from their interest seeds (a category, an author, an
arXiv paper, a pasted abstract), each seed one more "liked" vector.

Incremental by construction: the model is rebuilt at every request from the user's own
few vectors (a k-means over tens of vectors, well under a millisecond), so a new vote
counts at the next page load and nothing is ever trained over the corpus. The corpus side
is the SearchEngine's VectorIndex, shared with search and refreshed incrementally by the
indexer; scoring is one scan of it per centroid.

`rank` is the whole ranking, on plain arrays: Recommender.for_user feeds it the user's
vectors and the candidates, and the offline evaluation (`evaluate_recommenders`, the
`paperfeed eval recommend` command, benchmarks/recommend.py) measures the same function.
The methods tried and their numbers: docs/recommend.md.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import sqlalchemy as sa

from paperfeed.index.embedder import DIM
from paperfeed.query import ParsedQuery, words_of
from paperfeed.services.digest import ForYou
from paperfeed.services.evaluate import ndcg_at, recall_at
from paperfeed.services.paper_views import PaperView, papers_by_id
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.store.schema import (
    collection_items,
    collections,
    daily_entries,
    imported_submitters,
    interest_seeds,
    not_interested,
    paper_categories,
    paper_embeddings,
    papers,
    votes,
)

MAX_CENTROIDS = 4
LIKES_PER_CENTROID = 8
KMEANS_ITERATIONS = 10
DIVERSITY = 0.1  # MMR trade-off: 0 = by score only
DISLIKE_WEIGHT = 0.5
# Bonus per log1p(shared authors): authorship is the strongest signal measured (authors
# post their own group's papers; author overlap alone finds 0.89 of them, embeddings 0.13).
AUTHOR_WEIGHT = 0.5
AUTHOR_POOL = 10  # the user's most liked authors whose papers join the candidate pool
POOL_PER_PICK = 5  # MMR re-ranks the best POOL_PER_PICK * limit candidates
EXPLAIN = 2  # liked papers named per recommendation
SEED_PAPERS = 200  # newest papers of a category or author averaged into its seed vector
TEXT_CACHE = 2_000  # pasted texts whose vectors a Recommender keeps
MAX_LIMIT = 100


@dataclass(frozen=True)
class RankSettings:
    """The knobs of `rank`; the defaults are what the site runs."""

    max_centroids: int = MAX_CENTROIDS
    likes_per_centroid: int = LIKES_PER_CENTROID
    diversity: float = DIVERSITY
    dislike_weight: float = DISLIKE_WEIGHT
    author_weight: float = AUTHOR_WEIGHT


@dataclass(frozen=True)
class Ranked:
    """One pick of `rank`: a row of `candidates`, its score, and the rows of `liked` it
    is closest to (nearest first)."""

    row: int
    score: float
    nearest: list[int]


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


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def interest_centroids(liked: np.ndarray, settings: RankSettings = RankSettings()) -> np.ndarray:
    """Spherical k-means of the liked vectors: (k, DIM), unit length. Deterministic:
    seeded with the vector nearest the mean, then each farthest from those chosen."""
    if not len(liked):
        return liked[:0]
    k = max(1, min(settings.max_centroids, math.ceil(len(liked) / settings.likes_per_centroid)))
    if k == 1:
        return _unit(liked.mean(axis=0, keepdims=True))
    chosen = [int(np.argmax(liked @ _unit(liked.mean(axis=0))))]
    while len(chosen) < k:
        closest = (liked @ liked[chosen].T).max(axis=1)
        chosen.append(int(np.argmin(closest)))
    centroids = liked[chosen].copy()
    for _ in range(KMEANS_ITERATIONS):
        assignment = np.argmax(liked @ centroids.T, axis=1)
        for c in range(k):
            members = liked[assignment == c]
            if len(members):
                centroids[c] = _unit(members.mean(axis=0))
    return centroids


def shared_authors(
    candidate_authors: list[list[str]], liked_authors: list[list[str]]
) -> np.ndarray:
    """(candidates, liked) counts of the authors each candidate shares with each liked
    paper (names compared case-insensitively)."""
    column = {}
    for names in liked_authors:
        for name in names:
            column.setdefault(name.strip().casefold(), len(column))
    liked_matrix = np.zeros((len(liked_authors), len(column)), dtype=np.float32)
    for row, names in enumerate(liked_authors):
        liked_matrix[row, [column[n.strip().casefold()] for n in names]] = 1
    candidate_matrix = np.zeros((len(candidate_authors), len(column)), dtype=np.float32)
    for row, names in enumerate(candidate_authors):
        found = [column[key] for n in names if (key := n.strip().casefold()) in column]
        candidate_matrix[row, found] = 1
    return candidate_matrix @ liked_matrix.T


def interest_scores(
    liked: np.ndarray,
    disliked: np.ndarray,
    candidates: np.ndarray,
    settings: RankSettings = RankSettings(),
    shared: np.ndarray | None = None,
) -> np.ndarray:
    """Each candidate's score before diversity: best cosine to an interest centroid,
    minus dislike_weight times its best cosine to a disliked paper, plus author_weight
    times log1p(authors shared with liked papers, counted once per liked paper)."""
    centroids = interest_centroids(liked, settings)
    if not len(centroids) or not len(candidates):
        return np.full(len(candidates), -np.inf, dtype=np.float32)
    scores = (candidates @ centroids.T).max(axis=1)
    if len(disliked) and settings.dislike_weight:
        scores = scores - settings.dislike_weight * (candidates @ disliked.T).max(axis=1)
    if shared is not None and settings.author_weight:
        scores = scores + settings.author_weight * np.log1p(shared.sum(axis=1))
    return scores


def rank(
    liked: np.ndarray,
    disliked: np.ndarray,
    candidates: np.ndarray,
    limit: int = 20,
    settings: RankSettings = RankSettings(),
    shared: np.ndarray | None = None,
) -> list[Ranked]:
    """The best `limit` candidates for someone who liked `liked` and not `disliked`
    (unit-length rows, DIM columns each; any may be empty). `shared`: the
    `shared_authors` matrix of candidates x liked, if authors are known. Best first; the
    caller leaves liked and disliked papers out of `candidates`."""
    scores = interest_scores(liked, disliked, candidates, settings, shared)
    pool_size = min(len(candidates), max(limit, POOL_PER_PICK * limit))
    if pool_size == 0 or not len(liked):
        return []
    pool = np.argpartition(-scores, pool_size - 1)[:pool_size]
    pool = pool[np.argsort(-scores[pool], kind="stable")]
    picks = _diversify(candidates[pool], scores[pool], limit, settings.diversity)
    rows = pool[picks]
    # Explained by the liked papers nearest in meaning, or sharing authors.
    closeness = candidates[rows] @ liked.T
    if shared is not None:
        closeness = closeness + settings.author_weight * np.log1p(shared[rows])
    nearest = np.argsort(-closeness, axis=1, kind="stable")[:, :EXPLAIN]
    return [
        Ranked(row=int(row), score=float(scores[row]), nearest=[int(i) for i in near])
        for row, near in zip(rows, nearest, strict=True)
    ]


def _diversify(vectors: np.ndarray, scores: np.ndarray, limit: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: repeatedly take the candidate with the best
    (1 - diversity) * score - diversity * (cosine to the nearest one already taken)."""
    if diversity <= 0:
        return list(range(min(limit, len(scores))))
    similarity = vectors @ vectors.T
    taken: list[int] = []
    redundancy = np.full(len(scores), -1.0, dtype=np.float32)  # nothing taken yet
    available = np.ones(len(scores), dtype=bool)
    while len(taken) < min(limit, len(scores)):
        value = (1 - diversity) * scores - diversity * np.maximum(redundancy, 0)
        value[~available] = -np.inf
        best = int(np.argmax(value))
        taken.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return taken


# --- the service -------------------------------------------------------------------


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
            vectors = _vectors(conn, index.model, liked_ids | disliked_ids)
            interests = [
                _Interest(vectors[pid], authors, (arxiv_id, title))
                for pid, (arxiv_id, title, authors) in _papers(
                    conn, [p for p in liked_ids if p in vectors]
                ).items()
            ]
            seeds, seed_paper_ids = self._seeds(conn, user_id, index.model)
            allowed = _recent_ids(conn, since) if since is not None else None
        interests += seeds
        if not interests:
            return []
        liked = np.stack([i.vector for i in interests])
        disliked = _matrix([vectors[p] for p in disliked_ids if p in vectors])
        excluded = liked_ids | disliked_ids | seed_paper_ids
        pool = self._pool(liked, interests, POOL_PER_PICK * limit + len(excluded), allowed)
        with self.store.engine.connect() as conn:
            pool_vectors = _vectors(conn, index.model, pool - excluded)
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
            for found in index.search_many(centroids, depth, allowed=allowed):
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
        self, conn: sa.Connection, user_id: int, model: str
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
                vector = _vectors(conn, model, {paper_id}).get(paper_id)
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
                vectors = list(_vectors(conn, model, set(ids)).values())
                if vectors:
                    mean = _unit(np.mean(vectors, axis=0)).astype(np.float32)
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


def _vectors(conn: sa.Connection, model: str, paper_ids: Iterable[int]) -> dict[int, np.ndarray]:
    """The stored vectors of these papers (those embedded), by paper id."""
    ids = sorted(paper_ids)
    found: dict[int, np.ndarray] = {}
    for start in range(0, len(ids), 5_000):  # bounded IN lists
        rows = conn.execute(
            sa.select(paper_embeddings.c.paper_id, paper_embeddings.c.vector).where(
                paper_embeddings.c.model == model,
                paper_embeddings.c.paper_id.in_(ids[start : start + 5_000]),
            )
        )
        for paper_id, blob in rows:
            found[paper_id] = np.frombuffer(blob, dtype=np.float32)
    return found


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


# --- offline evaluation (paperfeed eval recommend, benchmarks/recommend.py) ------------

MIN_SUBMISSIONS = 8
# Submitters with this many entries curate the whole feed (two accounts in the archive:
# taesiri, akhaliq) rather than follow an interest of their own.
BULK_CURATOR_MIN = 200
LIKED_SHARE = 0.7
K = 20
METHODS = ("for_you", "most_upvoted", "tfidf_svm")


@dataclass
class EvalUser:
    name: str
    liked: list[int]  # rows of the corpus: the earliest LIKED_SHARE of their submissions, in order
    truth: set[int]  # rows: their later submissions
    split_day: date  # the day of their first later submission


@dataclass
class EvalCorpus:
    """The evaluation's view of a store: every paper featured on a daily list."""

    paper_ids: np.ndarray
    vectors: np.ndarray  # (papers, DIM); zero rows for papers not embedded
    texts: list[str]  # title and abstract
    authors: list[list[str]]
    upvotes: np.ndarray
    last_featured: list[date]
    users: list[EvalUser]
    curators: list[tuple[str, int]]  # (name, submissions) of the bulk curators left out

    def candidates(self, user: EvalUser) -> np.ndarray:
        """Rows of every paper featured on or after the user's split day, their liked
        papers excepted: "all papers of the later period"."""
        rows = [i for i, day in enumerate(self.last_featured) if day >= user.split_day]
        return np.setdiff1d(np.array(rows, dtype=np.int64), user.liked)


@dataclass
class MethodResult:
    method: str
    users: int
    recall: float
    ndcg: float

    def to_json(self) -> dict:
        return {f"recall@{K}": round(self.recall, 4), f"ndcg@{K}": round(self.ndcg, 4)}


def load_eval_corpus(store: Store, model: str) -> EvalCorpus:
    """The featured papers, their vectors from `model`, and the evaluation users."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                papers.c.id,
                papers.c.title,
                papers.c.abstract,
                papers.c.authors,
                sa.func.max(daily_entries.c.imported_upvotes).label("upvotes"),
                sa.func.max(daily_entries.c.day).label("last_day"),
            )
            .join(daily_entries, daily_entries.c.paper_id == papers.c.id)
            .group_by(papers.c.id, papers.c.title, papers.c.abstract, papers.c.authors)
            .order_by(papers.c.id)
        ).all()
        submissions = conn.execute(
            sa.select(imported_submitters.c.name, daily_entries.c.paper_id, daily_entries.c.day)
            .join(
                imported_submitters,
                imported_submitters.c.id == daily_entries.c.imported_submitter_id,
            )
            .order_by(
                imported_submitters.c.name,
                daily_entries.c.day,
                daily_entries.c.submitted_at,
                daily_entries.c.paper_id,
            )
        ).all()
        stored = _vectors(conn, model, (r.id for r in rows))
    row_of = {r.id: i for i, r in enumerate(rows)}
    vectors = np.zeros((len(rows), DIM), dtype=np.float32)
    for paper_id, vector in stored.items():
        vectors[row_of[paper_id]] = vector
    by_user: dict[str, list[tuple[int, date]]] = {}
    for name, paper_id, day in submissions:
        by_user.setdefault(name, []).append((row_of[paper_id], day))
    eval_users, curators = [], []
    for name, entries in by_user.items():
        if len(entries) >= BULK_CURATOR_MIN:
            curators.append((name, len(entries)))
        elif len(entries) >= MIN_SUBMISSIONS:
            cut = math.floor(LIKED_SHARE * len(entries))
            liked = list(dict.fromkeys(row for row, _ in entries[:cut]))  # in order
            truth = {row for row, _ in entries[cut:]} - set(liked)
            if truth:
                eval_users.append(EvalUser(name, liked, truth, entries[cut][1]))
    return EvalCorpus(
        paper_ids=np.array([r.id for r in rows], dtype=np.int64),
        vectors=vectors,
        texts=[f"{r.title} {r.abstract}" for r in rows],
        authors=[r.authors or [] for r in rows],
        upvotes=np.array([r.upvotes or 0 for r in rows], dtype=np.int64),
        last_featured=[r.last_day for r in rows],
        users=eval_users,
        curators=sorted(curators, key=lambda c: -c[1]),
    )


# A method: (corpus, user, candidate rows) -> the top K rows, best first.
Method = Callable[[EvalCorpus, EvalUser, np.ndarray], list[int]]


def for_you_method(settings: RankSettings = RankSettings()) -> Method:
    def recommend(corpus: EvalCorpus, user: EvalUser, candidates: np.ndarray) -> list[int]:
        liked = corpus.vectors[user.liked]
        no_dislikes = np.zeros((0, liked.shape[1]), dtype=np.float32)
        shared = shared_authors(
            [corpus.authors[r] for r in candidates], [corpus.authors[r] for r in user.liked]
        )
        ranked = rank(liked, no_dislikes, corpus.vectors[candidates], K, settings, shared)
        return [int(candidates[r.row]) for r in ranked]

    return recommend


def most_upvoted(corpus: EvalCorpus, user: EvalUser, candidates: np.ndarray) -> list[int]:
    order = np.lexsort((candidates, -corpus.upvotes[candidates]))
    return [int(r) for r in candidates[order[:K]]]


def tfidf_svm_method(corpus: EvalCorpus, with_authors: bool = True) -> Method:
    """arxiv-sanity-lite's recommender: tf-idf of title, abstract and author names
    (unigrams and bigrams, 10,000 features, sublinear tf) and, per user, a linear SVM
    trained on every paper, the user's liked ones as positives (class-balanced, C=0.1).
    Needs scikit-learn (pip install -e '.[bench]')."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    features = TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=10_000,
        sublinear_tf=True,
        max_df=0.5,
        min_df=min(5, max(1, len(corpus.texts) // 100)),  # tiny fixtures keep some words
    ).fit_transform(
        [
            f"{text} {' '.join(names)}" if with_authors else text
            for text, names in zip(corpus.texts, corpus.authors, strict=True)
        ]
    )

    def recommend(corpus: EvalCorpus, user: EvalUser, candidates: np.ndarray) -> list[int]:
        positive = np.zeros(len(corpus.texts), dtype=int)
        positive[user.liked] = 1
        svm = LinearSVC(class_weight="balanced", max_iter=10_000, tol=1e-6, C=0.1)
        scores = svm.fit(features, positive).decision_function(features[candidates])
        order = np.lexsort((candidates, -scores))
        return [int(r) for r in candidates[order[:K]]]

    return recommend


def evaluate_method(corpus: EvalCorpus, name: str, method: Method) -> MethodResult:
    """Mean recall@K and nDCG@K over the corpus's users."""
    recalls, ndcgs = [], []
    for user in corpus.users:
        ranked = [str(r) for r in method(corpus, user, corpus.candidates(user))]
        relevant = {str(r): 1 for r in user.truth}
        recalls.append(recall_at(ranked, relevant, K))
        ndcgs.append(ndcg_at(ranked, relevant, K))
    n = len(recalls)
    return MethodResult(name, n, sum(recalls) / n if n else 0.0, sum(ndcgs) / n if n else 0.0)


def evaluate_recommenders(
    corpus: EvalCorpus, settings: RankSettings = RankSettings()
) -> list[MethodResult]:
    """For you against the two baselines; tfidf_svm only when scikit-learn is installed."""
    methods: list[tuple[str, Method]] = [
        ("for_you", for_you_method(settings)),
        ("most_upvoted", most_upvoted),
    ]
    with contextlib.suppress(ImportError):
        methods.append(("tfidf_svm", tfidf_svm_method(corpus)))
    return [evaluate_method(corpus, name, method) for name, method in methods]


def digest_section(recommender: Recommender, limit: int = 5) -> ForYou:
    """The digest's "For you" provider: the user's best papers among those since then."""

    def for_you(user_id: int, since: datetime) -> list[PaperView]:
        return [r.paper for r in recommender.for_user(user_id, limit, since.date())]

    return for_you
