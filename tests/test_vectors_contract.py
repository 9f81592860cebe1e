"""The vector backend contract (index/backend.py), run against every implementation: the
in-memory index on SQLite and on PostgreSQL, and pgvector on PostgreSQL.

The data is a slice of the real corpus (../shared/data/arxiv-cs-daily): every 400th of
the first 64,000 papers, so that it spans months and many categories, embedded at 64
tokens to keep the module short. The reference is an exact numpy scan of the recorded
float32 vectors. pgvector holds float16 copies behind an approximate (HNSW) index, so it
must agree with the exact top 10 on at least 90% on average, and give the same scores to
within float16 rounding; the memory backend must agree exactly.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import threading
from collections import Counter
from datetime import date

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa

from paperfeed.errors import PaperfeedError
from paperfeed.index.backend import EVERYTHING, VectorFilter, stored_vectors
from paperfeed.index.pgvector import PgVectorIndex
from paperfeed.index.vectors import VectorIndex, embed_pending, open_vector_backend
from paperfeed.records import paper_day, utcnow
from paperfeed.services.indexer import switch_vectors
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store, pgvector
from paperfeed.store.migrations import migrate
from paperfeed.store.schema import paper_embeddings, paper_vectors, papers, schema_migrations
from tests.helpers import needs

BACKENDS = [
    "memory-sqlite",
    *(pytest.param(k, marks=needs("PostgreSQL")) for k in ("memory-postgresql", "pgvector")),
]
TOPICS = [
    "diffusion models for image generation",
    "reinforcement learning from human feedback",
    "graph neural networks for molecules",
    "speech recognition in low-resource languages",
    "robot grasping with tactile sensors",
]


def read_slice(shared_data, start: int, stop: int, step: int) -> list[dict]:
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        return [json.loads(line) for line in itertools.islice(lines, start, stop, step)]


def ingest(store: Store, records: list[dict], folder, embedder) -> None:
    path = folder / f"slice-{records[0]['arxiv_id']}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    run_ingest(store, JsonlSource(path), show_progress=False)
    for _ in embed_pending(store, embedder):
        pass


def make_backend(kind: str, store: Store, model: str):
    return open_vector_backend(store, model, "pgvector" if kind == "pgvector" else "memory")


@pytest.fixture(scope="module")
def embedder(load_embedder):
    return load_embedder(64)


@pytest.fixture(scope="module")
def records(shared_data):
    return read_slice(shared_data, 0, 64_000, 400)


@pytest.fixture(scope="module")
def filled(records, embedder, postgres_url, migrated_template, tmp_path_factory):
    """One SQLite and one PostgreSQL store holding the slice and its vectors."""
    from tests.conftest import _create_database, _drop_database

    folder = tmp_path_factory.mktemp("contract")
    pg_url = _create_database(postgres_url, template=migrated_template)
    stores = {
        "sqlite": Store(f"sqlite:///{folder / 'paperfeed.db'}"),
        "postgresql": Store(pg_url),
    }
    for store in stores.values():
        ingest(store, records, folder, embedder)
    yield stores
    for store in stores.values():
        store.close()
    _drop_database(postgres_url, pg_url)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, filled, embedder):
    kind = request.param
    store = filled["sqlite" if kind == "memory-sqlite" else "postgresql"]
    made = make_backend(kind, store, embedder.model_id)
    made.refresh()
    return made


@pytest.fixture(scope="module")
def exact(filled, embedder):
    """The reference: (ids, float32 vectors, days, categories) of the slice, and a scan."""
    store = filled["sqlite"]
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                papers.c.id, papers.c.categories, papers.c.announced_date, papers.c.published_at
            ).order_by(papers.c.id)
        ).all()
        vectors = stored_vectors(conn, embedder.model_id, [r.id for r in rows])
    return Exact(rows, vectors)


class Exact:
    def __init__(self, rows, vectors) -> None:
        self.ids = np.array([r.id for r in rows if r.id in vectors])
        self.matrix = np.stack([vectors[i] for i in self.ids])
        self.days = {r.id: paper_day(r.announced_date, r.published_at) for r in rows}
        self.categories = {r.id: set(r.categories) for r in rows}

    def search(self, vector, limit, where: VectorFilter = EVERYTHING):
        scores = self.matrix @ vector
        low, high = where.day_range
        keep = [
            i
            for i, pid in enumerate(self.ids.tolist())
            if (not where.categories or self.categories[pid] & set(where.categories))
            and (not where.has_days or low <= self.days[pid] <= high)
            and (where.among is None or pid in set(where.among.tolist()))
            and pid != where.exclude
        ]
        keep.sort(key=lambda i: -scores[i])
        return [(int(self.ids[i]), float(scores[i])) for i in keep[:limit]]


def queries(embedder, exact) -> list[np.ndarray]:
    """Topic phrases, and papers of the slice as queries (their nearest neighbours)."""
    return list(embedder.embed(TOPICS)) + [exact.matrix[i] for i in range(0, len(exact.ids), 20)]


def agreement(found, expected) -> float:
    if not expected:
        return 1.0 if not found else 0.0
    return len({p for p, _ in found} & {p for p, _ in expected}) / len(expected)


def assert_agrees(backend, found, expected) -> None:
    """Memory: exactly the exact scan. pgvector: the same papers (almost) and scores."""
    if isinstance(backend, VectorIndex):
        assert [p for p, _ in found] == [p for p, _ in expected]
    else:
        assert agreement(found, expected) >= 0.8
    scores = dict(expected)
    for pid, score in found:
        if pid in scores:
            assert score == pytest.approx(scores[pid], abs=0.01)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_nearest_papers_match_an_exact_scan(backend, exact, embedder):
    assert len(backend) == len(exact.ids)
    overlaps = []
    for vector in queries(embedder, exact):
        found, expected = backend.search(vector, 10), exact.search(vector, 10)
        assert_agrees(backend, found, expected)
        overlaps.append(agreement(found, expected))
    assert np.mean(overlaps) >= (1.0 if isinstance(backend, VectorIndex) else 0.9)


def test_the_plan_explains_the_search_itself(filled, exact, embedder):
    """PgVectorIndex.plan: PostgreSQL's plan for the statement `search` runs (the scale
    benchmark reports from it whether the HNSW graph is walked; for these 160 rows the
    planner rightly sorts the table instead)."""
    index = make_backend("pgvector", filled["postgresql"], embedder.model_id)
    assert isinstance(index, PgVectorIndex)
    plan = index.plan(queries(embedder, exact)[0], 10)
    assert plan[0].startswith("Limit") and any("paper_vectors" in line for line in plan), plan


def test_a_repeated_search_is_planned_for_its_own_filter_every_time(filled, exact, embedder):
    """psycopg prepares a statement run 5 times on one connection, and PostgreSQL may then
    plan it once for any parameters: for a filtered search that generic plan guesses the
    filter passes ~25 rows and sorts every row that passes instead of walking the graph
    (docs/scaling.md). Each search must be planned for its own filter."""
    store = filled["postgresql"]
    index = make_backend("pgvector", store, embedder.model_id)
    generic_plans: list[int] = []

    def count_generic_plans(_conn, cursor, statement, *_rest) -> None:
        if "ORDER BY embedding" in statement:  # in the search's own transaction
            cursor.execute(
                "SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements"
                " WHERE statement LIKE 'SELECT paper_id%'"  # the search's walk
            )
            generic_plans.append(cursor.fetchone()[0])

    common = Counter(c for cats in exact.categories.values() for c in cats).most_common()[0][0]
    where = VectorFilter(categories=(common,), since=date(2025, 1, 1))
    sa.event.listen(store.engine, "after_cursor_execute", count_generic_plans)
    try:
        for vector in queries(embedder, exact)[:12]:  # one at a time: one pooled connection
            index.search(vector, 10, where)
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", count_generic_plans)
    assert len(generic_plans) >= 12
    assert generic_plans[-1] == 0, generic_plans


def test_category_and_date_filters_are_honoured(backend, exact, embedder):
    counts = Counter(c for cats in exact.categories.values() for c in cats)
    common, rare = counts.most_common()[0][0], counts.most_common()[-1][0]
    days = sorted(exact.days.values())
    since = date.fromisoformat(str(days[len(days) // 3]))
    until = date.fromisoformat(str(days[2 * len(days) // 3]))
    filters = [
        VectorFilter(categories=(common,)),
        VectorFilter(categories=(rare, "no.such")),
        VectorFilter(since=since),
        VectorFilter(until=until),
        VectorFilter(categories=(common,), since=since, until=until),
        VectorFilter(among=exact.ids[::7], exclude=int(exact.ids[0])),
        VectorFilter(among=np.zeros(0, dtype=np.int64)),
    ]
    for where in filters:
        for vector in queries(embedder, exact)[:8]:
            found, expected = backend.search(vector, 10, where), exact.search(vector, 10, where)
            assert_agrees(backend, found, expected)
            allowed = {p for p, _ in exact.search(vector, len(exact.ids), where)}
            assert {p for p, _ in found} <= allowed


def test_a_paper_is_not_its_own_neighbour_when_excluded(backend, exact):
    pid = int(exact.ids[3])
    vector = backend.vectors_of([pid])[pid]
    assert backend.search(vector, 1)[0][0] == pid
    assert pid not in [p for p, _ in backend.search(vector, 5, VectorFilter(exclude=pid))]


def test_centroid_search_is_a_search_per_centroid(backend, exact, embedder):
    centroids = np.stack(queries(embedder, exact)[:4])
    for where in (VectorFilter(), VectorFilter(among=exact.ids[::2])):
        together = backend.search_many(centroids, 7, where)
        assert len(together) == len(centroids)
        for vector, found in zip(centroids, together, strict=True):
            assert [p for p, _ in found] == [p for p, _ in backend.search(vector, 7, where)]


def test_the_vector_of_a_paper_is_the_recorded_one(backend, exact):
    wanted = [int(i) for i in exact.ids[:5]] + [10**9]
    found = backend.vectors_of(wanted)
    assert set(found) == set(wanted[:5])
    for pid, vector in found.items():
        assert vector.dtype == np.float32
        row = int(np.flatnonzero(exact.ids == pid)[0])
        np.testing.assert_allclose(vector, exact.matrix[row], atol=2e-3)


# --- State: refresh, an empty store, choosing and switching (a store per test) ---


@pytest.fixture(params=BACKENDS)
def kind_and_store(request, tmp_path):
    kind = request.param
    if kind == "memory-sqlite":
        url = f"sqlite:///{tmp_path / 'paperfeed.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    with Store(url) as store:
        yield kind, store


def test_an_empty_store_has_no_neighbours(kind_and_store, embedder):
    kind, store = kind_and_store
    backend = make_backend(kind, store, embedder.model_id)
    assert backend.refresh() == 0
    assert len(backend) == 0
    vector = embedder.embed_query("anything")
    assert backend.search(vector, 10) == []
    assert backend.search(vector, 10, VectorFilter(categories=("cs.CL",))) == []
    assert backend.search_many(np.stack([vector, vector]), 5) == [[], []]
    assert backend.vectors_of([1, 2]) == {}


def test_refresh_takes_in_new_papers(kind_and_store, shared_data, embedder, tmp_path):
    kind, store = kind_and_store
    first, later = (
        read_slice(shared_data, 1_000, 1_040, 2),
        read_slice(shared_data, 2_000, 2_010, 1),
    )
    ingest(store, first, tmp_path, embedder)
    backend = make_backend(kind, store, embedder.model_id)
    backend.refresh()
    assert len(backend) == len(first)
    ingest(store, later, tmp_path, embedder)
    backend.refresh()
    assert len(backend) == len(first) + len(later)
    with store.engine.connect() as conn:
        new_id = conn.execute(
            sa.select(papers.c.id).where(papers.c.arxiv_id == later[0]["arxiv_id"])
        ).scalar_one()
    vector = backend.vectors_of([new_id])[new_id]
    assert backend.search(vector, 1)[0][0] == new_id


def test_the_memory_index_reads_vectors_written_at_one_time_again_only_when_one_is_new(
    db_url, shared_data, embedder, tmp_path
):
    """A bulk import writes many vectors at one time: a refresh reads them again only
    when the store has one more of that time, or a newer one."""
    with Store(db_url) as store:
        ingest(store, read_slice(shared_data, 4_000, 4_007, 1), tmp_path, embedder)
        at = utcnow()
        with store.engine.begin() as conn:
            conn.execute(paper_embeddings.update().values(embedded_at=at))
            held_back = conn.execute(
                sa.select(paper_embeddings).order_by(paper_embeddings.c.paper_id.desc())
            ).first()
            conn.execute(
                paper_embeddings.delete().where(paper_embeddings.c.paper_id == held_back.paper_id)
            )
        index = VectorIndex(store, embedder.model_id)
        assert index.refresh() == 6
        assert index.refresh() == 0  # nothing new: none read again
        with store.engine.begin() as conn:  # one more written at that same time
            conn.execute(paper_embeddings.insert().values(**held_back._mapping))
        assert index.refresh() == 7 and len(index) == 7
        assert index.refresh() == 0
        turned = -np.frombuffer(held_back.vector, dtype=np.float32)
        with store.engine.begin() as conn:  # embedded again, later
            conn.execute(
                paper_embeddings.update()
                .where(paper_embeddings.c.paper_id == held_back.paper_id)
                .values(vector=turned.tobytes(), embedded_at=utcnow())
            )
        assert index.refresh() == 7  # the newer one, and those at the old time again
        assert index.refresh() == 0 and len(index) == 7
        assert np.allclose(index.vectors_of([held_back.paper_id])[held_back.paper_id], turned)


def test_the_search_engine_shows_its_vectors_only_once_they_are_all_loaded(
    kind_and_store, shared_data, embedder, tmp_path
):
    """The first load is published whole (until then searches and /readyz wait), and a
    request that comes during it waits for it instead of reading every vector again."""
    kind, store = kind_and_store
    ingest(store, read_slice(shared_data, 3_000, 3_020, 1), tmp_path, embedder)
    engine = SearchEngine(
        store, None, embedder=embedder, vectors="pgvector" if kind == "pgvector" else "memory"
    )
    reading, go_on = threading.Event(), threading.Event()
    table = paper_vectors.name if kind == "pgvector" else paper_embeddings.name

    def hold_the_first_load(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == "first-load" and f"FROM {table}" in statement:
            reading.set()
            go_on.wait(30)

    sa.event.listen(store.engine, "before_cursor_execute", hold_the_first_load)
    got: list = []
    first = threading.Thread(target=lambda: got.append(engine.loaded_vectors()), name="first-load")
    second = threading.Thread(target=lambda: got.append(engine.loaded_vectors()))
    try:
        first.start()
        assert reading.wait(30)
        assert engine.vectors is None  # the load has begun, and is not whole yet
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waiting for the first load
    finally:
        go_on.set()
        first.join(30)
        second.join(30)
        sa.event.remove(store.engine, "before_cursor_execute", hold_the_first_load)
    assert len(got) == 2 and got[0] is got[1] is engine.vectors
    assert len(engine.vectors) == 20


def test_a_search_can_keep_to_papers_embedded_since_a_time(
    kind_and_store, shared_data, embedder, tmp_path
):
    kind, store = kind_and_store
    first, later = (
        read_slice(shared_data, 1_000, 1_040, 2),
        read_slice(shared_data, 2_000, 2_010, 1),
    )
    ingest(store, first, tmp_path, embedder)
    between = utcnow()
    ingest(store, later, tmp_path, embedder)
    backend = make_backend(kind, store, embedder.model_id)
    backend.refresh()
    with store.engine.connect() as conn:
        later_ids = set(
            conn.execute(
                sa.select(papers.c.id).where(papers.c.arxiv_id.in_([r["arxiv_id"] for r in later]))
            ).scalars()
        )
    vector = embedder.embed_query("neural networks")
    found = backend.search(vector, 20, VectorFilter(embedded_since=between))
    assert {pid for pid, _ in found} == later_ids
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert backend.search(vector, 5, VectorFilter(embedded_since=utcnow())) == []


def test_pgvector_catches_up_vectors_written_without_it(
    fresh_postgres_url, shared_data, embedder, tmp_path
):
    """A writer that did not know of the copy (it was made later, or a restore): refresh
    copies what the record has and the copy lacks."""
    with Store(fresh_postgres_url) as store:
        ingest(store, read_slice(shared_data, 3_000, 3_030, 1), tmp_path, embedder)
        backend = make_backend("pgvector", store, embedder.model_id)
        backend.refresh()
        with store.engine.begin() as conn:
            conn.execute(paper_vectors.delete().where(paper_vectors.c.paper_id % 3 == 0))
        backend.refresh()
        assert len(backend) == 30
        with store.engine.connect() as conn:
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(paper_vectors)).scalar() == 30
            )


def test_the_default_backend_follows_the_store(fresh_db, embedder):
    store = fresh_db
    chosen = open_vector_backend(store, embedder.model_id)
    expected = PgVectorIndex if store.dialect == "postgresql" else VectorIndex
    assert isinstance(chosen, expected)
    if store.dialect == "sqlite":
        with pytest.raises(PaperfeedError, match="needs a PostgreSQL store"):
            open_vector_backend(store, embedder.model_id, "pgvector")


def test_without_the_right_to_create_the_extension_vectors_stay_in_memory(
    empty_postgres_url, embedder, caplog
):
    """A role that may not CREATE EXTENSION: migration 9 and the default choice say why
    in one log line and use memory; asking for pgvector is an error that says why."""
    role = f"r_{empty_postgres_url.rpartition('/')[2]}"
    name = empty_postgres_url.rpartition("/")[2]
    with psycopg.connect(empty_postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT ALL ON SCHEMA public TO "{role}"')
        admin.execute(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC')
    scheme, rest = empty_postgres_url.split("://", 1)
    limited = f"{scheme}://{role}@{rest.split('@', 1)[-1]}"
    with caplog.at_level(logging.WARNING), Store(limited) as store:
        backend = open_vector_backend(store, embedder.model_id)
        assert isinstance(backend, VectorIndex)
        with pytest.raises(PaperfeedError, match="CREATE EXTENSION vector failed"):
            open_vector_backend(store, embedder.model_id, "pgvector")
    lines = [r.getMessage() for r in caplog.records if "pgvector cannot be used" in r.getMessage()]
    assert len(lines) == 1 and "permission denied" in lines[0]


def test_migration_9_moves_the_vectors_and_index_vectors_memory_drops_them(
    fresh_postgres_url, shared_data, embedder, tmp_path
):
    """A store migrated before pgvector (its vectors only as bytes) gets them copied by
    migration 9; `paperfeed index --vectors memory` drops the copy, `--vectors pgvector`
    makes it again, and new vectors are written to it as they are made."""
    with Store(fresh_postgres_url) as store:
        switch_vectors(store, "memory")
        ingest(store, read_slice(shared_data, 4_000, 4_020, 1), tmp_path, embedder)
        with store.engine.begin() as conn:
            conn.execute(schema_migrations.delete().where(schema_migrations.c.version == 9))
        migrate(store.engine)
        with store.engine.connect() as conn:
            assert pgvector.is_enabled(conn)
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(paper_vectors)).scalar() == 20
            )
        assert switch_vectors(store, "memory")
        ingest(store, read_slice(shared_data, 5_000, 5_005, 1), tmp_path, embedder)
        with store.engine.connect() as conn:
            assert not pgvector.is_enabled(conn)
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar()
                == 25
            )
        assert switch_vectors(store, "pgvector")
        ingest(store, read_slice(shared_data, 6_000, 6_005, 1), tmp_path, embedder)
        with store.engine.connect() as conn:
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(paper_vectors)).scalar() == 30
            )


def test_migration_9_does_nothing_on_sqlite(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'p.db'}") as store, store.engine.connect() as conn:
        assert not pgvector.is_enabled(conn)
        assert not sa.inspect(conn).has_table("paper_vectors")


def test_the_hnsw_build_gets_memory_for_the_whole_graph():
    """Past maintenance_work_mem pgvector finishes the graph on disk, many times slower:
    1.5 KB a vector (the graph takes about 1.3), never under 512 MB, never over 4 GB."""
    assert pgvector.build_memory_mb(1_000) == 512
    assert pgvector.build_memory_mb(1_000_000) == 1_464
    assert pgvector.build_memory_mb(2_700_000) == 3_955
    assert pgvector.build_memory_mb(10_000_000) == 4_096
