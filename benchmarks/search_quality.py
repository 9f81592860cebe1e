"""Search quality: SciFact (BEIR) and short topic queries on real Hugging Face papers.

    .venv/bin/python benchmarks/search_quality.py [--work-dir /tmp/pf-quality]

1. SciFact test split (../shared/data/scifact-beir): nDCG@10, recall@100, MRR@10 for
   keyword, semantic and hybrid, beside the published anchors, and the fusion settings
   that were tried.
2. Topic phrases: the corpus is the Hugging Face daily papers of 2026 (../shared/data/
   hf-daily-papers); the queries are the 1-4 word `ai_keywords` that Hugging Face
   attached to 5-50 of those papers (the 200 most used: "reinforcement learning",
   "attack success rate", "transformer"); a paper is relevant to a query when the query
   is one of its keywords. Short technical phrases, as researchers type them.
On both, a textbook BM25 written here (PlainBM25, independent of tantivy) is the floor
that keyword mode must not fall below. Embeddings are cached in the work dir: a rerun
only evaluates.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from benchmarks.common import DATA, HF_DAILY, machine, write_result  # noqa: E402
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.vectors import embed_pending  # noqa: E402
from paperfeed.services.evaluate import (  # noqa: E402
    BEIR_PREFIX,
    EvalResult,
    evaluate,
    evaluate_queries,
    load_corpus,
    mrr_at,
    ndcg_at,
    read_jsonl,
    read_qrels,
    recall_at,
)
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.hf_daily import HfDailyFileSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import papers  # noqa: E402

ANCHORS = {
    "BM25 (BEIR)": 0.665,
    "BM25 (MTEB's bm25s)": 0.687,
    "all-MiniLM-L6-v2 (published)": 0.645,
    "bge-small-en-v1.5 (published)": 0.713,
}
# (label, attribute overrides): the fusion settings compared on both query sets.
FUSIONS = [
    ("hybrid: adaptive (default)", {}),
    (
        "hybrid: plain RRF k=60",
        {
            "rrf_k": 60,
            "short_query_semantic_rrf_k": 60,
            "semantic_weight": 1.0,
            "coverage_power": 0.0,
            "covered_discount": 0.0,
        },
    ),
    (
        "hybrid: previous default (k=60, discount 0.7 x coverage^4)",
        {
            "rrf_k": 60,
            "short_query_semantic_rrf_k": 60,
            "semantic_weight": 1.0,
            "covered_discount": 0.7,
            "covered_power": 4.0,
        },
    ),
    ("hybrid: k=10 for short queries too", {"short_query_semantic_rrf_k": 10}),
    ("hybrid: no coverage weights", {"coverage_power": 0.0, "covered_discount": 0.0}),
]

# Keyword-ranking ablations: (label, KeywordIndex attribute overrides).
KEYWORD_VARIANTS = [
    ("keyword: no adjacent-words bonus", {"adjacent_boost": 0.0}),
    ("keyword: words stemmed only", {"word_fields": {"text": 1.0}}),
    ("keyword: words as typed only", {"word_fields": {"text_exact": 1.0}}),
]


class PlainBM25:
    """Textbook BM25: title and abstract as one field, lower-cased [a-z0-9]+ tokens, any
    query word may match, k1 = 1.2, b = 0.75, no stemming, idf as in Lucene."""

    TOKEN = re.compile(r"[a-z0-9]+")

    def __init__(self, docs: dict[str, str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self.lengths: dict[str, int] = {}
        for doc_id, text in docs.items():
            tokens = self.TOKEN.findall(text.lower())
            self.lengths[doc_id] = len(tokens)
            for term, tf in Counter(tokens).items():
                self.postings[term].append((doc_id, tf))
        self.avg_length = sum(self.lengths.values()) / max(1, len(self.lengths))

    def search(self, query: str, limit: int = 100) -> list[str]:
        scores: dict[str, float] = defaultdict(float)
        n = len(self.lengths)
        for term in set(self.TOKEN.findall(query.lower())):
            posting = self.postings.get(term, [])
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for doc_id, tf in posting:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[doc_id] / self.avg_length)
                scores[doc_id] += idf * tf * (self.k1 + 1) / (tf + norm)
        return sorted(scores, key=lambda d: (-scores[d], d))[:limit]


def plain_bm25_row(store: Store, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict:
    """PlainBM25 over the store's papers, scored like evaluate_queries."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(papers.c.arxiv_id, papers.c.title, papers.c.abstract))
        docs = {r.arxiv_id.removeprefix(BEIR_PREFIX): f"{r.title} {r.abstract}" for r in rows}
    bm25 = PlainBM25(docs)
    scores = []
    for query_id, text in queries.items():
        ranked, relevant = bm25.search(text), qrels[query_id]
        scores.append(
            (ndcg_at(ranked, relevant), recall_at(ranked, relevant), mrr_at(ranked, relevant))
        )
    n = len(scores)
    result = EvalResult("plain-bm25", n, *(sum(s[i] for s in scores) / n for i in range(3)))
    return {"setting": "plain BM25 (textbook, baseline)", **result.to_json()}


