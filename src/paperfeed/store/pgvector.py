"""The pgvector copy of the paper vectors: creating it, filling it, keeping it in step.

`paper_embeddings` (float32 bytes) stays the record on both engines; on PostgreSQL with
the `vector` extension, `paper_vectors` holds each vector again as `halfvec(384)` with an
HNSW index (index/pgvector.py searches it). It is written in the same transaction as the
record by the embedding writer (`write`); `copy_missing` catches up what a writer that
did not know of it left behind: the recent ones at each refresh of a PgVectorIndex, all
of them when the table is made and on `paperfeed index --vectors pgvector` (a restore).

The way there: migration 9, `paperfeed index --vectors pgvector`, or the first start of a
PostgreSQL site with PAPERFEED_VECTORS unset (all call `enable`). The way back: `paperfeed
index --vectors memory` (`disable`: drops the copy; the record is untouched).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from paperfeed.errors import first_line
from paperfeed.records import paper_day
from paperfeed.store.schema import paper_embeddings, paper_vectors, papers, pgvector_metadata

log = logging.getLogger(__name__)

# Iterative index scans (filtered queries that keep walking the graph until enough rows
# pass) came in pgvector 0.8.
MIN_VERSION = (0, 8)
# HNSW build settings: pgvector's defaults. Recall@10 against exact search with them:
# 0.998 on SciFact's 5k real vectors at ef_search 100; 0.96-0.98 at 104k stand-in
# vectors at ef_search 200 (benchmarks/vectors_agreement.py).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_INDEX = "ix_paper_vectors_hnsw"
# Memory for building the graph in one go: past it, pgvector writes the rest of the graph
# on disk, 10-50x slower (about 1.3 KB per halfvec(384) vector with m = 16; more is asked
# for, never less than 512 MB, at most 4 GB: about 2.8M vectors).
MIN_BUILD_MB, MAX_BUILD_MB, BUILD_KB_PER_VECTOR = 512, 4_096, 1.5
COPY_BATCH = 5_000
_LOCK = 7262779  # pg_advisory_xact_lock key: one process enables or disables at a time


@dataclass(frozen=True)
class Row:
    """One vector as paper_vectors holds it."""

    paper_id: int
    vector: np.ndarray
    day: int  # records.paper_day
    categories: Sequence[str]
    embedded_at: datetime


def embedded_papers() -> sa.Select:
    """Each stored vector with what a vector filter reads of its paper (categories and
    day): what the in-memory index loads and what the pgvector copy is made from."""
    return sa.select(
        paper_embeddings.c.paper_id,
        paper_embeddings.c.vector,
        paper_embeddings.c.embedded_at,
        papers.c.categories,
        papers.c.announced_date,
        papers.c.published_at,
    ).join(papers, papers.c.id == paper_embeddings.c.paper_id)


def is_enabled(conn: sa.Connection) -> bool:
    """Whether this store keeps the pgvector copy (so writers must write it too)."""
    return conn.dialect.name == "postgresql" and sa.inspect(conn).has_table(paper_vectors.name)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def _extension_problem(conn: sa.Connection) -> str | None:
    """Why the `vector` extension cannot be used here, creating it if it can; None: it can."""
    installed = conn.execute(
        sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    ).scalar()
    if installed is None:
        offered = conn.execute(
            sa.text("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
        ).scalar()
        if offered is None:
            return "this PostgreSQL server has no pgvector extension"
        try:
            with conn.begin_nested():  # a refusal must not abort the caller's transaction
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        except sa.exc.DBAPIError as exc:
            return f"CREATE EXTENSION vector failed: {first_line(exc)}"
        installed = offered
    if _version(installed) < MIN_VERSION:
        return f"pgvector {installed} is older than 0.8 (iterative index scans)"
    return None


def enable(conn: sa.Connection, catch_up: bool = False) -> str | None:
    """Create the extension and paper_vectors if missing; a new table is filled from the
    record and then gets its HNSW index. `catch_up`: also copy every vector an existing
    table lacks (a full comparison of the two tables: `paperfeed index --vectors
    pgvector`, not every start). Returns None when the copy is ready, else why it cannot
    be made (nothing is changed then). Safe to run again, and from several processes."""
    if conn.dialect.name != "postgresql":
        return "the store is not PostgreSQL"
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    problem = _extension_problem(conn)
    if problem is not None:
        return problem
    created = not sa.inspect(conn).has_table(paper_vectors.name)
    pgvector_metadata.create_all(conn)
    copied = copy_missing(conn) if created or catch_up else 0
    if not any(i["name"] == HNSW_INDEX for i in sa.inspect(conn).get_indexes(paper_vectors.name)):
        # Built after the bulk copy: one pass over the rows, not an insert per vector.
        rows = conn.execute(sa.select(sa.func.count()).select_from(paper_vectors)).scalar_one()
        conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{build_memory_mb(rows)}MB'"))
        conn.execute(
            sa.text(
                f"CREATE INDEX {HNSW_INDEX} ON {paper_vectors.name} "
                "USING hnsw (embedding halfvec_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )
        )
    if copied:
        # Statistics now, not whenever autovacuum comes by: the planner weighs the graph
        # against the table's other indexes (day, categories) with them.
        conn.execute(sa.text(f"ANALYZE {paper_vectors.name}"))
        log.info("pgvector: copied %d vectors into %s", copied, paper_vectors.name)
    return None


def build_memory_mb(vectors: int) -> int:
    """maintenance_work_mem for building the HNSW graph of this many vectors."""
    return int(min(MAX_BUILD_MB, max(MIN_BUILD_MB, vectors * BUILD_KB_PER_VECTOR / 1024)))


def disable(conn: sa.Connection) -> bool:
    """Drop the pgvector copy (the vectors stay in paper_embeddings); whether there was one."""
    if not is_enabled(conn):
        return False
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    paper_vectors.drop(conn, checkfirst=True)
    return True


def halfvec_text(vector: np.ndarray) -> str:
    """pgvector's text form of a vector, '[0.1,-0.2,...]' (float16 keeps ~3 digits; 6 are
    written so that rounding happens once, in the server)."""
    return "[" + ",".join(f"{x:.6g}" for x in vector.tolist()) + "]"


def write(conn: sa.Connection, model: str, rows: Sequence[Row]) -> None:
    """Replace these papers' vectors of `model` in paper_vectors (by COPY: the batch goes
    as one stream, not a statement per row)."""
    if not rows:
        return
    conn.execute(
        paper_vectors.delete().where(
            paper_vectors.c.model == model,
            paper_vectors.c.paper_id.in_([r.paper_id for r in rows]),
        )
    )
    columns = "paper_id, model, embedding, day, categories, embedded_at"
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {paper_vectors.name} ({columns}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(
                (
                    r.paper_id,
                    model,
                    halfvec_text(r.vector),
                    r.day,
                    list(r.categories),
                    r.embedded_at,
                )
            )


def copy_missing(
    conn: sa.Connection, model: str | None = None, since: datetime | None = None
) -> int:
    """Copy into paper_vectors every recorded vector it lacks or holds an older one of
    (of `model`, else of every model; embedded at or after `since` if given), in batches
    by paper id. Returns how many."""
    models = (
        [model]
        if model is not None
        else list(conn.execute(sa.select(paper_embeddings.c.model).distinct()).scalars())
    )
    up_to_date = sa.exists(
        sa.select(1).where(
            paper_vectors.c.paper_id == paper_embeddings.c.paper_id,
            paper_vectors.c.model == paper_embeddings.c.model,
            paper_vectors.c.embedded_at >= paper_embeddings.c.embedded_at,
        )
    )
    copied = 0
    for name in models:
        query = (
            embedded_papers()
            .where(paper_embeddings.c.model == name, ~up_to_date)
            .order_by(paper_embeddings.c.paper_id)
            .limit(COPY_BATCH)
        )
        if since is not None:
            query = query.where(paper_embeddings.c.embedded_at >= since)
        after = -1
        while batch := conn.execute(query.where(paper_embeddings.c.paper_id > after)).all():
            rows = [
                Row(
                    r.paper_id,
                    np.frombuffer(r.vector, dtype=np.float32),
                    paper_day(r.announced_date, r.published_at),
                    r.categories,
                    r.embedded_at,
                )
                for r in batch
            ]
            write(conn, name, rows)
            copied += len(rows)
            after = batch[-1].paper_id
    return copied
