"""The arXiv Atom API source against a loopback server serving fixture pages."""

import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
import sqlalchemy as sa

from paperfeed.errors import SourceError
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.arxiv_api import ArxivApiSource
from paperfeed.sources.http import HttpClient
from paperfeed.store import Store
from paperfeed.store.schema import papers
from tests.feeds import atom_error, atom_feed, paper
from tests.helpers import FAST_HTTP
from tests.loopback import Reply

PAPERS = [paper(n) for n in range(1, 26)]


def paged(total_papers, short_by=0):
    """A handler that pages through total_papers like arXiv, optionally short pages."""

    def handler(params):
        start, size = int(params["start"]), int(params["max_results"])
        page = total_papers[start : start + max(1, size - short_by)]
        return Reply(atom_feed(page, total=len(total_papers), start=start))

    return handler


def source(server, client, page_size=10):
    return ArxivApiSource(
        f"{server.url}/api/query",
        ["cs.CL", "cs.LG"],
        date(2026, 11, 1),
        date(2026, 11, 26),
        client,
        page_size=page_size,
    )


def stored_ids(store):
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(papers.c.arxiv_id)).scalars())


def test_pages_through_all_results_with_the_right_query(fresh_db, http_server):
    http_server.route("/api/query", paged(PAPERS))
    with HttpClient(FAST_HTTP) as client:
        summary = run_ingest(fresh_db, source(http_server, client), show_progress=False)
    assert summary.added == 25
    calls = http_server.calls("/api/query")
    assert [c["start"] for c in calls] == ["0", "10", "20"]
    assert calls[0]["search_query"] == (
        "(cat:cs.CL OR cat:cs.LG) AND submittedDate:[202611010000 TO 202611262359]"
    )
    assert calls[0]["sortBy"] == "submittedDate"
    with fresh_db.engine.connect() as conn:
        row = conn.execute(sa.select(papers).where(papers.c.arxiv_id == "2611.00007")).one()
    assert row.version == 1 and row.primary_category == "cs.CL"
    assert row.abstract.startswith("We study problem 7.")


def test_short_pages_are_accepted_and_the_offset_follows_them(sqlite_db, http_server):
    http_server.route("/api/query", paged(PAPERS, short_by=3))
    with HttpClient(FAST_HTTP) as client:
        summary = run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert summary.added == 25
    assert [c["start"] for c in http_server.calls("/api/query")] == ["0", "7", "14", "21"]


def test_page_size_is_capped_at_2000(sqlite_db, http_server):
    http_server.route("/api/query", paged(PAPERS))
    with HttpClient(FAST_HTTP) as client:
        run_ingest(sqlite_db, source(http_server, client, page_size=50_000), show_progress=False)
    assert http_server.calls("/api/query")[0]["max_results"] == "2000"


def test_spacing_between_requests_is_honoured(sqlite_db, http_server):
    http_server.route("/api/query", paged(PAPERS))
    slept = []
    settings = FAST_HTTP.__class__(**{**FAST_HTTP.__dict__, "min_interval_s": 3.0})
    with HttpClient(settings, sleep=slept.append) as client:
        run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert len(slept) == 2 and all(2.5 < s <= 3.0 for s in slept)


def test_transient_errors_are_retried(sqlite_db, http_server):
    good = paged(PAPERS[:5])
    replies = iter(
        [Reply("busy", 503), Reply("oops", 500), Reply(atom_feed(PAPERS[:5], 5), truncate_at=200)]
    )

    def flaky(params):
        return next(replies, None) or good(params)

    http_server.route("/api/query", flaky)
    settings = FAST_HTTP.__class__(**{**FAST_HTTP.__dict__, "max_retries": 4})
    with HttpClient(settings) as client:
        summary = run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert summary.added == 5
    assert len(http_server.calls("/api/query")) == 4


def test_slow_server_times_out_and_gives_a_clear_error(sqlite_db, http_server):
    http_server.route("/api/query", lambda p: Reply(atom_feed(PAPERS, 25), delay=1.5))
    settings = FAST_HTTP.__class__(**{**FAST_HTTP.__dict__, "timeout_s": 0.3, "max_retries": 1})
    with HttpClient(settings) as client, pytest.raises(SourceError, match="timed out"):
        run_ingest(sqlite_db, source(http_server, client), show_progress=False)


def test_empty_pages_before_the_end_stop_with_a_resumable_error(sqlite_db, http_server):
    def handler(params):
        start = int(params["start"])
        page = PAPERS[start : start + 10] if start < 10 else []
        return Reply(atom_feed(page, total=25, start=start))

    http_server.route("/api/query", handler)
    with HttpClient(FAST_HTTP) as client, pytest.raises(SourceError, match="rerun"):
        run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert len(stored_ids(sqlite_db)) == 10
    assert len(http_server.calls("/api/query")) == 5  # one good page + 4 tries, then stop

    http_server.route("/api/query", paged(PAPERS))
    with HttpClient(FAST_HTTP) as client:
        summary = run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert summary.resumed_from == "10"
    assert summary.added == 15


