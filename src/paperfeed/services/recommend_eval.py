"""The offline evaluation of For you (`paperfeed eval recommend`, benchmarks/recommend.py).

Every Hugging Face submitter with MIN_SUBMISSIONS or more submissions is a user (bulk
curators excepted): their earliest LIKED_SHARE are their likes, their later submissions
the truth, the candidates every paper featured from their split day on. For you (the same
`rank` the site runs) is measured against the most upvoted papers and arxiv-sanity-lite's
tf-idf + SVM (scikit-learn, an optional dependency). The numbers: docs/recommend.md.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import sqlalchemy as sa

from paperfeed.index.backend import stored_vectors
from paperfeed.index.embedder import DIM
from paperfeed.services.evaluate import ndcg_at, recall_at
from paperfeed.services.recommend_rank import RankSettings, rank, shared_authors
from paperfeed.store import Store
from paperfeed.store.schema import daily_entries, imported_submitters, papers

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
        stored = stored_vectors(conn, model, (r.id for r in rows))
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
