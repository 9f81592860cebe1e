"""Stored similar papers (index/similar.py): computed by the indexer, merged with the papers
embedded since, computed again when out of date; with the memory backend on both engines,
not stored with pgvector."""

import pytest
import sqlalchemy as sa

from paperfeed.index import similar as stored
from paperfeed.index.backend import VectorFilter
from paperfeed.records import utcnow
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import papers, similar_papers
from tests.feeds import listing_line, paper
from tests.test_search import TOPICS, build_engine


@pytest.fixture
def embedder(load_embedder):
    return load_embedder(128)


def paper_id(store, arxiv_id):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(papers.c.id).where(papers.c.arxiv_id == arxiv_id)).scalar()


def computed_at(store):
    with store.engine.connect() as conn:
        return dict(
            conn.execute(sa.select(similar_papers.c.paper_id, similar_papers.c.computed_at)).all()
        )


def searched(engine, arxiv_id, limit):
    """Similar papers by a search of every vector, as without a stored list."""
    pid = paper_id(engine.store, arxiv_id)
    vectors = engine.loaded_vectors()
    own = vectors.vectors_of([pid])[pid]
    return [p for p, _ in vectors.search(own, limit, VectorFilter(exclude=pid))]


def add(engine, tmp_path, n, title, abstract):
    path = tmp_path / f"new{n}.jsonl"
    path.write_text(listing_line(paper(n, title=title, abstract=abstract)))
    run_ingest(engine.store, JsonlSource(path), show_progress=False)


def test_the_indexer_stores_each_papers_neighbours_and_pages_read_them(
    fresh_db, tmp_path, embedder
):
    engine = build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    lists = computed_at(fresh_db)
    assert len(lists) == len(TOPICS)
    for n in range(1, len(TOPICS) + 1):
        arxiv_id = f"2611.{n:05d}"
        with fresh_db.engine.connect() as conn:
            kept = stored.similar_from_store(
                conn, engine.loaded_vectors(), paper_id(fresh_db, arxiv_id)
            )
        assert kept is not None and len(kept) == len(TOPICS) - 1
        shown = [paper_id(fresh_db, h.paper.arxiv_id) for h in engine.similar(arxiv_id, 3)]
        assert shown == searched(engine, arxiv_id, 3)


def test_a_paper_embedded_later_joins_the_stored_lists_at_once(fresh_db, tmp_path, embedder):
    engine = build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    before = computed_at(fresh_db)
    abstract = TOPICS[4][1]  # 2611.00005, the tactile grasping paper
    add(engine, tmp_path, 90, "Tactile feedback for grasping fragile objects", abstract)
    update_indexes(engine)
    after = computed_at(fresh_db)
    newcomer = paper_id(fresh_db, "2611.00090")
    # Only the newcomer's list was computed; the others are merged with it when read.
    assert set(after) == {*before, newcomer}
    assert all(after[pid] == when for pid, when in before.items())
    assert engine.similar("2611.00005", 1)[0].paper.arxiv_id == "2611.00090"
    for n in range(1, len(TOPICS) + 1):
        arxiv_id = f"2611.{n:05d}"
        shown = [paper_id(fresh_db, h.paper.arxiv_id) for h in engine.similar(arxiv_id, 5)]
        assert shown == searched(engine, arxiv_id, 5)


def test_a_paper_embedded_again_gets_a_new_list_and_its_new_place(fresh_db, tmp_path, embedder):
    engine = build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    before = computed_at(fresh_db)
    # 2611.00008 (speech recognition) revised into a paper on sparse attention, as an
    # ingest of its next version writes it.
    with fresh_db.engine.begin() as conn:
        conn.execute(
            papers.update()
            .where(papers.c.arxiv_id == "2611.00008")
            .values(title="Sparse attention for long documents", abstract=TOPICS[5][1])
            .values(ingested_at=utcnow())
        )
    update_indexes(engine)
    after = computed_at(fresh_db)
    revised = paper_id(fresh_db, "2611.00008")
    assert after[revised] > before[revised]
    assert engine.similar("2611.00006", 1)[0].paper.arxiv_id == "2611.00008"
    assert engine.similar("2611.00008", 1)[0].paper.arxiv_id == "2611.00006"


def test_a_list_with_too_many_papers_since_is_computed_again(
    fresh_db, tmp_path, embedder, monkeypatch
):
    engine = build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    before = computed_at(fresh_db)
    monkeypatch.setattr(stored, "SINCE_LIMIT", 1)
    add(engine, tmp_path, 91, "Robotic grasping of eggs", TOPICS[4][1])
    add(engine, tmp_path, 92, "Touch sensors in robot hands", TOPICS[4][1])
    engine.similar_due = False  # the indexer acts on its own (new vectors), not on this
    update_indexes(engine)
    after = computed_at(fresh_db)
    assert all(after[pid] > when for pid, when in before.items())
    with fresh_db.engine.connect() as conn:
        pid = paper_id(fresh_db, "2611.00005")
        assert stored.similar_from_store(conn, engine.loaded_vectors(), pid) is not None
        assert stored.stored_list(conn, engine.vectors.model, pid).neighbours[0][0] in {
            paper_id(fresh_db, "2611.00091"),
            paper_id(fresh_db, "2611.00092"),
        }


def test_with_pgvector_no_list_is_stored_and_the_graph_answers(
    postgres_url, fresh_postgres_url, tmp_path, embedder
):
    with Store(fresh_postgres_url) as store:
        engine = build_engine(store, tmp_path, embedder)
        assert not engine.loaded_vectors().scans_every_vector  # pgvector, the default here
        assert computed_at(store) == {}
        shown = [paper_id(store, h.paper.arxiv_id) for h in engine.similar("2611.00005", 3)]
        assert shown == searched(engine, "2611.00005", 3)


def test_a_paper_deleted_since_its_neighbours_list_gives_its_place_to_the_next(
    fresh_db, tmp_path, embedder
):
    """A page reads only as many of the stored neighbours as it shows, and reads on
    when one of them is no longer in the store."""
    engine = build_engine(fresh_db, tmp_path, embedder, vectors="memory")
    arxiv_id = "2611.00001"
    before = [h.paper.arxiv_id for h in engine.similar(arxiv_id, 4)]
    assert len(before) == 4
    with fresh_db.engine.begin() as conn:
        conn.execute(papers.delete().where(papers.c.arxiv_id == before[0]))
    assert [h.paper.arxiv_id for h in engine.similar(arxiv_id, 3)] == before[1:]
