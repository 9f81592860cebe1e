"""Semantic search: paper vectors persisted in the store, searched in memory with numpy.

At 104k x 384 an exact float32 scan is a ~160 MB matrix product per query, a few ms on two
cores (benchmarks/search_speed.py); that keeps recall exact and needs no index build. The
store holds the vectors (`paper_embeddings`), so every app worker loads the same ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import sqlalchemy as sa

from paperfeed.index.embedder import DIM, Embedder, paper_text
from paperfeed.records import utcnow
from paperfeed.store import Store
from paperfeed.store.schema import paper_embeddings, papers

EMBED_BATCH = 256


def stale_papers(model: str) -> sa.Select:
    """Papers without a vector from `model`, or ingested again since it was computed."""
    current = (
        sa.select(paper_embeddings.c.paper_id)
        .where(paper_embeddings.c.model == model)
        .where(paper_embeddings.c.paper_id == papers.c.id)
        .where(paper_embeddings.c.embedded_at >= papers.c.ingested_at)
    )
    return sa.select(papers.c.id, papers.c.title, papers.c.abstract).where(~sa.exists(current))


def count_stale(store: Store, model: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(stale_papers(model).subquery())
        ).scalar_one()


def embed_pending(
    store: Store, embedder: Embedder, on_progress: Callable[[int], None] | None = None
) -> Iterator[int]:
    """Embed every stale paper, committing each batch (so an interrupted run keeps its
    work); yields the running count."""
    done = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                stale_papers(embedder.model_id).order_by(papers.c.id).limit(EMBED_BATCH)
            ).all()
        if not rows:
            return
        vectors = embedder.embed(
            [paper_text(r.title, r.abstract) for r in rows], on_batch=on_progress
        )
        now = utcnow()
        with store.engine.begin() as conn:
            conn.execute(
                paper_embeddings.delete().where(
                    paper_embeddings.c.model == embedder.model_id,
                    paper_embeddings.c.paper_id.in_([r.id for r in rows]),
                )
            )
            conn.execute(
                paper_embeddings.insert(),
                [
                    {
                        "paper_id": r.id,
                        "model": embedder.model_id,
                        "vector": v.tobytes(),
                        "embedded_at": now,
                    }
                    for r, v in zip(rows, vectors, strict=True)
                ],
            )
        done += len(rows)
        yield done


class VectorIndex:
    """All vectors of one model, in memory; `refresh` loads what was added since.

    The ids and the matrix are swapped together as one tuple, so a query running while a
    background refresh lands sees either the old pair or the new one, never a mix.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._data = (np.zeros(0, dtype=np.int64), np.zeros((0, DIM), dtype=np.float32))
        self._loaded_through = None

    @property
    def ids(self) -> np.ndarray:
        return self._data[0]

    def __len__(self) -> int:
        return len(self._data[0])

    def refresh(self, store: Store) -> int:
        query = sa.select(
            paper_embeddings.c.paper_id, paper_embeddings.c.vector, paper_embeddings.c.embedded_at
        ).where(paper_embeddings.c.model == self.model)
        if self._loaded_through is not None:
            query = query.where(paper_embeddings.c.embedded_at >= self._loaded_through)
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return 0
        new_ids = np.fromiter((r.paper_id for r in rows), dtype=np.int64, count=len(rows))
        new_vectors = np.frombuffer(b"".join(r.vector for r in rows), dtype=np.float32)
        ids, matrix = self._data
        keep = ~np.isin(ids, new_ids)  # a re-embedded paper replaces its old row
        self._data = (
            np.concatenate([ids[keep], new_ids]),
            np.concatenate([matrix[keep], new_vectors.reshape(len(rows), DIM)]),
        )
        self._loaded_through = max(r.embedded_at for r in rows)
        return len(rows)

    def search(
        self,
        vector: np.ndarray,
        limit: int,
        allowed: np.ndarray | None = None,
        exclude: int | None = None,
    ) -> list[tuple[int, float]]:
        """(paper id, cosine) best first, among the `allowed` paper ids if given."""
        ids, matrix = self._data
        if not len(ids):
            return []
        scores = matrix @ vector
        if allowed is not None:
            scores = np.where(np.isin(ids, allowed), scores, -np.inf)
        if exclude is not None:
            scores = np.where(ids == exclude, -np.inf, scores)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def vector_of(self, paper_id: int) -> np.ndarray | None:
        ids, matrix = self._data
        rows = np.flatnonzero(ids == paper_id)
        return matrix[rows[0]] if len(rows) else None
