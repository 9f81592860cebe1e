"""Retrieval quality on a BEIR-layout dataset (corpus.jsonl[.gz], queries.jsonl[.gz],
qrels/SPLIT.tsv): nDCG@10, recall@100 and MRR@10, the numbers BEIR papers report."""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from paperfeed.errors import PaperfeedError
from paperfeed.records import PaperRecord
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.store.papers import upsert_papers

BEIR_PREFIX = "beir:"


def _open_text(folder: Path, name: str):
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.exists():
            return (
                gzip.open(candidate, "rt", encoding="utf-8")
                if candidate.suffix == ".gz"
                else candidate.open(encoding="utf-8")
            )
    raise PaperfeedError(f"{folder}: no {name} or {name}.gz (is this a BEIR folder?)")


def read_jsonl(folder: Path, name: str) -> Iterator[dict]:
    with _open_text(folder, name) as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PaperfeedError(f"{folder / name}:{number}: invalid JSON") from exc


def read_qrels(folder: Path, split: str) -> dict[str, dict[str, int]]:
    path = folder / "qrels" / f"{split}.tsv"
    if not path.exists():
        raise PaperfeedError(f"no qrels for split {split!r} ({path})")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as rows:
        for row in csv.reader(rows, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    wanted = {doc for doc, rel in relevant.items() if rel > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def load_corpus(store: Store, folder: Path) -> int:
    """BEIR documents become papers with ids 'beir:DOC' (idempotent)."""
    batch: list[PaperRecord] = []
    total = 0
    for doc in read_jsonl(folder, "corpus.jsonl"):
        batch.append(
            PaperRecord(
                arxiv_id=f"{BEIR_PREFIX}{doc['_id']}",
                title=doc.get("title") or "",
                abstract=doc.get("text") or "",
                authors=[],
                categories=[],
            )
        )
        if len(batch) == 2000:
            total += _write(store, batch)
    return total + _write(store, batch)


def _write(store: Store, batch: list[PaperRecord]) -> int:
    with store.write() as conn:
        upsert_papers(conn, batch, "jsonl")
    written, batch[:] = len(batch), []
    return written


@dataclass
class EvalResult:
    mode: str
    queries: int
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "queries": self.queries,
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "mrr@10": round(self.mrr_at_10, 4),
        }


def evaluate_queries(
    engine: SearchEngine,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    mode: str,
    doc_id: Callable[[str], str] = lambda arxiv_id: arxiv_id,
) -> EvalResult:
    """Mean metrics over `queries`; `doc_id` maps a paper's arxiv_id to the qrels' ids."""
    scores = []
    for query_id, text in queries.items():
        results = engine.search(text[:2000], mode=mode, limit=100)
        ranked = [doc_id(h.paper.arxiv_id) for h in results.hits]
        relevant = qrels[query_id]
        scores.append(
            (ndcg_at(ranked, relevant), recall_at(ranked, relevant), mrr_at(ranked, relevant))
        )
    if not scores:
        raise PaperfeedError("no queries with relevance judgments")
    n = len(scores)
    return EvalResult(mode, n, *(sum(s[i] for s in scores) / n for i in range(3)))


def evaluate(engine: SearchEngine, folder: Path, split: str, mode: str) -> EvalResult:
    """The metrics of one mode on a BEIR folder's split."""
    qrels = read_qrels(folder, split)
    queries = {
        q["_id"]: q["text"] for q in read_jsonl(folder, "queries.jsonl") if q["_id"] in qrels
    }
    if not queries:
        raise PaperfeedError(f"no queries of split {split!r} have relevance judgments")
    return evaluate_queries(
        engine, queries, qrels, mode, doc_id=lambda arxiv_id: arxiv_id.removeprefix(BEIR_PREFIX)
    )
