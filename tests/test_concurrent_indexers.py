"""Two indexers at once: `paperfeed index` beside `serve`'s background indexer may compute
the same papers' vectors, TL;DRs or similar papers at the same time. The one that writes
second replaces the first's rows (store.insert_or_replace). A delete then an insert
failed there on PostgreSQL: the delete saw none of the other's uncommitted rows, and the
insert then met them on the primary key. Each test holds the other writer's rows
uncommitted while ours runs, then commits them."""

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
import sqlalchemy as sa

from paperfeed.index import similar
from paperfeed.index.embedder import DIM
from paperfeed.index.vectors import embed_pending
from paperfeed.records import utcnow
from paperfeed.services.tldr import summarize_pending
from paperfeed.store import Store
from paperfeed.store.schema import paper_embeddings, paper_tldrs, papers, similar_papers
from tests.test_search import build_engine


@pytest.fixture
def embedder(load_embedder):
    return load_embedder(128)


def race(store: Store, table: sa.Table, other_rows: list[dict], ours: Callable[[], object]):
    """`ours` run while another transaction holds `other_rows` of `table`, written and not
    committed; that one commits after a while. Returns what ours raised, if anything."""
    with store.engine.begin() as conn:
        conn.execute(table.delete())
    other = store.engine.connect()
    other.begin()
    other.execute(table.insert(), other_rows)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            ours()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)  # ours waits on the other's rows (PostgreSQL) or write lock (SQLite)
    other.commit()
    other.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
    return failed


def all_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.select(papers.c.id)).scalars())


def test_two_indexers_storing_the_same_similar_papers(fresh_db, tmp_path, embedder):
    engine = build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    vectors = engine.loaded_vectors()
    ids = all_ids(fresh_db)
    other = [
        {"paper_id": pid, "model": vectors.model, "neighbours": b"", "computed_at": utcnow()}
        for pid in ids
    ]
    assert not race(
        fresh_db, similar_papers, other, lambda: similar.store_similar(fresh_db, vectors)
    )
    with fresh_db.engine.connect() as conn:
        rows = conn.execute(sa.select(similar_papers.c.paper_id, similar_papers.c.neighbours)).all()
    assert sorted(pid for pid, _ in rows) == ids  # one list a paper: ours, written last
    assert all(neighbours for _, neighbours in rows)


def test_two_indexers_embedding_the_same_papers(fresh_db, tmp_path, embedder):
    build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    ids = all_ids(fresh_db)
    zero = np.zeros(DIM, dtype=np.float32).tobytes()
    other = [
        {"paper_id": pid, "model": embedder.model_id, "vector": zero, "embedded_at": utcnow()}
        for pid in ids
    ]
    assert not race(
        fresh_db, paper_embeddings, other, lambda: list(embed_pending(fresh_db, embedder))
    )
    with fresh_db.engine.connect() as conn:
        rows = conn.execute(sa.select(paper_embeddings.c.paper_id, paper_embeddings.c.vector)).all()
    assert sorted(pid for pid, _ in rows) == ids
    assert all(blob != zero for _, blob in rows)  # ours, written last


def test_two_indexers_summarizing_the_same_papers(fresh_db, tmp_path, embedder):
    build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    ids = all_ids(fresh_db)
    other = [
        {"paper_id": pid, "method": "other", "tldr": "theirs", "computed_at": utcnow()}
        for pid in ids
    ]
    assert not race(fresh_db, paper_tldrs, other, lambda: list(summarize_pending(fresh_db)))
    with fresh_db.engine.connect() as conn:
        rows = conn.execute(sa.select(paper_tldrs.c.paper_id, paper_tldrs.c.tldr)).all()
    assert sorted(pid for pid, _ in rows) == ids
    assert all(tldr != "theirs" for _, tldr in rows)
