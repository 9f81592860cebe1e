"""The vector backend seam: what search, similar papers and For you ask of paper vectors.

Two backends answer it: `index/vectors.py: VectorIndex` (every vector in this process's
memory, exact numpy scans) and `index/pgvector.py: PgVectorIndex` (a halfvec copy in
PostgreSQL, searched through an HNSW index, filters in the SQL). `open_vector_backend`
in index/vectors.py is the one place that chooses (PAPERFEED_VECTORS); the contract they
share is tests/test_vectors_contract.py.

`paper_embeddings` stays the record of every vector (float32 bytes, one row per paper and
model, on both engines): a backend is a searchable view of it, as the keyword index is of
the papers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import numpy as np
import sqlalchemy as sa

from paperfeed.records import day_number
from paperfeed.store.schema import paper_embeddings

IN_LIST = 5_000  # ids per IN (...) list: bounded statements on both engines


@dataclass(frozen=True, eq=False)
class VectorFilter:
    """Which papers a vector search may return. `categories`: any of them; `since` and
    `until`: the paper's day (records.paper_day), inclusive; `among`: only these paper ids;
    `exclude`: not this paper (the one whose neighbours are asked for); `embedded_since`:
    only papers whose vector was written at or after this time (stored similar papers
    merged with those embedded since, index/similar.py)."""

    categories: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    among: np.ndarray | None = None
    exclude: int | None = None
    embedded_since: datetime | None = None

    @property
    def has_days(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def day_range(self) -> tuple[int, int]:
        """(lowest, highest) day number allowed; open ends are 0 and 99991231, as the
        keyword index's open range reads them (an until-only filter keeps undated papers)."""
        low = day_number(self.since) if self.since else 0
        return low, day_number(self.until) if self.until else 99_991_231


EVERYTHING = VectorFilter()


class VectorBackend(Protocol):
    """Nearest papers by cosine of unit vectors from one embedding model."""

    model: str
    # True when every search reads every vector (the memory backend): a paper's similar
    # papers are then stored, not searched for each page (index/similar.py).
    scans_every_vector: bool

    def refresh(self) -> int:
        """Pick up vectors written since the last call (all of them the first time);
        returns how many were taken in."""
        ...

    def __len__(self) -> int:
        """How many papers have a vector here (as of the last refresh)."""
        ...

    def search(
        self, vector: np.ndarray, limit: int, where: VectorFilter = EVERYTHING
    ) -> list[tuple[int, float]]:
        """Up to `limit` (paper id, cosine), best first, among the papers `where` allows."""
        ...

    def search_many(
        self, queries: np.ndarray, limit: int, where: VectorFilter = EVERYTHING
    ) -> list[list[tuple[int, float]]]:
        """`search` for each row of `queries` (For you's interest centroids)."""
        ...

    def vectors_of(self, paper_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """The float32 vectors of these papers (those that have one), by paper id."""
        ...


def stored_vectors(
    conn: sa.Connection, model: str, paper_ids: Iterable[int]
) -> dict[int, np.ndarray]:
    """The recorded (float32) vectors of these papers, by paper id."""
    ids = sorted(set(paper_ids))
    found: dict[int, np.ndarray] = {}
    for start in range(0, len(ids), IN_LIST):
        rows = conn.execute(
            sa.select(paper_embeddings.c.paper_id, paper_embeddings.c.vector).where(
                paper_embeddings.c.model == model,
                paper_embeddings.c.paper_id.in_(ids[start : start + IN_LIST]),
            )
        )
        for paper_id, blob in rows:
            found[paper_id] = np.frombuffer(blob, dtype=np.float32)
    return found
