"""The pgvector backend: nearest papers asked of PostgreSQL, no vector held in the process.

`paper_vectors` (store/pgvector.py) holds each vector as `halfvec(384)` beside the paper's
day and categories, with an HNSW index over the inner product (the vectors are unit
length, so it ranks as cosine does and skips the norms). A query is one SQL statement:
`ORDER BY embedding <#> query LIMIT k`, filters in its WHERE clause. Filtered queries rely
on pgvector's iterative index scans (`hnsw.iterative_scan = relaxed_order`): the graph walk
goes on until enough rows pass the filter; "relaxed" lets rows come slightly out of order,
so they are sorted again here. A filter so narrow that the walk gives up before finding
`limit` rows (hnsw.max_scan_tuples, 20,000 by default) is answered by an exact scan of
the rows it allows, which are few by then; so is an explicit list of paper ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa

from paperfeed.config import HNSW_EF_SEARCH
from paperfeed.index.backend import EVERYTHING, VectorFilter, stored_vectors
from paperfeed.index.embedder import DIM
from paperfeed.store import Store
from paperfeed.store.pgvector import copy_missing, halfvec_text
from paperfeed.store.schema import paper_vectors

# A refresh looks again this far behind the newest vector it saw: a writer's rows whose
# commit landed after a later writer's are still caught up.
REFRESH_SLACK = timedelta(minutes=10)
_DISTANCE = f"embedding <#> CAST(:query AS halfvec({DIM}))"


def _nearest_sql(order: str, conditions: str) -> str:
    return (
        f"SELECT paper_id, {_DISTANCE} AS distance FROM {paper_vectors.name}"
        f" WHERE {conditions} ORDER BY {order} LIMIT :limit"
    )


class PgVectorIndex:
    """Nearest papers by the HNSW index of paper_vectors; see the module docstring."""

    # The graph finds a paper's neighbours without a scan: a whole similar-papers request
    # took 42 ms at 2.7M papers (docs/scaling.md), so they are not stored.
    scans_every_vector = False

    def __init__(self, store: Store, model: str, ef_search: int = HNSW_EF_SEARCH) -> None:
        """`ef_search`: hnsw.ef_search (PAPERFEED_HNSW_EF_SEARCH). Larger is closer to exact
        and slower; with iterative scans it is where the walk starts, not a cap on rows."""
        self.store = store
        self.model = model
        self.ef_search = ef_search
        self._count = 0
        self._seen_through: datetime | None = None

    def __len__(self) -> int:
        return self._count

    def refresh(self) -> int:
        """Copy the recorded vectors the table lacks from a writer that did not know of
        it (those embedded since the newest vector seen here, less REFRESH_SLACK: an
        index range, not a comparison of the whole tables), and count what it holds."""
        with self.store.engine.begin() as conn:
            seen = self._seen_through or self._newest(conn)
            copied = copy_missing(conn, self.model, since=seen - REFRESH_SLACK) if seen else 0
            self._count = conn.execute(
                sa.select(sa.func.count()).where(paper_vectors.c.model == self.model)
            ).scalar_one()
            self._seen_through = self._newest(conn)
        return copied

    def _newest(self, conn: sa.Connection) -> datetime | None:
        return conn.execute(
            sa.select(sa.func.max(paper_vectors.c.embedded_at)).where(
                paper_vectors.c.model == self.model
            )
        ).scalar()

    def search(
        self, vector: np.ndarray, limit: int, where: VectorFilter = EVERYTHING
    ) -> list[tuple[int, float]]:
        return self.search_many(vector[None, :], limit, where)[0]

    def search_many(
        self, queries: np.ndarray, limit: int, where: VectorFilter = EVERYTHING
    ) -> list[list[tuple[int, float]]]:
        if limit <= 0 or (where.among is not None and not len(where.among)):
            return [[] for _ in queries]
        conditions, params = self._conditions(where)
        # A replica where the request allows it (store/db.py): the heaviest read of a search.
        with self.store.read() as conn, conn.begin():
            self._walk_settings(conn)
            return [
                self._nearest(conn, query, limit, conditions, params, where) for query in queries
            ]

    def _nearest(
        self,
        conn: sa.Connection,
        query: np.ndarray,
        limit: int,
        conditions: str,
        params: dict,
        where: VectorFilter,
    ) -> list[tuple[int, float]]:
        params = {**params, "query": halfvec_text(query), "limit": limit}
        found: list[tuple[int, float]] = []
        if where.among is None:  # the HNSW index
            found = self._run(conn, _DISTANCE, conditions, params)
        if len(found) < limit:  # an explicit list, or a filter the walk gave up on: exact
            # `+ 0`: an ORDER BY that is not the indexed expression, so no graph walk.
            found = self._run(conn, f"({_DISTANCE}) + 0", conditions, params)
        return found

    def plan(self, vector: np.ndarray, limit: int, where: VectorFilter = EVERYTHING) -> list[str]:
        """PostgreSQL's plan (EXPLAIN) for the graph walk of a search: whether it walks the
        HNSW index or scans the table, which the benchmarks report."""
        conditions, params = self._conditions(where)
        params = {**params, "query": halfvec_text(vector), "limit": limit}
        with self.store.read() as conn, conn.begin():
            self._walk_settings(conn)
            return list(
                conn.execute(sa.text("EXPLAIN " + _nearest_sql(_DISTANCE, conditions)), params)
                .scalars()
                .all()
            )

    def _walk_settings(self, conn: sa.Connection) -> None:
        # SET LOCAL: the settings end with this transaction, not with the pooled
        # connection, so no other query inherits them. A custom plan for every search:
        # psycopg prepares a statement run 5 times on a connection, and PostgreSQL then
        # tries one plan for all parameters, which for a filtered search guesses ~25 rows
        # pass and sorts all that do instead of walking the graph (at 500k papers, cs.CV
        # since 2026-01: p50 141 -> 27 ms; docs/scaling.md).
        conn.execute(
            sa.text(
                "SELECT set_config('hnsw.ef_search', :ef, true),"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('plan_cache_mode', 'force_custom_plan', true)"
            ),
            {"ef": str(self.ef_search)},
        )

    @staticmethod
    def _run(conn: sa.Connection, order: str, conditions: str, params: dict) -> list:
        rows = conn.execute(sa.text(_nearest_sql(order, conditions)), params).all()
        # Relaxed order: sort again; ties by paper id, as the memory backend's are stable.
        return sorted(((r.paper_id, -float(r.distance)) for r in rows), key=lambda h: (-h[1], h[0]))

    def _conditions(self, where: VectorFilter) -> tuple[str, dict]:
        """The WHERE clause of `where` (fixed text, values as parameters)."""
        conditions = ["model = :model"]
        params: dict = {"model": self.model}
        if where.categories:
            conditions.append("categories && CAST(:categories AS text[])")
            params["categories"] = list(where.categories)
        if where.has_days:
            conditions.append("day BETWEEN :low AND :high")
            params["low"], params["high"] = where.day_range
        if where.among is not None:
            conditions.append("paper_id = ANY(CAST(:among AS integer[]))")
            params["among"] = [int(i) for i in where.among]
        if where.exclude is not None:
            conditions.append("paper_id <> :exclude")
            params["exclude"] = int(where.exclude)
        if where.embedded_since is not None:
            conditions.append("embedded_at >= :embedded_since")
            params["embedded_since"] = where.embedded_since
        return " AND ".join(conditions), params

    def vectors_of(self, paper_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """From the float32 record: the copy here is rounded to float16."""
        with self.store.engine.connect() as conn:
            return stored_vectors(conn, self.model, paper_ids)
