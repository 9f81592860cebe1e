"""One day's `paperfeed update`, end to end, embedding included.

    .venv/bin/python benchmarks/update.py [--day 2025-09-30] [--papers 600]
        [--subscribers 200] [--postgres] [--out benchmarks/results/update.json]

The day's arXiv listing in cs.AI, cs.CL, cs.CV, cs.LG (read at run time from
../shared/data/arxiv-cs-daily; the other cs papers listed that day come along and are
left out by the category filter, as with arXiv's `cs` OAI-PMH set) and that day's
Hugging Face daily papers (../shared/data/hf-daily-papers) are served on loopback by
tests/fake_services.py, in OAI-PMH pages of 500 and daily_papers pages of 100. The store
already holds the previous day's successful update (so the job fetches one day, no
backfill); the digests go to aiosmtpd's Sink on loopback. Phases: fetch arXiv (OAI-PMH),
fetch Hugging Face, index (keyword index + loading the model + embedding), digests.
Wall seconds depend on what else runs on the machine: the CPU seconds of this process
(all its threads) and the load average at the end are recorded beside them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* and benchmarks.common

from benchmarks.common import ARXIV_CS_DAILY, HF_DAILY, machine, on_engines, write_result  # noqa: E402
from paperfeed.config import HttpSettings, Settings  # noqa: E402
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.records import utcnow  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.services.subscriptions import add_subscriber, clean_prefs  # noqa: E402
from paperfeed.services.update import run_update  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import update_runs  # noqa: E402
from tests.fake_services import World, urls  # noqa: E402
from tests.pg_server import free_port  # noqa: E402

CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
GOAL_S = 120


def _paper(obj: dict, day: date) -> dict:
    """A record of the shared data in the shape tests/feeds.py writes answers from."""
    published = obj.get("paper_published_at") or f"{day.isoformat()}T00:00:00Z"
    return {
        "arxiv_id": obj["arxiv_id"],
        "version": 1,
        "title": obj["title"],
        "abstract": obj["abstract"],
        "authors": obj["authors"] or ["Unknown"],
        "categories": obj.get("categories") or ["cs.LG"],
        "published": published[:19] + "Z",
        "updated": published[:19] + "Z",
        "upvotes": obj.get("upvotes", 0),
    }


def build_world(day: date, papers: int) -> World:
    world = World(oai_page_size=500)
    listed, kept = [], 0
    with gzip.open(ARXIV_CS_DAILY, "rt") as lines:
        for line in lines:
            obj = json.loads(line)
            if obj["listing_date"] != day.isoformat():
                continue
            wanted = bool(set(CATEGORIES).intersection(obj["categories"]))
            if wanted and kept >= papers:
                continue
            kept += wanted
            listed.append(_paper(obj, day))
    with gzip.open(HF_DAILY, "rt") as lines:
        featured = [
            _paper(obj, day)
            for obj in map(json.loads, lines)
            if obj["daily_date"] == day.isoformat()
        ]
    world.arxiv[day], world.hf[day] = listed, featured
    world.publish(day)
    return world


def sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
         "aiosmtpd.handlers.Sink"]
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, port


def measure(engine: str, url: str, day: date, papers: int, subscribers: int) -> list[dict]:
    world = build_world(day, papers)
    server = world.serve()
    mail, port = sink()
    try:
        with tempfile.TemporaryDirectory() as folder:
            fake = urls(server)
            settings = Settings(
                database_url=url,
                data_dir=Path(folder),
                oai_url=fake["PAPERFEED_OAI_URL"],
                arxiv_api_url=fake["PAPERFEED_ARXIV_API_URL"],
                hf_api_url=fake["PAPERFEED_HF_API_URL"],
                http=HttpSettings(min_interval_s=0),
                smtp_url=f"smtp://127.0.0.1:{port}",
                base_url="https://papers.example.org",
                categories=CATEGORIES,
            )
            with Store(url) as store:
                _yesterday_done(store, day)
                for n in range(subscribers):
                    prefs = clean_prefs(categories=[CATEGORIES[n % 4]])
                    add_subscriber(store, settings, f"r{n}@example.org", "daily", prefs, True)
                marks: list[tuple[str, float, float]] = []
                started, cpu_started = time.perf_counter(), time.process_time()
                summary = run_update(
                    store,
                    settings,
                    lambda: SearchEngine(store, Path(folder), embedder=Embedder(bulk=True)),
                    today=day,
                    on_step=lambda line: marks.append(
                        (line, time.perf_counter(), time.process_time())
                    ),
                )
                total, cpu_total = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        mail.terminate()
        mail.wait()
        server.stop()
    assert summary.ok, summary.to_json()
    # on_step says "fetch arxiv", "fetch hf-daily", "index", then "digests: ..." at the end.
    # Wall and CPU seconds (all threads of this process) at each step's start.
    at = {line.split(":")[0]: (t, cpu) for line, t, cpu in marks}
    indexed = next((t, cpu) for line, t, cpu in marks if line.startswith("indexed"))
    end = (started + total, cpu_started + cpu_total)
    edges = [
        ("fetch arXiv (OAI-PMH)", at["fetch arxiv"], at["fetch hf-daily"]),
        ("fetch Hugging Face", at["fetch hf-daily"], at["index"]),
        ("index + embed", at["index"], indexed),
        ("digests", indexed, end),
    ]
    arxiv, hf = summary.sources
    counts = {
        "fetch arXiv (OAI-PMH)": f"{arxiv.added} papers ({arxiv.via})",
        "fetch Hugging Face": f"{hf.added} entries",
        "index + embed": f"{summary.indexed} indexed, {summary.embedded} embedded",
        "digests": f"{summary.digests_sent} sent",
    }
    rows = [
        {
            "engine": engine,
            "phase": name,
            "what": counts[name],
            "seconds": round(b[0] - a[0], 1),
            "cpu_seconds": round(b[1] - a[1], 1),
        }
        for name, a, b in edges
    ]
    rows.append(
        {
            "engine": engine,
            "phase": "total",
            "what": f"day {day}",
            "seconds": round(total, 1),
            "cpu_seconds": round(cpu_total, 1),
        }
    )
    return rows


def _yesterday_done(store: Store, day: date) -> None:
    """The state after yesterday's run: today's job fetches one day."""
    before = day - timedelta(days=1)
    with store.engine.begin() as conn:
        for source in ("arxiv", "hf-daily"):
            conn.execute(
                update_runs.insert().values(
                    source=source,
                    holder="benchmark",
                    status="ok",
                    since=before,
                    until=before,
                    started_at=utcnow(),
                    finished_at=utcnow(),
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 9, 30))
    parser.add_argument("--papers", type=int, default=600)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "update.json")
    args = parser.parse_args()

    rows = on_engines(
        lambda engine, url: measure(engine, url, args.day, args.papers, args.subscribers),
        args.postgres,
    )
    print(f"{'engine':<11} {'phase':<22} {'what':<34} {'seconds':>8} {'CPU s':>7}")
    for r in rows:
        print(
            f"{r['engine']:<11} {r['phase']:<22} {r['what']:<34} {r['seconds']:>8.1f} "
            f"{r['cpu_seconds']:>7.1f}"
        )
    command = "python benchmarks/update.py" + " --postgres" * args.postgres
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "day": args.day.isoformat(),
        "subscribers": args.subscribers,
        "goal_s": GOAL_S,
        "load_average": os.getloadavg()[0],
        "rows": rows,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