def test_malformed_xml_is_retried_then_reported(sqlite_db, http_server):
    http_server.route("/api/query", lambda p: Reply("<feed><entry>oops"))
    with HttpClient(FAST_HTTP) as client, pytest.raises(SourceError, match="malformed XML"):
        run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert stored_ids(sqlite_db) == set()


def test_entity_expansion_is_refused(sqlite_db, http_server):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><feed xmlns="http://www.w3.org/2005/Atom">&b;</feed>'
    )
    http_server.route("/api/query", lambda p: Reply(bomb))
    with HttpClient(FAST_HTTP) as client, pytest.raises(SourceError, match="unsafe XML"):
        run_ingest(sqlite_db, source(http_server, client), show_progress=False)


def test_api_error_entry_is_reported(sqlite_db, http_server):
    http_server.route("/api/query", lambda p: Reply(atom_error("incorrect id format")))
    with HttpClient(FAST_HTTP) as client, pytest.raises(SourceError, match="incorrect id format"):
        run_ingest(sqlite_db, source(http_server, client), show_progress=False)


def test_bad_entries_are_rejected_and_the_rest_goes_in(sqlite_db, http_server):
    broken = [paper(1), paper(2, title="  "), paper(3, arxiv_id="garbage")]
    http_server.route("/api/query", lambda p: Reply(atom_feed(broken, 3)))
    with HttpClient(FAST_HTTP) as client:
        summary = run_ingest(sqlite_db, source(http_server, client), show_progress=False)
    assert (summary.added, summary.rejected) == (1, 2)
    assert any("empty title" in r.reason for r in summary.rejections)


def test_not_found_and_unreachable_servers_fail_fast(sqlite_db, http_server):
    with HttpClient(FAST_HTTP) as client:
        wrong_path = ArxivApiSource(
            f"{http_server.url}/wrong", ["cs.CL"], date(2026, 11, 1), date(2026, 11, 2), client
        )
        with pytest.raises(SourceError, match="HTTP 404"):
            run_ingest(sqlite_db, wrong_path, show_progress=False)
        dead = ArxivApiSource(
            "http://127.0.0.1:9/api/query", ["cs.CL"], date(2026, 11, 1), date(2026, 11, 2), client
        )
        with pytest.raises(SourceError, match="gave up after 3 attempts"):
            run_ingest(sqlite_db, dead, show_progress=False)


def hang_from_third_page(handler):
    """Serve the first two pages at once, then hang (a stuck server)."""

    def slow(params):
        reply = handler(params)
        reply.delay = 0 if int(params["start"]) < 20 else 30
        return reply

    return slow


def cli_ingest_args(sqlite_url, server):
    return [
        sys.executable,
        "-m",
        "paperfeed",
        "--db",
        sqlite_url,
        "ingest",
        "arxiv",
        "-c",
        "cs.CL",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-26",
        "--page-size",
        "10",
        "--base-url",
        f"{server.url}/api/query",
        "--no-progress",
    ]


def start_and_wait_for_third_page(args, server):
    env = {**os.environ, "PAPERFEED_HTTP_MIN_INTERVAL": "0", "PAPERFEED_HTTP_TIMEOUT": "60"}
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    # The third request is only sent after the second page's batch was committed.
    while len(server.calls("/api/query")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, env


def test_killed_cli_run_resumes_where_it_stopped(sqlite_url, http_server):
    """SIGKILL a real `paperfeed ingest arxiv` process mid-run, then rerun it."""
    base = paged([paper(n) for n in range(1, 61)])
    http_server.route("/api/query", hang_from_third_page(base))
    args = cli_ingest_args(sqlite_url, http_server)
    proc, env = start_and_wait_for_third_page(args, http_server)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(sqlite_url) as store:
        assert len(stored_ids(store)) == 20

    http_server.route("/api/query", base)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "resumed an interrupted run (cursor 20)" in done.stderr
    assert "40 added" in done.stdout
    with Store(sqlite_url) as store:
        assert len(stored_ids(store)) == 60


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(sqlite_url, http_server):
    http_server.route("/api/query", hang_from_third_page(paged([paper(n) for n in range(1, 41)])))
    proc, _ = start_and_wait_for_third_page(cli_ingest_args(sqlite_url, http_server), http_server)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    with Store(sqlite_url) as store:
        assert len(stored_ids(store)) == 20
