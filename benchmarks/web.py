"""HTTP latency of the site under concurrent clients, at 104k real papers (+ the Hugging
Face daily lists, so that / and /trending have community data).

    apt-get install wrk     # the load generator
    .venv/bin/python benchmarks/web.py [--clients 50] [--seconds 20] [--work-dir DIR]
                                       [--before main] [--workers 2]

Starts `paperfeed serve` on a loopback port, then for each page kind keeps `--clients`
concurrent connections busy for `--seconds` with wrk (each sends its next GET as soon as
the last is answered) and reports requests, errors and p50/p95. wrk runs on the same
2-core machine as the server and competes with it: an upper bound on latency.

Two servers, one after the other, in the same run: "before", the code of git ref
`--before` (extracted with git archive, one process, as `serve` ran before --workers), and
"after", this checkout with `--workers`. Both serve copies of the same store (the before
copy forgets migrations its code does not know; on SQLite those added no table it reads).
`--before none` measures this checkout only.

Anonymous readers get cached renderings (web/page_cache.py), so the rows say which
requests can hit the cache: the same page again (/, /trending, the 50 most upvoted
papers, 150 searches repeated) or not (each of the 9,877 featured papers once, every
request of a signed-in reader).
Vectors are made as in benchmarks/search_speed.py (2,000 real, the rest noisy copies); each
paper's similar papers are stored, as the indexer of a running site stores them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    ARXIV_CS_DAILY,
    HF_DAILY,
    fill_vectors,
    machine,
    search_queries,
    write_result,
)
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.index.similar import ROUND_LIMIT, store_similar  # noqa: E402
from paperfeed.services.accounts import (  # noqa: E402
    create_user,
    start_session,
    user_by_name,
)
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.search import SearchEngine  # noqa: E402
from paperfeed.sources.hf_daily import HfDailyFileSource  # noqa: E402
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from tests.pg_server import free_port  # noqa: E402


def prepare(folder: Path) -> str:
    url = f"sqlite:///{folder / 'store.db'}"
    with Store(url) as store:
        run_ingest(
            store,
            JsonlSource(ARXIV_CS_DAILY),
            show_progress=False,
        )
        run_ingest(
            store,
            HfDailyFileSource(HF_DAILY),
            show_progress=False,
        )
        fill_vectors(store, Embedder(bulk=True))
        with store.engine.begin() as conn:
            if user_by_name(conn, "bench") is None:
                create_user(conn, "bench", "bench@example.org", "bench password")
        engine = SearchEngine(store, folder, embedder=Embedder())
        for _ in engine.keyword.sync(store):
            pass
        # Each paper's similar papers, as a running site's indexer stores them.
        started = time.perf_counter()
        while store_similar(store, engine.refresh_vectors()) >= ROUND_LIMIT:
            pass
        print(f"similar papers stored in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def session_of(url: str) -> str:
    with Store(url) as store, store.engine.begin() as conn:
        user = user_by_name(conn, "bench")
        assert user is not None
        return start_session(conn, user.id)


WRK_SCRIPT = """
local paths = {%(paths)s}
local i = 0
%(cookie)s
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "errors": %%d, "p50_ms": %%.1f, "p95_ms": %%.1f}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def hammer(
    base: str, paths: list[str], clients: int, seconds: int, cookies: str, work: Path
) -> dict:
    """`clients` connections, each sending its next GET when the last one is answered, for
    `seconds`, from wrk (one C thread: the load generator takes as little of the two cores
    as possible). Every answer that is not 2xx/3xx, and every timeout (30 s), is an error."""
    lua = work / "wrk.lua"
    lua.write_text(
        WRK_SCRIPT
        % {
            "paths": ", ".join(json.dumps(p) for p in paths),
            "cookie": f'wrk.headers["Cookie"] = {json.dumps(cookies)}' if cookies else "",
        }
    )
    ran = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s", str(lua), base],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(ran.stdout.strip().splitlines()[-1])


def before_code(ref: str, work: Path) -> tuple[Path, int]:
    """The `src` folder of git ref `ref`, and the last migration it knows."""
    folder = work / "before"
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    latest = subprocess.run(
        [
            sys.executable,
            "-c",
            "from paperfeed.store.migrations import LATEST_VERSION as v; print(v)",
        ],
        env={**os.environ, "PYTHONPATH": str(folder / "src")},
        capture_output=True,
        text=True,
        check=True,
    )
    return folder / "src", int(latest.stdout)


