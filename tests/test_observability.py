"""Health checks, Prometheus metrics, request ids and log lines, over real HTTP."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paperfeed.config import Settings, parse_networks
from paperfeed.errors import PaperfeedError
from paperfeed.logs import JsonFormatter, TextFormatter, request_id
from paperfeed.records import utcnow
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import digest_outbox, update_runs
from paperfeed.store.subscriptions import insert_subscription
from paperfeed.web.app import create_app
from tests.feeds import listing_line, paper
from tests.helpers import Cli, live_site, needs, serve_app
from tests.pg_server import PostgresServer, free_port


def ingest_papers(store: Store, folder: Path, count: int = 3) -> None:
    listing = folder / "listing.jsonl"
    listing.write_text("\n".join(listing_line(paper(n), "2026-11-03") for n in range(1, count + 1)))
    run_ingest(store, JsonlSource(listing), show_progress=False)


def scrape(client: httpx.Client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, parsed by prometheus-client's own parser."""
    reply = client.get("/metrics")
    assert reply.status_code == 200, reply.text[:200]
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["cache-control"] == "no-store"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def requests_of(samples: dict, route: str, status: str, method: str = "GET") -> float:
    key = (
        "paperfeed_http_requests_total",
        (("method", method), ("route", route), ("status", status)),
    )
    return samples.get(key, 0.0)


def test_metrics_parse_and_move_with_requests(fresh_db, tmp_path):
    ingest_papers(fresh_db, tmp_path)
    with live_site(fresh_db) as site:
        before = scrape(site)
        assert before[("paperfeed_store_up", ())] == 1
        assert before[("paperfeed_papers", ())] == 3
        assert before[("paperfeed_digests", (("status", "sent"),))] == 0
        assert before[("paperfeed_digests", (("status", "failed"),))] == 0
        for _ in range(3):  # the second and third come from the page cache
            assert site.get("/").status_code == 200
        assert site.get("/papers/2611.00001").status_code == 200
        assert site.get("/papers/2611.00099").status_code == 404
        assert site.get("/no/such/page").status_code == 404
        with fresh_db.engine.begin() as conn:  # one digest sent, one failed, one pending
            subscription = insert_subscription(
                conn, "r@example.org", None, "active", "daily", {"trending": True}, None
            )
            conn.execute(
                digest_outbox.insert(),
                [
                    {"subscription_id": subscription, "period": period, "status": status,
                     "created_at": utcnow()}
                    for period, status in [("daily:2026-11-03", "sent"),
                                           ("daily:2026-11-04", "failed"),
                                           ("daily:2026-11-05", "pending")]
                ],
            )  # fmt: skip
        after = scrape(site)
    assert requests_of(after, "/", "200") - requests_of(before, "/", "200") == 3
    for status in ("sent", "failed", "pending"):
        assert after[("paperfeed_digests", (("status", status),))] == 1
    paper_route = "/papers/{arxiv_id:path}"
    assert requests_of(after, paper_route, "200") == requests_of(before, paper_route, "200") + 1
    assert requests_of(after, paper_route, "404") == requests_of(before, paper_route, "404") + 1
    # Raw paths never become labels: an unknown path is "unmatched".
    assert requests_of(after, "unmatched", "404") >= 1
    assert not any("/no/such/page" in str(labels) for _, labels in after)
    latency = (
        "paperfeed_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/")),
    )
    assert after[latency] - before.get(latency, 0) == 3
    # The first scrape itself was counted by the time of the second.
    assert requests_of(after, "/metrics", "200") >= 1


def test_metrics_are_refused_to_addresses_not_allowed(sqlite_db):
    only_elsewhere = Settings(metrics_allow=parse_networks("10.0.0.0/8, 2001:db8::/32", "X"))
    with live_site(sqlite_db, settings=only_elsewhere) as site:
        refused = site.get("/metrics")
        assert refused.status_code == 404
        assert "paperfeed_" not in refused.text
        assert site.get("/healthz").status_code == 200
    with pytest.raises(PaperfeedError, match="PAPERFEED_METRICS_ALLOW: 'not-an-ip'"):
        parse_networks("127.0.0.1, not-an-ip", "PAPERFEED_METRICS_ALLOW")


