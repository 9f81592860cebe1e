""" "For you" quality on Hugging Face daily papers, and its latency at 104k papers.

    .venv/bin/pip install -e '.[bench]'     # scikit-learn, for the tf-idf + SVM baseline
    .venv/bin/python benchmarks/recommend.py [--work-dir /tmp/pf-recommend]

Quality (services/recommend_eval.py: load_eval_corpus, evaluate_recommenders; the same code as
`paperfeed eval recommend`): every submitter of ../shared/data/hf-daily-papers with 8 or
more submissions is a user, the two bulk curators excepted; their earliest 70% are their
likes, their later submissions the truth, and the candidates every paper featured from
their split day on. The real MiniLM embeddings of the ~9.9k papers (about 11 minutes on
two cores) are cached in the work dir. Besides the three methods, the settings of `rank`
that were tried (one centroid, k-means, every liked paper its own centroid, diversity).

Latency: Recommender.for_user end to end (the user's signals and vectors from the store,
the centroid scans of the VectorIndex, rank, the result rows) at the 104,235 papers of
arxiv-cs-daily, for users with 5 to 80 votes. As in benchmarks/search_speed.py the vectors
there are synthetic (a real vector plus noise, re-normalized): a scan costs the same
whatever the values are; the quality numbers come from the real embeddings above.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    ARXIV_CS_DAILY,
    HF_DAILY,
    machine,
    noisy_copies,
    write_result,
    write_vectors,
)
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.vectors import embed_pending  # noqa: E402
from paperfeed.records import utcnow  # noqa: E402
from paperfeed.services.accounts import create_user  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.recommend import Recommender  # noqa: E402
from paperfeed.services.recommend_eval import (  # noqa: E402
    EvalCorpus,
    EvalUser,
    evaluate_method,
    evaluate_recommenders,
    for_you_method,
    load_eval_corpus,
    tfidf_svm_method,
)
from paperfeed.services.recommend_rank import RankSettings, shared_authors  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.hf_daily import HfDailyFileSource  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import not_interested, paper_embeddings, papers, votes  # noqa: E402

LATENCY_USERS = 40
CALLS_PER_USER = 5

# The settings tried; the first is what the site runs (RankSettings' defaults).
VARIANTS = [
    ("k-means <= 4 centroids + authors 0.5, MMR 0.1 (default)", RankSettings()),
    ("embeddings only: k-means <= 4 centroids, MMR 0.1", RankSettings(author_weight=0.0)),
    ("embeddings only: one centroid (mean of liked)", RankSettings(1, 8, 0.0, 0.5, 0.0)),
    ("embeddings only: k-means <= 8 centroids of 4", RankSettings(8, 4, 0.1, 0.5, 0.0)),
    ("embeddings only: every liked paper a centroid", RankSettings(10_000, 1, 0.0, 0.5, 0.0)),
    ("k-means <= 4 + authors 0.5, no MMR", RankSettings(diversity=0.0)),
    ("k-means <= 4 + authors 0.5, MMR 0.2", RankSettings(diversity=0.2)),
    ("k-means <= 4 + authors 2.0, MMR 0.1", RankSettings(author_weight=2.0)),
    ("every liked paper a centroid + authors 1.0", RankSettings(10_000, 1, 0.1, 0.5, 1.0)),
]


def authors_only(corpus: EvalCorpus, user: EvalUser, candidates: np.ndarray) -> list[int]:
    """The candidates by how many authors they share with the liked papers."""
    shared = shared_authors(
        [corpus.authors[r] for r in candidates], [corpus.authors[r] for r in user.liked]
    ).sum(axis=1)
    return [int(r) for r in candidates[np.lexsort((candidates, -shared))[:20]]]


def quality(folder: Path) -> tuple[EvalCorpus, dict]:
    with Store(f"sqlite:///{folder / 'recommend.db'}") as store:
        run_ingest(store, HfDailyFileSource(HF_DAILY), show_progress=False)
        embedder = Embedder(bulk=True)
        for done in embed_pending(store, embedder):
            print(f"\rembedded {done:,}", end="", file=sys.stderr)
        corpus = load_eval_corpus(store, embedder.model_id)
    results = {r.method: r for r in evaluate_recommenders(corpus)}
    variants = []
    for label, settings in VARIANTS:
        r = evaluate_method(corpus, "for_you", for_you_method(settings))
        variants.append({"setting": label, **r.to_json()})
    others = [
        ("authors only (shared authors with liked papers)", authors_only),
        ("tfidf_svm on title + abstract only", tfidf_svm_method(corpus, with_authors=False)),
    ]
    for label, method in others:
        variants.append({"setting": label, **evaluate_method(corpus, label, method).to_json()})
    return corpus, {
        "users": len(corpus.users),
        "papers": len(corpus.paper_ids),
        "curators_left_out": dict(corpus.curators),
        "methods": {name: r.to_json() for name, r in results.items()},
        "variants": variants,
    }


def latency_store(folder: Path, real_vectors: np.ndarray) -> str:
    """arxiv-cs-daily with synthetic vectors and LATENCY_USERS voters, built once."""
    url = f"sqlite:///{folder / 'latency.db'}"
    model = Embedder().model_id
    rng = np.random.default_rng(7)
    with Store(url) as store:
        run_ingest(store, JsonlSource(ARXIV_CS_DAILY), show_progress=False)
        with store.engine.connect() as conn:
            ids = conn.execute(sa.select(papers.c.id).order_by(papers.c.id)).scalars().all()
            have = conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar()
        if have < len(ids):
            for start in range(0, len(ids), 20_000):
                chunk = ids[start : start + 20_000]
                base = real_vectors[rng.integers(0, len(real_vectors), len(chunk))]
                write_vectors(store, model, chunk, noisy_copies(base, rng))
            with store.engine.begin() as conn:
                for n in range(LATENCY_USERS):
                    name = f"bench-user-{n}"
                    user_id = create_user(conn, name, f"{name}@bench.invalid", "bench password").id
                    picked = rng.choice(ids, size=5 + (n * 75) // LATENCY_USERS + 2, replace=False)
                    now = utcnow()
                    conn.execute(
                        votes.insert(),
                        [
                            {"user_id": user_id, "paper_id": int(p), "created_at": now}
                            for p in picked[2:]
                        ],
                    )
                    conn.execute(
                        not_interested.insert(),
                        [
                            {"user_id": user_id, "paper_id": int(p), "created_at": now}
                            for p in picked[:2]
                        ],
                    )
    return url


def latency(folder: Path, corpus: EvalCorpus) -> dict:
    url = latency_store(folder, corpus.vectors[np.linalg.norm(corpus.vectors, axis=1) > 0])
    with Store(url) as store:
        engine = SearchEngine(store, folder / "latency-index", embedder=Embedder())
        for _ in engine.keyword.sync(store):  # authors' papers come from the keyword index
            pass
        engine.refresh_vectors()
        recommender = Recommender(store, engine)
        with store.engine.connect() as conn:
            user_ids = conn.execute(sa.text("SELECT DISTINCT user_id FROM votes")).scalars().all()
            latest = conn.execute(sa.select(sa.func.max(papers.c.announced_date))).scalar()
        rows = []
        for label, since in (("all papers", None), ("last 7 days", latest - timedelta(days=7))):
            for user_id in user_ids[:3]:  # warm-up
                recommender.for_user(user_id, since=since)
            times = []
            for _ in range(CALLS_PER_USER):
                for user_id in user_ids:
                    started = time.perf_counter()
                    found = recommender.for_user(user_id, since=since)
                    times.append((time.perf_counter() - started) * 1000)
                    assert len(found) == 20, (user_id, len(found))
            times.sort()
            rows.append(
                {
                    "candidates": label,
                    "calls": len(times),
                    "p50_ms": round(times[len(times) // 2], 1),
                    "p95_ms": round(times[int(len(times) * 0.95)], 1),
                    "max_ms": round(times[-1], 1),
                }
            )
        return {"papers": len(engine.vectors), "users": len(user_ids), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pf-recommend"))
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    corpus, measured = quality(args.work_dir)
    print(
        f"\n{measured['users']} users, {measured['papers']:,} papers; curators left out: "
        f"{measured['curators_left_out']}"
    )
    print(f"{'method':<14}{'recall@20':>11}{'nDCG@20':>9}")
    for name, m in measured["methods"].items():
        print(f"{name:<14}{m['recall@20']:>11.4f}{m['ndcg@20']:>9.4f}")
    for v in measured["variants"]:
        print(f"  {v['setting']:<58}{v['recall@20']:>8.4f}{v['ndcg@20']:>8.4f}")
    speed = latency(args.work_dir, corpus)
    for r in speed["rows"]:
        print(
            f"for_user at {speed['papers']:,} papers, {r['candidates']}: "
            f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms ({r['calls']} calls)"
        )
    out = ROOT / "benchmarks" / "results" / "recommend.json"
    write_result(
        out,
        {
            "benchmark": "recommend",
            "command": "python benchmarks/recommend.py",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            **measured,
            "latency": speed,
        },
    )


if __name__ == "__main__":
    main()