def store_for(url: str, folder: Path, latest: int) -> str:
    """A copy of the SQLite store at `url` that an older paperfeed (migrations up to
    `latest`) opens."""
    source = Path(url.removeprefix("sqlite:///"))
    copy = folder / "before.db"
    with sqlite3.connect(source) as db, sqlite3.connect(copy) as out:
        db.backup(out)
        out.execute("DELETE FROM schema_migrations WHERE version > ?", (latest,))
    return f"sqlite:///{copy}"


def measure_server(
    url: str, data_dir: Path, args: argparse.Namespace, workers: int, code: Path | None
) -> list[dict]:
    """Serve `url` with `code` (None: this checkout) and hammer each page kind."""
    port = free_port()
    command = [sys.executable, "-m", "paperfeed", "--db", url, "--data-dir", str(data_dir)]
    command += ["serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = {**os.environ, **({"PYTHONPATH": str(code)} if code else {})}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Ready: the store answers and the vectors are loaded, on every worker (each new
        # connection may reach another one).
        ready = 0
        for _ in range(3000):
            try:
                ready = (
                    ready + 1 if httpx.get(f"{base}/readyz", timeout=5).status_code == 200 else 0
                )
            except httpx.HTTPError:
                ready = 0
            if ready == 10:
                break
            time.sleep(0.2)
        with gzip.open(HF_DAILY, "rt") as lines:
            entries = [json.loads(line) for line in lines]
        # Every featured paper once: at the rate of uncached pages none repeats within the
        # run, so that row measures cache misses.
        ids = list(dict.fromkeys(e["arxiv_id"] for e in entries))
        popular = [e["arxiv_id"] for e in sorted(entries, key=lambda e: -e["upvotes"])[:50]]
        searches = [f"/search?{httpx.QueryParams({'q': q})}" for q in search_queries([])[:150]]
        signed_in = f"pf_session={session_of(url)}"
        # (name, paths, cookies)
        pages = [
            ("/", ["/"], ""),
            ("/trending", ["/trending"], ""),
            ("/papers/{id}, 50 most upvoted", [f"/papers/{i}" for i in popular], ""),
            ("/papers/{id}, each once (misses)", [f"/papers/{i}" for i in ids], ""),
            ("/search, 150 queries repeated", searches, ""),
            ("/ signed in", ["/"], signed_in),
            ("/papers/{id} signed in", [f"/papers/{i}" for i in ids], signed_in),
            ("/search signed in", searches, signed_in),
        ]
        for _, paths, cookie in pages:  # warm up: first loads
            for path in paths[:5]:
                httpx.get(base + path, timeout=60, headers={"Cookie": cookie} if cookie else {})
        rows = []
        for name, paths, cookies in pages:
            result = hammer(base, paths, args.clients, args.seconds, cookies, args.work_dir)
            rows.append({"page": name, **result})
    finally:
        server.terminate()
        server.wait(timeout=60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20, help="Per page kind.")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/paperfeed-web"))
    parser.add_argument("--before", default="main", help="git ref of the code to compare")
    parser.add_argument("--workers", type=int, default=2, help="processes of the after server")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    url = prepare(args.work_dir)
    servers = []
    if args.before != "none":
        code, latest = before_code(args.before, args.work_dir)
        before_dir = args.work_dir / "before-data"
        before_dir.mkdir(exist_ok=True)
        index = args.work_dir / "index"
        subprocess.run(["cp", "-r", str(index), str(before_dir)], check=True)
        rows = measure_server(store_for(url, before_dir, latest), before_dir, args, 1, code)
        servers.append({"server": f"before ({args.before}, 1 process)", "rows": rows})
    rows = measure_server(url, args.work_dir, args, args.workers, None)
    servers.append({"server": f"after (this checkout, {args.workers} workers)", "rows": rows})
    print(f"\n{args.clients} concurrent clients, {args.seconds} s per page kind")
    for server in servers:
        print(f"\n{server['server']}")
        print(f"{'page':<34}{'requests':>9}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}")
        for r in server["rows"]:
            print(
                f"{r['page']:<34}{r['requests']:>9}{r['errors']:>7}{r['p50_ms']:>9}{r['p95_ms']:>9}"
            )
    out = ROOT / "benchmarks" / "results" / "web.json"
    write_result(
        out,
        {
            "benchmark": "web",
            "papers": "104,235 arXiv + Hugging Face daily lists (108,838)",
            "command": f"python benchmarks/web.py --clients {args.clients} --seconds {args.seconds}"
            f" --before {args.before or 'none'} --workers {args.workers}",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "clients": args.clients,
            # The after server's rows (the README's table); both servers' under "servers".
            "rows": servers[-1]["rows"],
            "servers": servers,
        },
    )


if __name__ == "__main__":
    main()
