"""TL;DR speed: papers summarized per second, the choice alone and the indexing job's step.

    .venv/bin/python benchmarks/tldr.py [--papers 104235] [--postgres]
        [--out benchmarks/results/tldr.json]

Loads the first --papers records of arxiv-cs-daily (../shared/data; all 104,235 by
default) into a fresh store, then times two things: `choose_tldr` over the abstracts in
memory (splitting, features, scoring: the method's own cost), and
`summarize_pending` over the store (what `paperfeed index` and the background indexer
run: read the papers in batches, choose, write `paper_tldrs`). No embedding is read or
computed: the TL;DR's features are lexical, so its speed is the same before and after
the embeddings exist. Goal: >= 200 papers/s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* and benchmarks.common

from benchmarks.common import ARXIV_CS_DAILY, machine, on_engines, write_result  # noqa: E402
from paperfeed.records import utcnow  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.tldr import choose_tldr, count_stale_tldrs, summarize_pending  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import papers  # noqa: E402

GOAL_PER_S = 200


def _slice(count: int, folder: Path) -> Path:
    path = folder / "slice.jsonl"
    with gzip.open(ARXIV_CS_DAILY, "rt") as lines, path.open("w") as out:
        for n, line in enumerate(lines):
            if n >= count:
                break
            out.write(line)
    return path


def measure(engine: str, url: str, listing: Path) -> list[dict]:
    rows = []
    with Store(url) as store:
        run_ingest(store, JsonlSource(listing), show_progress=False)
        with store.engine.connect() as conn:
            texts = conn.execute(sa.select(papers.c.title, papers.c.abstract)).all()
        started, cpu = time.perf_counter(), time.process_time()
        for title, abstract in texts:
            choose_tldr(title, abstract)
        rows.append(_row(engine, "choose_tldr (in memory)", len(texts), started, cpu))
        stale = count_stale_tldrs(store)
        started, cpu = time.perf_counter(), time.process_time()
        for _ in summarize_pending(store):
            pass
        rows.append(_row(engine, "summarize_pending (store)", stale, started, cpu))
    return rows


def _row(engine: str, step: str, papers_done: int, started: float, cpu: float) -> dict:
    """Wall-clock and this process's CPU seconds since (started, cpu): on a shared machine
    the wall clock includes waiting for a core; the CPU time is what the work costs."""
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    row = {
        "engine": engine,
        "step": step,
        "papers": papers_done,
        "seconds": round(seconds, 2),
        "papers_per_s": round(papers_done / seconds),
        "cpu_seconds": round(cpu_seconds, 2),
        "papers_per_cpu_s": round(papers_done / cpu_seconds),
    }
    print(
        f"{engine:<11} {step:<28} {papers_done:>8,} {seconds:>8.1f} s "
        f"{row['papers_per_s']:>8,}/s {row['papers_per_cpu_s']:>10,}/cpu-s"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=104_235)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tldr.json")
    args = parser.parse_args()
    print(f"{'engine':<11} {'step':<28} {'papers':>8} {'time':>10} {'rate':>10} {'per CPU s':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        listing = _slice(args.papers, Path(tmp))
        rows = on_engines(lambda engine, url: measure(engine, url, listing), args.postgres)
    slowest = min(r["papers_per_s"] for r in rows)
    print(f"slowest: {slowest:,} papers/s (goal >= {GOAL_PER_S})")
    command = "benchmarks/tldr.py" + (f" --papers {args.papers}" if args.papers != 104_235 else "")
    write_result(
        args.out,
        {
            "measured_at": utcnow().isoformat(timespec="seconds"),
            "command": command + (" --postgres" if args.postgres else ""),
            "machine": machine(),
            "goal_papers_per_s": GOAL_PER_S,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
