"""A small real slice for the map's tests: the first papers of arxiv-cs-daily, embedded once
(at 128 tokens) and written to any store as embed_pending would have."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from paperfeed.index.embedder import Embedder, paper_text
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import paper_embeddings, papers

TOKENS = 128


def first_records(shared_data: Path, count: int) -> list[dict]:
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        return [json.loads(line) for line in itertools.islice(lines, count)]


def vectors_of(records: list[dict], embedder: Embedder) -> dict[str, np.ndarray]:
    vectors = embedder.embed([paper_text(r["title"], r["abstract"]) for r in records])
    return {r["arxiv_id"]: v for r, v in zip(records, vectors, strict=True)}


def ingest(store: Store, folder: Path, rows: list[dict], name: str) -> None:
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    run_ingest(store, JsonlSource(path), show_progress=False)


def store_vectors(store: Store, vectors: dict[str, np.ndarray], model: str) -> None:
    """The vectors of the store's papers that have none yet."""
    with store.engine.begin() as conn:
        ids = dict(conn.execute(sa.select(papers.c.arxiv_id, papers.c.id)).all())
        have = set(conn.execute(sa.select(paper_embeddings.c.paper_id)).scalars())
        rows = [
            {
                "paper_id": ids[a],
                "model": model,
                "vector": v.tobytes(),
                "embedded_at": sa.func.now(),
            }
            for a, v in vectors.items()
            if a in ids and ids[a] not in have
        ]
        for row in rows:
            conn.execute(paper_embeddings.insert().values(**row))
