"""Similar papers at 104k with the memory backend: stored lists (index/similar.py) against
a search of every vector, in the same run.

    .venv/bin/python benchmarks/similar.py [--papers 300] [--work-dir /tmp/paperfeed-similar]

The store: the 104,235 real arXiv records on SQLite, each with the real MiniLM vector of
its title (common.title_vectors: real neighbourhoods, cached in the work dir; the papers'
own vectors would take about three hours here). Measured: the time to store every
paper's list (store_similar, round after round as the indexer runs them); then
SearchEngine.similar(limit 5), what a paper page asks, for `--papers` random papers one at
a time: with their lists and 0, 1,000 and 5,000 papers embedded since (other papers'
vectors written again, so each read merges its list with a scan of those), then with no
list (a search of every vector, as before), with how often each gives the same five
papers as that search.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    ARXIV_CS_DAILY,
    arxiv_lines,
    machine,
    title_vectors,
    write_result,
    write_vectors,
)
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.similar import ROUND_LIMIT, store_similar  # noqa: E402
from paperfeed.records import utcnow  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import paper_embeddings, papers, similar_papers  # noqa: E402

SHOWN = 5  # a paper page's similar papers (web/pages.py SIMILAR_SHOWN)
SINCE = (0, 1_000, 5_000)


def prepare(store: Store, embedder: Embedder, folder: Path) -> dict[str, int]:
    """The real papers with their title vectors; returns paper id by arXiv id."""
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
    if count == 0:
        run_ingest(store, JsonlSource(ARXIV_CS_DAILY), show_progress=False)
    with store.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(papers.c.arxiv_id, papers.c.id)).all())
        have = conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar()
    if not have:
        vectors = title_vectors(embedder, folder)
        lines = arxiv_lines()
        found = [(pid, lines[a]) for a, pid in ids.items() if a in lines]
        for start in range(0, len(found), 20_000):
            part = found[start : start + 20_000]
            write_vectors(
                store, embedder.model_id, [p for p, _ in part], vectors[[n for _, n in part]]
            )
    return ids


def timed(engine: SearchEngine, sample: list[str]) -> tuple[list[float], list[list[str]]]:
    took, answers = [], []
    for arxiv_id in sample:
        started = time.perf_counter()
        hits = engine.similar(arxiv_id, SHOWN)
        took.append((time.perf_counter() - started) * 1000)
        answers.append([h.paper.arxiv_id for h in hits])
    return took, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=300, help="papers timed")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/paperfeed-similar"))
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    embedder = Embedder()
    with Store(f"sqlite:///{args.work_dir / 'store.db'}") as store:
        ids = prepare(store, embedder, args.work_dir)
        with store.engine.begin() as conn:
            conn.execute(similar_papers.delete())
        engine = SearchEngine(store, args.work_dir, embedder=embedder, vectors="memory")
        vectors = engine.refresh_vectors()
        started = time.perf_counter()
        while store_similar(store, vectors) >= ROUND_LIMIT:
            pass
        store_s = time.perf_counter() - started
        print(f"{len(vectors):,} lists stored in {store_s:.0f} s", flush=True)

        rng = np.random.default_rng(7)
        sample = [str(a) for a in rng.choice(sorted(ids), args.papers, replace=False)]
        others = [ids[a] for a in sorted(set(ids) - set(sample))]
        rng.shuffle(others)
        timed(engine, sample[:20])  # warm-up: caches, the id order of the index
        runs = {}
        for since in SINCE:
            if since:  # other papers' vectors written again after the lists
                with store.engine.begin() as conn:
                    conn.execute(
                        paper_embeddings.update()
                        .where(paper_embeddings.c.paper_id.in_(others[:since]))
                        .values(embedded_at=utcnow())
                    )
                engine.refresh_vectors()
            runs[f"stored list, {since:,} embedded since"] = timed(engine, sample)
        with store.engine.begin() as conn:
            conn.execute(similar_papers.delete())
        runs["no list: a search of every vector"] = timed(engine, sample)

    whole = runs["no list: a search of every vector"][1]
    rows = [
        {
            "how": how,
            "p50_ms": round(float(np.percentile(took, 50)), 2),
            "p95_ms": round(float(np.percentile(took, 95)), 2),
            "same_top5": round(sum(a == b for a, b in zip(got, whole, strict=True)) / len(got), 3),
        }
        for how, (took, got) in runs.items()
    ]
    print(f"\n{len(vectors):,} papers, {args.papers} timed one at a time, SearchEngine.similar")
    print(f"{'how':<42} {'p50 ms':>8} {'p95 ms':>8} {'same top 5':>11}")
    for r in rows:
        print(f"{r['how']:<42} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['same_top5']:>11}")
    write_result(
        ROOT / "benchmarks" / "results" / "similar.json",
        {
            "benchmark": "similar",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "command": " ".join(["python", "benchmarks/similar.py", *sys.argv[1:]]),
            "papers": len(vectors),
            "vectors": "real MiniLM vectors of the papers' titles (common.title_vectors)",
            "store_all_lists_s": round(store_s, 1),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
