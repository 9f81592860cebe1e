"""For you's ranking, on plain arrays: no database, no index, no model.

The interest model is a handful of centroids: the vectors of the papers a user liked,
grouped by a small spherical k-means, one centroid per LIKES_PER_CENTROID liked papers, at
most MAX_CENTROIDS. A candidate scores its best cosine to any centroid (several interests
are kept apart instead of being averaged into a vector that matches none of them), minus
DISLIKE_WEIGHT times its best cosine to a paper marked "not interested", plus
AUTHOR_WEIGHT times log(1 + the authors it shares with the liked papers). The list is
then re-ranked for diversity (MMR) and every pick names the liked papers it is closest
to.

`rank` is the whole ranking: Recommender.for_user (services/recommend.py) feeds it the
user's vectors and the candidates, and the offline evaluation (services/recommend_eval.py)
measures the same function. The methods tried and their numbers: docs/recommend.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from paperfeed.authors import NameIndex

MAX_CENTROIDS = 4
LIKES_PER_CENTROID = 8
KMEANS_ITERATIONS = 10
DIVERSITY = 0.1  # MMR trade-off: 0 = by score only
DISLIKE_WEIGHT = 0.5
# Bonus per log1p(shared authors): authorship is the strongest signal measured (authors
# post their own group's papers; author overlap alone finds 0.89 of them, embeddings 0.13).
AUTHOR_WEIGHT = 0.5
POOL_PER_PICK = 5  # MMR re-ranks the best POOL_PER_PICK * limit candidates
EXPLAIN = 2  # liked papers named per recommendation


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


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def interest_centroids(liked: np.ndarray, settings: RankSettings = RankSettings()) -> np.ndarray:
    """Spherical k-means of the liked vectors: (k, DIM), unit length. Deterministic:
    seeded with the vector nearest the mean, then each farthest from those chosen."""
    if not len(liked):
        return liked[:0]
    k = max(1, min(settings.max_centroids, math.ceil(len(liked) / settings.likes_per_centroid)))
    if k == 1:
        return unit_rows(liked.mean(axis=0, keepdims=True))
    chosen = [int(np.argmax(liked @ unit_rows(liked.mean(axis=0))))]
    while len(chosen) < k:
        closest = (liked @ liked[chosen].T).max(axis=1)
        chosen.append(int(np.argmin(closest)))
    centroids = liked[chosen].copy()
    for _ in range(KMEANS_ITERATIONS):
        assignment = np.argmax(liked @ centroids.T, axis=1)
        for c in range(k):
            members = liked[assignment == c]
            if len(members):
                centroids[c] = unit_rows(members.mean(axis=0))
    return centroids


def shared_authors(
    candidate_authors: list[list[str]], liked_authors: list[list[str]]
) -> np.ndarray:
    """(candidates, liked) counts of the authors each candidate shares with each liked
    paper, names matched by the one author matcher (paperfeed/authors.py: Y. LeCun is
    Yann LeCun, Yi Liu is not Yang Liu)."""
    known = NameIndex()
    liked_columns = [
        [c for n in names if (c := known.add(n)) is not None] for names in liked_authors
    ]
    liked_matrix = np.zeros((len(liked_authors), len(known.ids)), dtype=np.float32)
    for row, columns in enumerate(liked_columns):
        liked_matrix[row, columns] = 1
    candidate_matrix = np.zeros((len(candidate_authors), len(known.ids)), dtype=np.float32)
    for row, names in enumerate(candidate_authors):
        candidate_matrix[row, [c for n in names for c in known.matches(n)]] = 1
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