def test_a_bad_metrics_allow_setting_is_one_clear_line(sqlite_url):
    cli = Cli(sqlite_url)
    cli.env["PAPERFEED_METRICS_ALLOW"] = "10.0.0.0/33"
    result = cli("stats")
    assert result.exit_code != 0
    assert (
        "PAPERFEED_METRICS_ALLOW: '10.0.0.0/33' is not an IP address or CIDR network"
        in result.output
    )


def test_request_ids_are_kept_when_sane_and_made_otherwise(sqlite_db, caplog):
    caplog.set_level(logging.INFO, logger="paperfeed.http")
    with live_site(sqlite_db) as site:
        kept = site.get("/healthz", headers={"X-Request-ID": "lb-42.a_b"})
        assert kept.headers["x-request-id"] == "lb-42.a_b"
        for hostile in ("x" * 65, "two words", "new\tline", ""):
            made = site.get("/healthz", headers={"X-Request-ID": hostile})
            assert made.headers["x-request-id"] != hostile
            assert len(made.headers["x-request-id"]) == 32
        cached = [site.get("/about") for _ in range(2)]
        assert cached[0].headers["x-request-id"] != cached[1].headers["x-request-id"]
    lines = [r for r in caplog.records if r.name == "paperfeed.http"]
    first = next(r for r in lines if r.request_id == "lb-42.a_b")
    assert (first.method, first.route, first.status) == ("GET", "/healthz", 200)
    assert first.duration_ms >= 0
    assert {r.request_id for r in lines} >= {cached[0].headers["x-request-id"]}


def test_an_unhandled_error_is_a_500_with_its_request_id(sqlite_db, caplog):
    app = create_app(sqlite_db)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    caplog.set_level(logging.INFO, logger="paperfeed")
    with serve_app(app) as site:
        reply = site.get("/boom", headers={"X-Request-ID": "boom-1"})
        assert reply.status_code == 500
        assert reply.headers["x-request-id"] == "boom-1" and "boom-1" in reply.text
        assert "a bug" not in reply.text  # no internals to the client
        assert site.get("/healthz").status_code == 200
    error = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert error.request_id == "boom-1" and "a bug" in str(error.exc_info[1])
    line = next(
        r for r in caplog.records if r.name == "paperfeed.http" and r.request_id == "boom-1"
    )
    assert (line.route, line.status) == ("/boom", 500)


def test_log_formats_keep_one_line_per_event():
    record = logging.LogRecord("paperfeed.http", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(route="/x", status=200, path="/evil\nFAKE LINE", request_id="r1")
    text = TextFormatter().format(record)
    assert "\n" not in text and "route=/x status=200" in text and text.endswith("request_id=r1")
    data = json.loads(JsonFormatter().format(record))
    assert data["path"] == "/evil\nFAKE LINE" and data["request_id"] == "r1"
    assert data["level"] == "INFO" and data["message"] == "request"
    assert request_id.get() == "-"  # outside a request


def test_serve_logs_json_lines_with_the_request_id(tmp_path):
    """The real command: `paperfeed --log-format json serve`, one JSON line per request."""
    port = free_port()
    env = {**os.environ, "PAPERFEED_DATA_DIR": str(tmp_path / "data")}
    db = f"sqlite:///{tmp_path / 'site.db'}"
    command = [sys.executable, "-m", "paperfeed", "--db", db, "--log-format", "json"]
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-1"}
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.2)
        assert reply.status_code == 200 and reply.headers["x-request-id"] == "probe-1"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    probe = [line for line in lines if line.get("request_id") == "probe-1"]
    assert len(probe) == 1, stderr[-2000:]
    assert probe[0]["route"] == "/healthz" and probe[0]["status"] == 200
    assert probe[0]["logger"] == "paperfeed.http"
    # uvicorn's own lines come through the same formatter (and its access log is off).
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert not any(line["logger"] == "uvicorn.access" for line in lines)


def wait_for_status(site: httpx.Client, path: str, status: int, timeout_s: float = 15) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        reply = site.get(path)
        if reply.status_code == status or time.monotonic() > deadline:
            assert reply.status_code == status, reply.text
            return reply.json()
        time.sleep(0.2)


