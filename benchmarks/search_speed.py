"""Search latency and memory at 104k real papers, and at 1M (the corpus scaled up).

    .venv/bin/python benchmarks/search_speed.py [--scale 1000000] [--work-dir /tmp/pf-speed]

End to end through SearchEngine.search (query parsing, query embedding, keyword and vector
legs, fusion, reading the result rows from the store, snippets), single-threaded, after a
warm-up. Queries: 150 of the 2-4 word keywords Hugging Face attached to papers, 50 paper
titles, 50 filtered queries (author:/cat:/since:).

How the corpus is scaled, and why it is fair for timing:
- 104k: the real arxiv-cs-daily papers, their real text in the keyword index.
- 1M: the same papers copied until there are N, each copy with a new id, its title
  suffixed with the copy number; term statistics stay those of real text.
- Vectors: embedding 104k abstracts takes hours on two cores, so the first 2,000 papers
  are embedded for real and every other paper gets the vector of a real one plus small
  noise (re-normalized). An exact scan costs the same whatever the values are; what this
  does not measure is ranking quality (benchmarks/search_quality.py does).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
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
    fill_vectors,
    machine,
    memory_mb,
    search_queries,
    write_result,
)
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import papers  # noqa: E402

COPY_PREFIX = 9000  # a copy's id: 9000 + 2 * copy + position // 100,000, then the rest


def scaled_corpus(folder: Path, size: int) -> Path:
    """JSON Lines of `size` papers: the real ones, then renamed copies."""
    path = folder / f"corpus_{size}_v2.jsonl"  # v2: before, ids past 9ccc.99999 were refused
    if path.exists():
        return path
    with gzip.open(ARXIV_CS_DAILY, "rt") as lines:
        real = [json.loads(line) for line in lines]
    with path.open("w") as out:
        for n in range(size):
            record = dict(real[n % len(real)])
            copy, position = divmod(n, len(real))
            if copy:
                # Ids 9ppp.NNNNN (two prefixes a copy: an arXiv number has five digits)
                # cannot clash with real 25xx/26xx ids; scaled_origin reads them back.
                prefix = COPY_PREFIX + 2 * copy + position // 100_000
                record["arxiv_id"] = f"{prefix}.{position % 100_000:05d}"
                record["title"] = f"{record['title']} (copy {copy})"
            out.write(json.dumps(record) + "\n")
    return path


def scaled_origin(arxiv_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each paper of a scaled corpus, which real paper it is (its line in
    arxiv-cs-daily) and which copy of it (0: the paper itself)."""
    line_of = arxiv_lines()
    position = np.empty(len(arxiv_ids), dtype=np.int64)
    copy = np.zeros(len(arxiv_ids), dtype=np.int64)
    for k, arxiv_id in enumerate(arxiv_ids):
        prefix, number = arxiv_id.split(".")
        if int(prefix) >= COPY_PREFIX:
            copy[k], hundred_thousands = divmod(int(prefix) - COPY_PREFIX, 2)
            position[k] = hundred_thousands * 100_000 + int(number)
        else:
            position[k] = line_of[arxiv_id]
    return position, copy


def measure(engine: SearchEngine, texts: list[str], mode: str) -> dict:
    for text in texts[:20]:
        engine.search(text, mode=mode)
    times = []
    for text in texts:
        started = time.perf_counter()
        engine.search(text, mode=mode)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "mode": mode,
        "queries": len(times),
        "p50_ms": round(times[len(times) // 2], 1),
        "p95_ms": round(times[int(len(times) * 0.95)], 1),
        "max_ms": round(times[-1], 1),
    }


def prepare(folder: Path, size: int) -> Path:
    """The store (papers, vectors) and the keyword index, built once and cached."""
    url = f"sqlite:///{folder / 'store.db'}"
    with Store(url) as store:
        ingested = run_ingest(store, JsonlSource(scaled_corpus(folder, size)), show_progress=False)
        assert ingested.rejected == 0, ingested.rejections[:3]
        embedder = Embedder(bulk=True)
        fill_vectors(store, embedder)
        engine = SearchEngine(store, folder, embedder=embedder)
        pending = engine.keyword.pending(store)
        started = time.perf_counter()
        for _ in engine.keyword.sync(store):
            pass
        build_s = time.perf_counter() - started if pending else None
        with store.engine.connect() as conn:
            sample = conn.execute(
                sa.select(papers.c.title, papers.c.abstract).order_by(papers.c.id).limit(300)
            ).all()
        speed = {}
        for max_tokens in (256, 128):
            started = time.perf_counter()
            embedder.embed([f"{r.title}. {r.abstract}" for r in sample], max_tokens=max_tokens)
            rate = len(sample) / (time.perf_counter() - started)
            speed[f"docs_per_s_at_{max_tokens}_tokens"] = round(rate, 1)
    info = folder / "prepared.json"
    previous = json.loads(info.read_text()) if info.exists() else {}
    # None: the index was built by an earlier run, whose time stands.
    build_s = previous.get("keyword_index_build_s") if build_s is None else round(build_s, 1)
    info.write_text(json.dumps({"keyword_index_build_s": build_s, "embedding": speed}))
    return info


def measure_all(folder: Path) -> dict:
    """Run in a fresh process, so that its memory is that of a serving process."""
    before = memory_mb()["rss"]
    with Store(f"sqlite:///{folder / 'store.db'}") as store:
        engine = SearchEngine(store, folder, embedder=Embedder())
        started = time.perf_counter()
        engine.refresh_vectors()
        load_s = time.perf_counter() - started
        with store.engine.connect() as conn:
            titles = (
                conn.execute(sa.select(papers.c.title).order_by(papers.c.id).limit(5000))
                .scalars()
                .all()[::100]
            )
        texts = search_queries(titles)
        rows = [measure(engine, texts, mode) for mode in ("keyword", "semantic", "hybrid")]
        serving = memory_mb()
        return {
            "rows": rows,
            "vector_load_s": round(load_s, 1),
            "compact_vectors": engine.vectors.compact,
            "memory": {
                "rss_mb_empty_process": before,
                "rss_mb_serving": serving["rss"],
                "serving_mb": serving,
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=int, default=0, help="corpus size (default: the real 104,235)"
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/paperfeed-speed"))
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.scale or 104_235
    folder = args.work_dir / str(size)
    folder.mkdir(parents=True, exist_ok=True)
    if args.measure_only:
        print(json.dumps(measure_all(folder)))
        return
    prepared = json.loads(prepare(folder, size).read_text())
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure-only",
            "--work-dir",
            str(args.work_dir),
            *(["--scale", str(size)] if args.scale else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        f"\n{size:,} papers; keyword index build {prepared['keyword_index_build_s']} s; "
        f"vectors load {measured['vector_load_s']} s; compact vectors: {measured['compact_vectors']}"
    )
    print(f"{'mode':<10}{'queries':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for r in measured["rows"]:
        print(f"{r['mode']:<10}{r['queries']:>8}{r['p50_ms']:>9}{r['p95_ms']:>9}{r['max_ms']:>9}")
    print(f"memory: {measured['memory']}; embedding: {prepared['embedding']}")
    out = ROOT / "benchmarks" / "results" / f"search_speed_{size}.json"
    write_result(
        out,
        {
            "benchmark": "search_speed",
            "papers": size,
            "command": "python benchmarks/search_speed.py"
            + (f" --scale {size}" if args.scale else ""),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            **prepared,
            **measured,
        },
    )


if __name__ == "__main__":
    main()
