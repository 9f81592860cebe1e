"""Stored similar papers: each paper's nearest neighbours, computed by the indexer when the
paper is embedded, so that a paper page reads them instead of searching every vector.

A paper's stored list holds its NEIGHBOURS_KEPT nearest papers among the vectors there
were when it was computed. Papers embedded since can be nearer, so a read merges the
list with a search of those papers alone (VectorFilter.embedded_since): the result is
what a search of every vector would give, for one row, a lookup of 21 ids and a scan of
a few vectors, where a search of 104k vectors was 63% of a signed-in paper page
(docs/scaling.md). Only for a backend that scans every vector: the pgvector backend's
HNSW graph answers without a scan. A neighbour embedded again since is in that search,
with its new vector (its old score in the list is dropped); a paper embedded again
since its own list was computed is searched for afresh until the indexer, which does it
next, computes its list again.

The papers embedded since a list grow with every ingest, and with them its scan: once
they are more than SINCE_LIMIT, the indexer computes the list again (the oldest first,
at most ROUND_LIMIT a round).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from paperfeed.index.backend import VectorBackend, VectorFilter
from paperfeed.records import utcnow
from paperfeed.store import Store, insert_or_replace
from paperfeed.store.schema import paper_embeddings, similar_papers

NEIGHBOURS_KEPT = 20  # a page shows 5, `paperfeed similar` 10; more are searched afresh
SINCE_LIMIT = 5_000
ROUND_LIMIT = 20_000
BATCH = 128  # queries per backend call: a (papers x 128) float32 score matrix in memory
_NEIGHBOUR = np.dtype([("paper_id", "<i8"), ("score", "<f4")])


@dataclass(frozen=True)
class StoredList:
    """One paper's stored neighbours, best first, and when they were computed."""

    neighbours: list[tuple[int, float]]
    computed_at: datetime


def _pack(found: list[tuple[int, float]]) -> bytes:
    return np.array(found, dtype=_NEIGHBOUR).tobytes()


def _unpack(blob: bytes) -> list[tuple[int, float]]:
    packed = np.frombuffer(blob, dtype=_NEIGHBOUR)
    return [(int(pid), float(score)) for pid, score in packed]


def stored_list(conn: sa.Connection, model: str, paper_id: int) -> StoredList | None:
    row = conn.execute(
        sa.select(similar_papers.c.neighbours, similar_papers.c.computed_at).where(
            similar_papers.c.paper_id == paper_id, similar_papers.c.model == model
        )
    ).first()
    return StoredList(_unpack(row.neighbours), row.computed_at) if row else None


def written_since(
    conn: sa.Connection, model: str, since: datetime, paper_ids: list[int]
) -> set[int]:
    """Those of these papers whose vector from `model` was written at or after `since`."""
    # Compared here, not in SQL: SQLite would walk the (model, embedded_at) index over
    # every paper embedded since instead of looking up these few by key.
    rows = conn.execute(
        sa.select(paper_embeddings.c.paper_id, paper_embeddings.c.embedded_at).where(
            paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_(paper_ids)
        )
    )
    return {pid for pid, written in rows if written >= since}


def similar_from_store(
    conn: sa.Connection, vectors: VectorBackend, paper_id: int
) -> list[tuple[int, float]] | None:
    """The NEIGHBOURS_KEPT nearest papers to this one, best first, from its stored list
    and a search of the papers embedded since; None when there is no usable list (none
    yet, or its own vector is newer), and the caller searches every vector."""
    kept = stored_list(conn, vectors.model, paper_id)
    if kept is None:
        return None
    changed = written_since(
        conn, vectors.model, kept.computed_at, [paper_id, *(pid for pid, _ in kept.neighbours)]
    )
    own = vectors.vectors_of([paper_id]).get(paper_id)
    if paper_id in changed or own is None:
        return None
    since = VectorFilter(embedded_since=kept.computed_at, exclude=paper_id)
    fresh = vectors.search(own, NEIGHBOURS_KEPT, since)
    merged = [hit for hit in kept.neighbours if hit[0] not in changed] + fresh
    return sorted(merged, key=lambda hit: (-hit[1], hit[0]))[:NEIGHBOURS_KEPT]


def _due(conn: sa.Connection, model: str, cap: int) -> list[int]:
    """Papers whose list is missing or out of date (computed before their own vector,
    or before more than SINCE_LIMIT others were embedded), missing ones first, then the
    oldest."""
    cutoff = conn.execute(
        sa.select(paper_embeddings.c.embedded_at)
        .where(paper_embeddings.c.model == model)
        .order_by(paper_embeddings.c.embedded_at.desc())
        .offset(SINCE_LIMIT)
        .limit(1)
    ).scalar()
    computed = similar_papers.c.computed_at
    out_of_date = [computed.is_(None), computed < paper_embeddings.c.embedded_at]
    if cutoff is not None:
        out_of_date.append(computed <= cutoff)
    return list(
        conn.execute(
            sa.select(paper_embeddings.c.paper_id)
            .outerjoin(
                similar_papers,
                sa.and_(
                    similar_papers.c.paper_id == paper_embeddings.c.paper_id,
                    similar_papers.c.model == model,
                ),
            )
            .where(paper_embeddings.c.model == model, sa.or_(*out_of_date))
            .order_by(sa.case((computed.is_(None), 0), else_=1), computed)
            .limit(cap)
        ).scalars()
    )


def store_similar(
    store: Store,
    vectors: VectorBackend,
    stop: Callable[[], bool] = lambda: False,
    cap: int = ROUND_LIMIT,
) -> int:
    """Compute the lists that are missing or out of date (at most `cap`), a batch per
    transaction; `vectors` must hold every vector (refreshed just before). Returns how
    many were computed: `cap` says there may be more."""
    # Taken before the search: what is embedded later is "since". (A vector committed
    # by another process just after, with an earlier time, is missed as VectorIndex's
    # refresh misses it: `paperfeed index` beside `serve`, embedding the same papers.)
    computed_at = utcnow()
    with store.engine.connect() as conn:
        due = _due(conn, vectors.model, cap)
    for start in range(0, len(due), BATCH):
        if stop():
            return start
        _store_batch(store, vectors, due[start : start + BATCH], computed_at)
    return len(due)


def _store_batch(
    store: Store, vectors: VectorBackend, paper_ids: Iterable[int], computed_at: datetime
) -> None:
    own = vectors.vectors_of(paper_ids)
    ids = list(own)
    if not ids:
        return
    found = vectors.search_many(np.stack([own[i] for i in ids]), NEIGHBOURS_KEPT + 1)
    rows = [
        {
            "paper_id": pid,
            "model": vectors.model,
            "neighbours": _pack([hit for hit in hits if hit[0] != pid][:NEIGHBOURS_KEPT]),
            "computed_at": computed_at,
        }
        for pid, hits in zip(ids, found, strict=True)
    ]
    # `paperfeed index` beside `serve`'s indexer may write the same papers' lists at once.
    with store.engine.begin() as conn:
        insert_or_replace(conn, similar_papers, rows)