@needs("PostgreSQL")
def test_readyz_follows_postgres_going_down_and_up(tmp_path, caplog):
    """A dedicated PostgreSQL server, stopped and started again under a serving site."""
    server = PostgresServer()
    url = server.start()
    caplog.set_level(logging.WARNING, logger="paperfeed.web")
    try:
        with Store(url) as store, live_site(store) as site:
            assert site.get("/readyz").json() == {"status": "ok"}
            server.halt()
            down = site.get("/readyz", headers={"X-Request-ID": "while-down"})
            assert down.status_code == 503
            assert down.json()["status"] == "unavailable"
            assert "store" in down.json()["reason"]
            assert site.get("/healthz").status_code == 200  # the process still answers
            samples = scrape(site)  # a scrape still works, and says the store is down
            assert samples[("paperfeed_store_up", ())] == 0
            server.resume()
            assert wait_for_status(site, "/readyz", 200) == {"status": "ok"}
            assert scrape(site)[("paperfeed_store_up", ())] == 1
    finally:
        server.stop()
    warning = next(r for r in caplog.records if r.getMessage().startswith("readyz:"))
    assert warning.request_id == "while-down"


def server_processes(server: PostgresServer) -> list[int]:
    """The test server's postmaster and its children, by their ids."""
    postmaster = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


@needs("PostgreSQL")
def test_readyz_answers_in_time_while_postgres_hangs(tmp_path):
    """The server frozen (SIGSTOP): a probe gets 503 after the 2 s timeout, and probes
    share the one check that hangs; thawed (SIGCONT), 200 again."""
    server = PostgresServer()
    url = server.start()
    frozen: list[int] = []
    try:
        with Store(url) as store, live_site(store) as site:
            assert site.get("/readyz").status_code == 200
            frozen = server_processes(server)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            for _ in range(3):
                start = time.monotonic()
                hung = site.get("/readyz", timeout=10)
                assert hung.status_code == 503
                assert hung.json()["reason"] == "the store did not answer within 2 s"
                assert time.monotonic() - start < 4
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
            frozen = []
            assert wait_for_status(site, "/readyz", 200) == {"status": "ok"}
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        server.stop()


def test_readyz_waits_for_the_search_indexes(sqlite_db, tmp_path):
    ingest_papers(sqlite_db, tmp_path)
    engine = SearchEngine(sqlite_db, tmp_path / "data")
    with live_site(sqlite_db, search=engine) as site:
        loading = site.get("/readyz")
        assert loading.status_code == 503
        assert loading.json()["reason"] == "the search indexes are still loading"
        engine.refresh()
        assert site.get("/readyz").status_code == 200
        backlog = scrape(site)[("paperfeed_embedding_backlog", ())]
        assert backlog == 3  # nothing embedded yet


def test_metrics_give_each_sources_last_successful_update(fresh_db):
    """The gauge an operator alerts on ("no arXiv update for two days"): the newest run
    with status ok per source; a failed run after it does not move it."""
    finished = datetime(2026, 11, 30, 6, 20)
    run = {"holder": "test", "since": date(2026, 11, 29), "until": date(2026, 11, 30)}
    with fresh_db.engine.begin() as conn:
        conn.execute(
            update_runs.insert(),
            [
                {**run, "source": "arxiv", "status": "ok", "started_at": finished,
                 "finished_at": finished},
                {**run, "source": "arxiv", "status": "failed", "error": "503",
                 "started_at": finished + timedelta(hours=1),
                 "finished_at": finished + timedelta(hours=1)},
                {**run, "source": "hf-daily", "status": "failed", "error": "timeout",
                 "started_at": finished, "finished_at": finished},
            ],
        )  # fmt: skip
    with live_site(fresh_db) as client:
        samples = scrape(client)
    gauge = "paperfeed_last_update_timestamp_seconds"
    assert samples[(gauge, (("source", "arxiv"),))] == finished.replace(tzinfo=UTC).timestamp()
    assert (gauge, (("source", "hf-daily"),)) not in samples
