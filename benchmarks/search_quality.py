"""Search quality: SciFact (BEIR) and short topic queries on real Hugging Face papers.

    .venv/bin/python benchmarks/search_quality.py [--work-dir /tmp/pf-quality]

1. SciFact test split (../shared/data/scifact-beir): nDCG@10, recall@100, MRR@10 for
   keyword, semantic and hybrid, beside the published anchors, and the fusion settings
   that were tried.
2. Topic queries: the corpus is the Hugging Face daily papers of 2026 (../shared/data/
   hf-daily-papers); the queries are the 2-4 word `ai_keywords` that Hugging Face attached
   to 5-50 of those papers (the 200 most used); a paper is relevant to a query when the
   query is one of its keywords. Short technical phrases, where keywords do well: hybrid
   must not fall below keyword there.
Embeddings are cached in the work dir: a rerun only evaluates.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import DATA, HF_DAILY, machine  # noqa: E402
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.vectors import embed_pending  # noqa: E402
from paperfeed.services.evaluate import (  # noqa: E402
    EvalResult,
    evaluate,
    evaluate_queries,
    load_corpus,
)
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.hf_daily import HfDailyFileSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402

ANCHORS = {
    "BM25 (BEIR)": 0.665,
    "all-MiniLM-L6-v2 (published)": 0.645,
    "bge-small-en-v1.5 (published)": 0.713,
}
# (label, attribute overrides): the fusion settings compared on both query sets.
FUSIONS = [
    ("hybrid: adaptive (default)", {}),
    ("hybrid: plain RRF k=60", {"coverage_power": 0.0, "covered_discount": 0.0}),
    ("hybrid: keyword weight only", {"covered_discount": 0.0}),
    ("hybrid: semantic discount only", {"coverage_power": 0.0}),
]


def build(store: Store, folder: Path, max_tokens: int) -> tuple[SearchEngine, float]:
    embedder = Embedder(max_tokens=max_tokens, bulk=True)
    engine = SearchEngine(store, folder, embedder=embedder)
    for _ in engine.keyword.sync(store):
        pass
    started, embedded = time.perf_counter(), 0
    for count in embed_pending(store, embedder):
        embedded = count
    rate = embedded / (time.perf_counter() - started) if embedded else None
    engine.refresh()
    return engine, rate


def run_modes(engine: SearchEngine, evaluate_mode: Callable[[str], EvalResult]) -> list[dict]:
    rows = []
    for mode in ("keyword", "semantic"):
        rows.append({"setting": mode, **evaluate_mode(mode).to_json()})
    defaults = {k: getattr(engine, k) for k in ("coverage_power", "covered_discount")}
    for label, overrides in FUSIONS:
        for key, value in {**defaults, **overrides}.items():
            setattr(engine, key, value)
        rows.append({"setting": label, **evaluate_mode("hybrid").to_json()})
    for key, value in defaults.items():
        setattr(engine, key, value)
    return rows


def topic_queries(
    store: Store, limit: int = 200
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    path = HF_DAILY
    tagged: dict[str, set[str]] = {}
    with gzip.open(path, "rt") as lines:
        for line in lines:
            row = json.loads(line)
            if row["daily_date"] >= "2026-01-01":
                for keyword in {k.lower() for k in row.get("ai_keywords") or []}:
                    tagged.setdefault(keyword, set()).add(row["arxiv_id"])
    counts = Counter(
        {k: len(v) for k, v in tagged.items() if 2 <= len(k.split()) <= 4 and 5 <= len(v) <= 50}
    )
    chosen = sorted(counts, key=lambda k: (-counts[k], k))[:limit]
    queries = {f"t{i}": k for i, k in enumerate(chosen)}
    qrels = {f"t{i}": dict.fromkeys(tagged[k], 1) for i, k in enumerate(chosen)}
    return queries, qrels


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'setting':<40}{'queries':>8}{'nDCG@10':>9}{'R@100':>8}{'MRR@10':>8}")
    for r in rows:
        print(
            f"{r['setting']:<40}{r['queries']:>8}{r['ndcg@10']:>9.4f}{r['recall@100']:>8.4f}"
            f"{r['mrr@10']:>8.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/paperfeed-quality"))
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "search_quality.json"
    )
    args = parser.parse_args()
    result: dict = {
        "benchmark": "search_quality",
        "command": "python benchmarks/search_quality.py",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "anchors_scifact_ndcg@10": ANCHORS,
    }

    scifact = DATA / "scifact-beir"
    folder = args.work_dir / "scifact"
    folder.mkdir(parents=True, exist_ok=True)
    with Store(f"sqlite:///{folder / 'store.db'}") as store:
        load_corpus(store, scifact)
        for max_tokens in (256, 128):
            engine, rate = build(store, folder, max_tokens)
            rows = run_modes(engine, lambda mode, e=engine: evaluate(e, scifact, "test", mode))
            result[f"scifact_max_tokens_{max_tokens}"] = {
                "rows": rows,
                "embed_docs_per_s_when_built": round(rate, 1) if rate else None,
            }
            print_table(
                f"SciFact test, embeddings of title + abstract cut at {max_tokens} tokens", rows
            )
    print("anchors (nDCG@10): " + ", ".join(f"{k} {v}" for k, v in ANCHORS.items()))

    folder = args.work_dir / "topics"
    folder.mkdir(parents=True, exist_ok=True)
    hf_2026 = folder / "hf_2026.jsonl"
    if not hf_2026.exists():
        with gzip.open(HF_DAILY, "rt") as lines:
            hf_2026.write_text(
                "".join(row for row in lines if json.loads(row)["daily_date"] >= "2026-01-01")
            )
    with Store(f"sqlite:///{folder / 'store.db'}") as store:
        run_ingest(store, HfDailyFileSource(hf_2026), show_progress=False)
        engine, _ = build(store, folder, 256)
        queries, qrels = topic_queries(store)
        rows = run_modes(engine, lambda mode: evaluate_queries(engine, queries, qrels, mode))
        result["topics"] = {"corpus_papers": engine.keyword.num_docs(), "rows": rows}
        print_table(
            f"Topic queries (2-4 word HF keywords) on {engine.keyword.num_docs():,} "
            "HF papers of 2026",
            rows,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