def build(store: Store, folder: Path, max_tokens: int) -> tuple[SearchEngine, float]:
    embedder = Embedder(max_tokens=max_tokens, bulk=True)
    engine = SearchEngine(store, folder, embedder=embedder)
    engine.keyword.catch_up(store)  # a sync that re-reads papers would leave deleted copies
    started, embedded = time.perf_counter(), 0
    for count in embed_pending(store, embedder):
        embedded = count
    rate = embedded / (time.perf_counter() - started) if embedded else None
    engine.refresh()
    return engine, rate


def run_modes(
    engine: SearchEngine, evaluate_mode: Callable[[str], EvalResult], baseline: dict
) -> list[dict]:
    rows = [baseline]
    for mode in ("keyword", "semantic"):
        rows.append({"setting": mode, **evaluate_mode(mode).to_json()})
    for label, overrides in KEYWORD_VARIANTS:
        saved = {k: getattr(engine.keyword, k) for k in overrides}
        for key, value in overrides.items():
            setattr(engine.keyword, key, value)
        rows.append({"setting": label, **evaluate_mode("keyword").to_json()})
        for key, value in saved.items():
            setattr(engine.keyword, key, value)
    defaults = {k: getattr(engine, k) for k in {k for _, o in FUSIONS for k in o}}
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
        {k: len(v) for k, v in tagged.items() if 1 <= len(k.split()) <= 4 and 5 <= len(v) <= 50}
    )
    chosen = sorted(counts, key=lambda k: (-counts[k], k))[:limit]
    queries = {f"t{i}": k for i, k in enumerate(chosen)}
    qrels = {f"t{i}": dict.fromkeys(tagged[k], 1) for i, k in enumerate(chosen)}
    return queries, qrels


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'setting':<62}{'queries':>8}{'nDCG@10':>9}{'R@100':>8}{'MRR@10':>8}")
    for r in rows:
        print(
            f"{r['setting']:<62}{r['queries']:>8}{r['ndcg@10']:>9.4f}{r['recall@100']:>8.4f}"
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
        qrels = read_qrels(scifact, "test")
        queries = {q["_id"]: q["text"] for q in read_jsonl(scifact, "queries.jsonl")}
        baseline = plain_bm25_row(store, {q: queries[q] for q in qrels}, qrels)
        for max_tokens in (256, 128):
            engine, rate = build(store, folder, max_tokens)
            rows = run_modes(
                engine, lambda mode, e=engine: evaluate(e, scifact, "test", mode), baseline
            )
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
        rows = run_modes(
            engine,
            lambda mode: evaluate_queries(engine, queries, qrels, mode),
            plain_bm25_row(store, queries, qrels),
        )
        result["topics"] = {"corpus_papers": engine.keyword.num_docs(), "rows": rows}
        print_table(
            f"Topic phrases (1-4 word HF keywords) on {engine.keyword.num_docs():,} "
            "HF papers of 2026",
            rows,
        )
    write_result(args.out, result)


if __name__ == "__main__":
    main()
