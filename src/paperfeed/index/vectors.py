"""Paper vectors: the embedding writer, the vector backend seam, and its in-memory backend.

`paper_embeddings` in the store is the record of every vector (float32 bytes, one row
per paper and model), on both engines. Search, similar papers and For you read vectors
only through a `VectorBackend` (index/backend.py), made by `open_vector_backend` (the one
place that chooses, from PAPERFEED_VECTORS): `VectorIndex` below holds them in memory and
scans them with numpy; `index/pgvector.py` keeps a halfvec copy in PostgreSQL and asks
its HNSW index.

At 104k x 384 an exact float32 scan is a ~160 MB matrix product per query, ~8 ms on two
cores (benchmarks/search_speed.py); that keeps recall exact and needs no index build, but
every worker holds its own copy, which is what pgvector removes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from paperfeed.config import HNSW_EF_SEARCH, VECTOR_BACKENDS
from paperfeed.errors import PaperfeedError
from paperfeed.index.backend import EVERYTHING, VectorBackend, VectorFilter
from paperfeed.index.embedder import DIM, Embedder, paper_text
from paperfeed.index.pgvector import PgVectorIndex
from paperfeed.records import paper_day, utcnow
from paperfeed.store import Store, insert_or_replace, pgvector
from paperfeed.store.schema import daily_entries, paper_embeddings, papers

EMBED_BATCH = 256
log = logging.getLogger(__name__)


def stale_papers(model: str) -> sa.Select:
    """Papers without a vector from `model`, or ingested again since it was computed."""
    current = (
        sa.select(paper_embeddings.c.paper_id)
        .where(paper_embeddings.c.model == model)
        .where(paper_embeddings.c.paper_id == papers.c.id)
        .where(paper_embeddings.c.embedded_at >= papers.c.ingested_at)
    )
    return sa.select(
        papers.c.id,
        papers.c.title,
        papers.c.abstract,
        papers.c.categories,
        papers.c.announced_date,
        papers.c.published_at,
    ).where(~sa.exists(current))


def readers_first() -> list[sa.ColumnElement]:
    """The order papers are embedded in: what readers see first. Papers the community list
    featured (the front page, trending, most votes), then the newest, then the archive;
    on a fresh site semantic search covers the pages people open within minutes."""
    featured = sa.exists(
        sa.select(daily_entries.c.id).where(daily_entries.c.paper_id == papers.c.id)
    )
    newest = sa.func.coalesce(papers.c.announced_date, sa.cast(papers.c.published_at, sa.Date))
    return [
        sa.case((featured, 0), else_=1),
        sa.case((newest.is_(None), 1), else_=0),
        newest.desc(),
        papers.c.id,
    ]


@dataclass(frozen=True)
class Coverage:
    """How many of the papers semantic results can include (those with a vector)."""

    embedded: int
    total: int

    @property
    def complete(self) -> bool:
        return self.embedded >= self.total

    @property
    def percent(self) -> float:
        return 100.0 * self.embedded / self.total if self.total else 100.0

    def __str__(self) -> str:
        return (
            f"semantic results cover {self.embedded:,} of {self.total:,} papers "
            f"({self.percent:.0f}%)"
        )

    def to_json(self) -> dict[str, int | float]:
        return {"embedded": self.embedded, "total": self.total, "percent": round(self.percent, 1)}


def coverage_in_store(store: Store, model: str) -> Coverage:
    """Coverage of the vectors in the store (what every worker will load)."""
    with store.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
    return Coverage(embedded=total - count_stale(store, model), total=total)


def count_stale(store: Store, model: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(stale_papers(model).subquery())
        ).scalar_one()


def embed_pending(
    store: Store, embedder: Embedder, on_progress: Callable[[int], None] | None = None
) -> Iterator[int]:
    """Embed every stale paper, what readers see first (readers_first), committing each
    batch (so an interrupted run keeps its work); yields the running count."""
    done = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                stale_papers(embedder.model_id).order_by(*readers_first()).limit(EMBED_BATCH)
            ).all()
        if not rows:
            return
        vectors = embedder.embed(
            [paper_text(r.title, r.abstract) for r in rows], on_batch=on_progress
        )
        now = utcnow()
        # `paperfeed index` beside `serve`'s indexer may embed the same papers at once: the
        # later writer waits for the first's rows, then replaces them (and its pgvector copy).
        with store.engine.begin() as conn:
            insert_or_replace(
                conn,
                paper_embeddings,
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
            if pgvector.is_enabled(conn):  # its copy moves in the same transaction
                pgvector.write(
                    conn,
                    embedder.model_id,
                    [
                        pgvector.Row(
                            r.id, v, paper_day(r.announced_date, r.published_at), r.categories, now
                        )
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                )
        done += len(rows)
        yield done


def _sign_codes(vectors: np.ndarray) -> np.ndarray:
    """One bit per dimension (positive or not): six 64-bit words per vector, stored
    word-major (6 x N) so that each word of all vectors is one contiguous array."""
    words = np.ascontiguousarray(np.packbits(vectors > 0, axis=1)).view(np.uint64)
    return np.ascontiguousarray(words.T)


def hamming(codes: np.ndarray, query_code: np.ndarray) -> np.ndarray:
    """Bit differences between each column of `codes` and `query_code`, as uint16."""
    distance = np.zeros(codes.shape[1], dtype=np.uint16)
    scratch = np.empty(codes.shape[1], dtype=np.uint64)
    for word, query_word in zip(codes, query_code, strict=True):
        np.bitwise_xor(word, query_word, out=scratch)
        distance += np.bitwise_count(scratch)
    return distance


def nearest_by_distance(distance: np.ndarray, count: int) -> np.ndarray:
    """Indexes of (at least) the `count` smallest distances. Distances are small integers
    (0..384), so a histogram finds the cut faster than a partial sort of a million."""
    histogram = np.bincount(distance, minlength=DIM + 1)
    cut = int(np.searchsorted(np.cumsum(histogram), count))
    found = np.flatnonzero(distance <= cut)
    if len(found) > 4 * count:  # a crowded cut (near-identical codes): keep it bounded
        found = found[np.argpartition(distance[found], count - 1)[:count]]
    return found


@dataclass(frozen=True)
class _Loaded:
    """What a VectorIndex holds, swapped as one object: a query running while a refresh
    lands sees the old state or the new one, never a mix."""

    ids: np.ndarray  # paper id of each row
    vectors: np.ndarray  # (rows, DIM): float32, or float16 when compact
    codes: np.ndarray | None  # sign codes (6 x rows) when compact
    days: np.ndarray  # paper_day of each row
    embedded: np.ndarray  # when each row's vector was written (datetime64[us])
    tagged: np.ndarray  # paper id of each (paper, category) pair
    tags: np.ndarray  # category code of each pair

    @property
    def compact(self) -> bool:
        return self.codes is not None


def _empty() -> _Loaded:
    none = np.zeros(0, dtype=np.int64)
    never = np.zeros(0, dtype="datetime64[us]")
    return _Loaded(none, np.zeros((0, DIM), np.float32), None, none, never, none, none)


def _scores(vectors: np.ndarray, rows: np.ndarray | None, queries: np.ndarray) -> np.ndarray:
    """Cosines of `rows` (None: all) with the query (a vector, or one per column). When
    the rows are a large share, one pass over the whole matrix beats copying them out."""
    if rows is None:
        return vectors @ queries
    if len(rows) * 4 > len(vectors):
        return (vectors @ queries)[rows]
    return vectors[rows] @ queries


class VectorIndex:
    """All vectors of one model, in memory; `refresh` loads what was added since.

    Up to `compact_above` vectors the scan is exact over float32. Past it (1M papers would
    take 1.5 GB), vectors are kept as float16 beside 48-byte sign codes: a Hamming scan of
    the codes picks `rescore` candidates, which are then ranked by their exact cosine.
    Beside each vector it keeps the paper's day and categories, so that filters narrow
    the rows scanned (exact filtered search: no over-fetching).
    """

    scans_every_vector = True

    def __init__(
        self, store: Store, model: str, compact_above: int = 300_000, rescore: int = 2_000
    ) -> None:
        self.store = store
        self.model = model
        self.compact_above = compact_above
        self.rescore = rescore
        self._data = _empty()
        self._category_codes: dict[str, int] = {}  # only grows: safe to read while it does
        self._loaded_through = None
        self._loaded_at_newest = 0  # how many loaded vectors were written at that time
        self._sorted: tuple[np.ndarray | None, np.ndarray] = (None, np.zeros(0, np.int64))

    @property
    def ids(self) -> np.ndarray:
        return self._data.ids

    @property
    def compact(self) -> bool:
        return self._data.compact

    def __len__(self) -> int:
        return len(self._data.ids)

    def refresh(self) -> int:
        """Load the vectors written since the last call. Those written in the same instant
        as the newest one loaded are read again (one committed just after the last load
        would be missed otherwise), unless a count says the store has no others: a store
        whose vectors share one time (a bulk import) is not read whole every round."""
        mine = paper_embeddings.c.model == self.model
        query = pgvector.embedded_papers().where(mine)
        loaded = 0
        with self.store.engine.connect() as conn:
            if self._loaded_through is not None:
                since = paper_embeddings.c.embedded_at >= self._loaded_through
                count, newest = conn.execute(
                    sa.select(sa.func.count(), sa.func.max(paper_embeddings.c.embedded_at)).where(
                        mine, since
                    )
                ).one()
                if newest == self._loaded_through and count == self._loaded_at_newest:
                    return 0
                query = query.where(since)
                self._loaded_at_newest = 0  # those at the newest time are read again
            result = conn.execution_options(yield_per=50_000).execute(query)
            for rows in result.partitions(50_000):
                self._add(rows)
                loaded += len(rows)
        return loaded

    def _add(self, rows: list) -> None:
        new_ids = np.fromiter((r.paper_id for r in rows), dtype=np.int64, count=len(rows))
        new_vectors = np.frombuffer(b"".join(r.vector for r in rows), dtype=np.float32)
        new_vectors = new_vectors.reshape(len(rows), DIM)
        new_days = np.fromiter(
            (paper_day(r.announced_date, r.published_at) for r in rows), np.int64, len(rows)
        )
        new_embedded = np.array([r.embedded_at for r in rows], dtype="datetime64[us]")
        codes_of = self._category_codes
        pairs = [
            (r.paper_id, codes_of.setdefault(c, len(codes_of))) for r in rows for c in r.categories
        ]
        new_tagged = np.array([p for p, _ in pairs], dtype=np.int64)
        new_tags = np.array([t for _, t in pairs], dtype=np.int64)
        old = self._data
        keep = ~np.isin(old.ids, new_ids)  # a re-embedded paper replaces its old row
        keep_tags = ~np.isin(old.tagged, new_ids)
        ids = np.concatenate([old.ids[keep], new_ids])
        vectors, codes = old.vectors, old.codes
        compact = codes is not None or len(ids) > self.compact_above
        if compact and codes is None:  # crossing the threshold: convert what is loaded
            codes = _sign_codes(vectors)
            vectors = vectors.astype(np.float16)
        if compact:
            codes = np.concatenate([codes[:, keep], _sign_codes(new_vectors)], axis=1)
            new_vectors = new_vectors.astype(np.float16)
        self._data = _Loaded(
            ids=ids,
            vectors=np.concatenate([vectors[keep], new_vectors]),
            codes=codes,
            days=np.concatenate([old.days[keep], new_days]),
            embedded=np.concatenate([old.embedded[keep], new_embedded]),
            tagged=np.concatenate([old.tagged[keep_tags], new_tagged]),
            tags=np.concatenate([old.tags[keep_tags], new_tags]),
        )
        newest = max(r.embedded_at for r in rows)
        at_newest = sum(r.embedded_at == newest for r in rows)
        if self._loaded_through is None or newest > self._loaded_through:
            self._loaded_through, self._loaded_at_newest = newest, at_newest
        elif newest == self._loaded_through:  # read again, or a later partition of this read
            self._loaded_at_newest += at_newest

    def search(
        self, vector: np.ndarray, limit: int, where: VectorFilter = EVERYTHING
    ) -> list[tuple[int, float]]:
        """(paper id, cosine) best first, among the papers `where` allows."""
        data = self._data
        rows = self._allowed_rows(data, where)  # None: every row
        if data.codes is None:
            scores = _scores(data.vectors, rows, vector)
        else:
            query_code = np.packbits(vector > 0).view(np.uint64)
            candidate_codes = data.codes if rows is None else data.codes[:, rows]
            distance = hamming(candidate_codes, query_code)
            if not len(distance):
                return []
            nearest = nearest_by_distance(distance, max(self.rescore, limit))
            rows = nearest if rows is None else rows[nearest]
            scores = data.vectors[rows].astype(np.float32) @ vector
        if rows is None:
            rows = np.arange(len(data.ids))
        if where.exclude is None:
            return self._top(data.ids, rows, scores, limit)
        found = self._top(data.ids, rows, scores, limit + 1)
        return [(pid, score) for pid, score in found if pid != where.exclude][:limit]

    def search_many(
        self, queries: np.ndarray, limit: int, where: VectorFilter = EVERYTHING
    ) -> list[list[tuple[int, float]]]:
        """`search` for several query vectors at once. The exact scan reads the matrix
        once for all of them (it is memory-bound, so k queries cost about one)."""
        data = self._data
        if data.codes is not None or len(queries) == 1 or where.exclude is not None:
            return [self.search(q, limit, where) for q in queries]
        rows = self._allowed_rows(data, where)
        scores = _scores(data.vectors, rows, np.ascontiguousarray(queries.T, dtype=np.float32))
        if rows is None:
            rows = np.arange(len(data.ids))
        return [self._top(data.ids, rows, np.ascontiguousarray(col), limit) for col in scores.T]

    def vectors_of(self, paper_ids: Iterable[int]) -> dict[int, np.ndarray]:
        data = self._data
        wanted = np.fromiter(paper_ids, dtype=np.int64)
        rows = self._rows_of(data, wanted)
        return {int(data.ids[r]): data.vectors[r].astype(np.float32) for r in rows}

    @staticmethod
    def _top(
        ids: np.ndarray, rows: np.ndarray, scores: np.ndarray, limit: int
    ) -> list[tuple[int, float]]:
        limit = min(limit, len(scores))
        if limit <= 0:
            return []
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[rows[i]]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _allowed_rows(self, data: _Loaded, where: VectorFilter) -> np.ndarray | None:
        """The rows `where` allows (exclude aside), or None for every row."""
        rows = self._rows_of(data, where.among) if where.among is not None else None
        mask = None
        if where.has_days:
            low, high = where.day_range
            mask = (data.days >= low) & (data.days <= high)
        if where.embedded_since is not None:
            recent = data.embedded >= np.datetime64(where.embedded_since, "us")
            mask = recent if mask is None else mask & recent
        if where.categories:
            wanted = [
                self._category_codes[c] for c in where.categories if c in self._category_codes
            ]
            in_any = np.zeros(len(data.ids), dtype=bool)
            in_any[self._rows_of(data, data.tagged[np.isin(data.tags, wanted)])] = True
            mask = in_any if mask is None else mask & in_any
        if mask is None:
            return rows
        return np.flatnonzero(mask) if rows is None else rows[mask[rows]]

    def _rows_of(self, data: _Loaded, paper_ids: np.ndarray) -> np.ndarray:
        """Row numbers of these paper ids (ids without a vector are left out)."""
        ids = data.ids
        if not len(ids):
            return np.zeros(0, dtype=np.int64)
        sorted_for, order = self._sorted
        if sorted_for is not ids:  # first use since a refresh (one tuple: thread-safe)
            order = np.argsort(ids, kind="stable")
            self._sorted = (ids, order)
        paper_ids = np.asarray(paper_ids, dtype=np.int64)
        where = np.searchsorted(ids, paper_ids, sorter=order)
        where = np.minimum(where, len(ids) - 1)
        rows = order[where]
        return rows[ids[rows] == paper_ids]


def open_vector_backend(
    store: Store, model: str, choice: str | None = None, ef_search: int = HNSW_EF_SEARCH
) -> VectorBackend:
    """The vector backend for this store: `choice` "memory" or "pgvector"; None (the
    default) takes pgvector when the store is PostgreSQL and the extension can be used,
    else memory. pgvector asked for and not usable is an error that says why."""
    if choice not in (None, *VECTOR_BACKENDS):
        raise PaperfeedError(f"unknown vector backend {choice!r}: use {', '.join(VECTOR_BACKENDS)}")
    if choice == "memory":
        return VectorIndex(store, model)
    if store.dialect != "postgresql":
        if choice == "pgvector":
            raise PaperfeedError("PAPERFEED_VECTORS=pgvector needs a PostgreSQL store")
        return VectorIndex(store, model)
    with store.engine.begin() as conn:
        problem = pgvector.enable(conn)
    if problem is None:
        return PgVectorIndex(store, model, ef_search=ef_search)
    if choice == "pgvector":
        raise PaperfeedError(f"PAPERFEED_VECTORS=pgvector: {problem}")
    log.warning("vectors held in memory: pgvector cannot be used (%s)", problem)
    return VectorIndex(store, model)
