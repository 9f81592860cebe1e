"""Trends at full size: how long `services.trends.trends` takes for 1 and 6 queries per
month and per week, how long the chart takes to draw, and how long the indexing job's
rising-topics run takes, on the real corpus (arXiv listings + Hugging Face daily papers).

    .venv/bin/python benchmarks/trends.py                      # builds a SQLite store first
    .venv/bin/python benchmarks/trends.py --db sqlite:///PATH --data-dir DIR   # an existing one
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import ARXIV_CS_DAILY, HF_DAILY, machine, write_result  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.rising import refresh_rising, rising_topics  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.services.trends import trends  # noqa: E402
from paperfeed.sources.hf_daily import HfDailyFileSource  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import rising_runs  # noqa: E402
from paperfeed.web.trends_chart import trends_svg  # noqa: E402

ONE = ["diffusion"]
SIX = ["diffusion", "agent", '"reinforcement learning"', "cat:cs.RO", "agent has:code", "-survey"]


def timed(run, repeat: int) -> tuple[float, float]:
    """(p50, p95) milliseconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def measure(store: Store, data_dir: Path, repeat: int) -> dict:
    engine = SearchEngine(store, data_dir)
    engine.keyword.catch_up(store)
    rows = []
    for name, queries, by in [
        ("1 query, per month", ONE, "month"),
        ("6 queries, per month", SIX, "month"),
        ("6 queries, per week", SIX, "week"),
    ]:
        trends(engine, queries, by)  # warm: the index's files in the page cache
        p50, p95 = timed(lambda q=queries, b=by: trends(engine, q, b), repeat)
        rows.append({"step": f"trends(): {name}", "p50_ms": p50, "p95_ms": p95})
    result = trends(engine, SIX, "week")
    trends_svg(result, "share", "wide")  # warm: matplotlib's import and fonts
    p50, p95 = timed(lambda: trends_svg(result, "share", "wide"), repeat)
    rows.append({"step": "chart: 6 queries x 26 weeks, SVG", "p50_ms": p50, "p95_ms": p95})
    with store.engine.begin() as conn:
        conn.execute(rising_runs.delete())  # force a run
    start = time.perf_counter()
    refresh_rising(store)
    seconds = time.perf_counter() - start
    with store.engine.connect() as conn:
        run, phrases = rising_topics(conn)
    rows.append(
        {
            "step": f"rising topics: {run.recent_total + run.before_total:,} papers of 16 weeks",
            "p50_ms": seconds * 1000,
            "p95_ms": seconds * 1000,
        }
    )
    return {
        "papers": engine.keyword.num_docs(),
        "rows": rows,
        "rising_top10": [p.phrase for p in phrases[:10]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="an existing store (default: a new SQLite file)")
    parser.add_argument("--data-dir", type=Path, help="its keyword index's data dir")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        with Store(url) as store:
            if args.db is None:
                run_ingest(store, JsonlSource(ARXIV_CS_DAILY), show_progress=False)
                run_ingest(store, HfDailyFileSource(HF_DAILY), show_progress=False)
            found = measure(store, args.data_dir or Path(tmp), args.repeat)
    load = os.getloadavg()[0]
    print(f"{found['papers']:,} papers; load average {load:.1f}")
    print("| step | p50 ms | p95 ms |\n|---|---|---|")
    for row in found["rows"]:
        print(f"| {row['step']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} |")
    print("rising, top 10:", ", ".join(found["rising_top10"]))
    write_result(
        ROOT / "benchmarks" / "results" / "trends.json",
        {
            "measured": date.today().isoformat(),
            "machine": machine(),
            "load_average": round(load, 1),
            "command": " ".join(["python", "benchmarks/trends.py", *sys.argv[1:]]),
            **found,
        },
    )


if __name__ == "__main__":
    main()
