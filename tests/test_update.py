"""`paperfeed update`: three days against loopback arXiv and Hugging Face, sources that
fail, the lease, kill -9 in each phase, two updates at once, `serve --update-every`."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from subprocess import PIPE, STDOUT

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from paperfeed.cli import cli
from paperfeed.config import Settings, parse_duration
from paperfeed.index.embedder import Embedder
from paperfeed.services.indexer import update_indexes
from paperfeed.services.jobs import JobLease, LeaseBusy, PeriodicJob
from paperfeed.services.search import SearchEngine
from paperfeed.services.subscriptions import add_subscriber, clean_prefs
from paperfeed.services.update import last_updates
from paperfeed.store import Store, leases
from paperfeed.store.schema import (
    daily_entries,
    digest_outbox,
    paper_categories,
    paper_embeddings,
    paper_links,
    papers,
    update_runs,
    users,
)
from tests.fake_services import urls
from tests.helpers import UNCACHED, loopback_client, site_in_process, wait_until
from tests.pg_server import free_port
from tests.update_world import (
    CATEGORIES,
    DAYS,
    KEYWORD,
    PARAPHRASE,
    day_papers,
    in_categories,
    three_days,
)

READERS = ["ada@example.org", "bo@example.org", "cy@example.org"]


@pytest.fixture
def embedder(load_embedder) -> Embedder:
    return load_embedder()


@pytest.fixture
def world():
    world = three_days()
    server = world.serve()
    world.server = server
    yield world
    server.stop()


def job_env(world, tmp_path: Path, smtp_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        **urls(world.server),
        "PAPERFEED_CATEGORIES": CATEGORIES,
        "PAPERFEED_HTTP_MIN_INTERVAL": "0",
        "PAPERFEED_HTTP_TIMEOUT": "5",
        "PAPERFEED_HTTP_MAX_RETRIES": "1",
        "PAPERFEED_HTTP_BACKOFF": "0.01",
        "PAPERFEED_DATA_DIR": str(tmp_path / "job-data"),
        "PAPERFEED_BASE_URL": "https://papers.example.org",
        "PAPERFEED_UPDATE_LEASE_SECONDS": "3",
        **extra,
    }
    if smtp_url:
        env["PAPERFEED_SMTP_URL"] = smtp_url
    return env


def update_in_process(db_url: str, env: dict[str, str], *args: str):
    result = CliRunner().invoke(cli, ["--db", db_url, "update", *args], env=env)
    return result


def subscribe_readers(store: Store, pending: str | None = None) -> None:
    for email in READERS:
        add_subscriber(store, Settings(), email, "daily", clean_prefs(), confirmed=True)
    if pending:  # subscribed, never confirmed: gets no digest
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO subscriptions (email, status, frequency, prefs, created_at) "
                    "VALUES (:e, 'pending', 'daily', '{}', CURRENT_TIMESTAMP)"
                ),
                {"e": pending},
            )


def digests_to(mailbox, address: str) -> list:
    return [m for m in mailbox.to(address) if m["List-Id"] and "digest" in m["List-Id"]]


# --- pieces -------------------------------------------------------------------------


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("15m") == 900
    assert parse_duration("1h") == 3600 and parse_duration("2") == 2
    for bad in ("", "1w", "-1h", "0s", "h", "1e9d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_periodic_job_backs_off_after_errors_and_keeps_running():
    calls = []

    def flaky(_stop):
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise RuntimeError("source down")

    job = PeriodicJob("flaky", 0.05, flaky, max_backoff_s=0.4)
    assert job.next_wait() == 0.05
    job.start()
    deadline = time.monotonic() + 5
    while len(calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.close()
    assert len(calls) >= 4 and not job.thread.is_alive()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[1] >= 0.18  # after two failures in a row: 0.05 * 2**2
    assert job.failures == 0  # a success brought the interval back


def test_the_lease_has_one_holder_and_expires(db_url):
    with Store(db_url) as store:
        with store.write() as conn:
            assert leases.try_acquire(conn, "update", "a", ttl_s=60)
            assert not leases.try_acquire(conn, "update", "b", ttl_s=60)
            assert leases.try_acquire(conn, "update", "a", ttl_s=60)  # ours: renewed
            assert leases.renew(conn, "update", "a", ttl_s=0.001)
        time.sleep(0.01)
        with store.write() as conn:
            assert leases.try_acquire(conn, "update", "b", ttl_s=60)  # a's ran out
            assert not leases.renew(conn, "update", "a", ttl_s=60)
            leases.release(conn, "update", "a")  # not a's any more: nothing happens
            assert leases.current(conn, "update").holder == "b"
            leases.release(conn, "update", "b")
            assert leases.current(conn, "update") is None


def test_racing_for_a_free_lease_one_wins(db_url):
    with Store(db_url) as store:
        start = threading.Barrier(8)
        won = []

        def take(n):
            start.wait()
            try:
                with store.write() as conn:
                    if leases.try_acquire(conn, "race", f"h{n}", ttl_s=60):
                        won.append(n)
            except sa.exc.OperationalError:  # PostgreSQL may abort a loser: it lost
                pass

        threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1


def test_a_held_lease_is_busy_then_waited_for(sqlite_db):
    with JobLease(sqlite_db, "update", ttl_s=0.6) as first:
        time.sleep(0.5)  # longer than a third of the lease: the heartbeat renewed it
        with pytest.raises(LeaseBusy, match=r"another update is running by .*:"):
            JobLease(sqlite_db, "update", ttl_s=0.6).__enter__()
        first.check()
        release = threading.Timer(0.3, first.__exit__, args=(None, None, None))
        release.start()
        with JobLease(sqlite_db, "update", ttl_s=5, wait=True, poll_s=0.05) as second:
            assert second.holder != first.holder
        release.join()


# --- three days ------------------------------------------------------------------------


@pytest.mark.slow  # three days of paperfeed processes
def test_three_days_of_updates(sqlite_url, tmp_path, world, smtp_server, embedder):
    env = job_env(world, tmp_path, smtp_server.url)
    with Store(sqlite_url) as store:
        subscribe_readers(store, pending="later@example.org")
    plan = update_in_process(sqlite_url, env, "--dry-run", "--json", "--today", "2026-11-25")
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.output)
    assert planned["sources"]["arxiv"]["since"] == "2026-11-18"  # backfill: 7 days
    assert any("set cs from 2026-11-18" in line for line in planned["plan"])
    for index, day in enumerate(DAYS):
        world.publish(day)
        run = update_in_process(sqlite_url, env, "--json", "--today", day.isoformat())
        assert run.exit_code == 0, run.output
        summary = json.loads(run.output)
        wanted = in_categories(day_papers(index))
        assert summary["ok"] and summary["sources"]["arxiv"]["via"] == "oai"
        assert summary["sources"]["arxiv"]["added"] == len(wanted)
        assert summary["sources"]["hf-daily"]["added"] == 3
        assert summary["embedded"] >= len(wanted)
        assert summary["digests_sent"] == len(READERS)
        again = json.loads(
            update_in_process(sqlite_url, env, "--json", "--today", day.isoformat()).output
        )
        assert again["sources"]["arxiv"]["added"] == 0 == again["sources"]["hf-daily"]["added"]
        assert again["embedded"] == 0 and again["digests_sent"] == 0
        check_site(sqlite_url, tmp_path, embedder, index)
        for reader in READERS:
            assert len(digests_to(smtp_server, reader)) == index + 1
        assert digests_to(smtp_server, "later@example.org") == []
    with Store(sqlite_url) as store:
        runs = last_updates(store, status="ok")
        assert runs["arxiv"].until == runs["hf-daily"].until == DAYS[-1]
        with store.engine.connect() as conn:
            titles = set(conn.execute(sa.select(papers.c.title)).scalars())
    assert not any("smart door locks" in t for t in titles)  # cs.CR: not configured
    status = CliRunner().invoke(cli, ["--db", sqlite_url, "status", "--json"], env=env)
    data = json.loads(status.output)
    assert data["not_embedded"] == 0 and data["schema_version"] >= 7
    assert data["sources"]["arxiv"]["last"]["status"] == "ok"
    assert data["subscribers_pending"] == 1 and data["update_running"] is None


def check_site(db_url: str, tmp_path: Path, embedder: Embedder, index: int) -> None:
    """The day's papers on /, in the daily feed, the HF API, keyword and semantic search,
    as a separate worker (its own indexes, synced from the store) serves them."""
    day = DAYS[index]
    featured = day_papers(index)[:3]
    with Store(db_url) as store:
        engine = SearchEngine(store, tmp_path / "site-data", embedder=embedder)
        _, embedded_here = update_indexes(engine)
        assert embedded_here == 0  # the job embedded every paper
        with site_in_process(store, search=engine, settings=UNCACHED) as site:
            home = site.get("/").text
            feed = site.get("/feeds/daily.atom").text
            api = site.get("/api/daily_papers", params={"date": day.isoformat()}).json()
            for p in featured:
                assert p["title"] in home and p["title"] in feed
            assert {e["paper"]["id"] for e in api} == {p["arxiv_id"] for p in featured}
            keyword = site.get("/search.json", params={"q": KEYWORD[index], "mode": "keyword"})
            assert keyword.json()["hits"][0]["arxiv_id"] == day_papers(index)[0]["arxiv_id"]
            meaning = site.get(
                "/search.json", params={"q": PARAPHRASE[index], "mode": "semantic"}
            ).json()
            assert meaning["semantic_available"]
            assert meaning["hits"][0]["arxiv_id"] == day_papers(index)[0]["arxiv_id"]


def test_a_failing_source_does_not_stop_the_other_and_is_retried(
    sqlite_url, tmp_path, world, embedder
):
    env = job_env(world, tmp_path)
    today = DAYS[1].isoformat()
    world.publish(DAYS[1])
    world.oai_down = True  # arXiv's OAI-PMH answers 503: the Atom API stands in
    world.hf_broken_day = DAYS[0]  # and Hugging Face's list of the 25th is an HTML page
    run = update_in_process(sqlite_url, env, "--json", "--today", today)
    assert run.exit_code == 1
    summary = json.loads(run.output)
    arxiv, hf = summary["sources"]["arxiv"], summary["sources"]["hf-daily"]
    assert arxiv["via"] == "arxiv-api" and "503" in arxiv["fallback_from"]
    both_days = in_categories(day_papers(0)) + in_categories(day_papers(1))
    assert arxiv["added"] == len(both_days) and arxiv["error"] is None
    assert hf["error"].startswith("2026-11-25: ") and "not JSON" in hf["error"]
    assert hf["added"] == 3  # the 26th went in all the same
    assert not summary["ok"] and summary["digests"].startswith("not sent: no mail server")
    world.hf_broken_day = None
    world.oai_down = False
    retry = update_in_process(sqlite_url, env, "--json", "--today", today)
    assert retry.exit_code == 0, retry.output
    hf = json.loads(retry.output)["sources"]["hf-daily"]
    assert hf["since"] == "2026-11-19" and hf["added"] == 3  # from where it failed
    text = update_in_process(sqlite_url, env, "--today", today)
    assert "arxiv 2026-11-26..2026-11-26 via oai: 0 added" in text.output
    status = CliRunner().invoke(cli, ["--db", sqlite_url, "status"], env=env).output
    assert "hf-daily: last run " in status and "last success 2026-" in status


def test_update_settings_are_checked(sqlite_url):
    for name, value, message in (
        ("PAPERFEED_CATEGORIES", "cs.CL,not a category", "not an arXiv category"),
        ("PAPERFEED_SOURCES", "arxiv,rss", "unknown source 'rss'"),
        ("PAPERFEED_BACKFILL_DAYS", "100000", "not between 0 and 366"),
        ("PAPERFEED_TODAY", "yesterday", "not a date"),
    ):
        result = CliRunner().invoke(cli, ["--db", sqlite_url, "update"], env={name: value})
        assert result.exit_code == 1 and message in result.output, (name, result.output)
    serve = CliRunner().invoke(cli, ["--db", sqlite_url, "serve", "--update-every", "1w"])
    assert serve.exit_code == 2 and "not a duration: '1w'" in serve.output


def test_dry_run_changes_nothing(sqlite_url, tmp_path, world):
    world.publish(DAYS[0])
    run = update_in_process(sqlite_url, job_env(world, tmp_path), "--dry-run")
    assert run.exit_code == 0 and "would fetch arxiv: OAI-PMH" in run.output
    assert "no digests: PAPERFEED_SMTP_URL is not set" in run.output
    assert world.server.requests == []
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        for table in (papers, update_runs):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


# --- processes: kill -9, two at once, two servers -------------------------------------


def paperfeed(
    db_url: str, env: dict[str, str], *args: str, log: Path | None = None
) -> subprocess.Popen:
    """A `paperfeed` process. Its output is read through pipes, or goes to `log` for a
    server, whose access log would fill a pipe nobody reads and stall it."""
    command = [sys.executable, "-m", "paperfeed", "--db", db_url, *args]
    if log is None:
        return subprocess.Popen(
            command, env={**os.environ, **env}, stdout=PIPE, stderr=PIPE, text=True
        )
    with open(log, "w") as output:  # the child has its own copy of the file
        return subprocess.Popen(command, env={**os.environ, **env}, stdout=output, stderr=STDOUT)


def snapshot(db_url: str) -> dict[str, object]:
    """What the store holds, without ids and times that differ between equal runs."""
    with Store(db_url) as store, store.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(papers.c.id, papers.c.arxiv_id)).all())
        columns = [c for c in papers.c if c.name not in ("id", "ingested_at")]
        return {
            "papers": sorted(map(tuple, conn.execute(sa.select(*columns)).all()), key=str),
            "categories": sorted(
                (ids[p], c) for p, c in conn.execute(sa.select(paper_categories)).all()
            ),
            "daily": sorted(
                (ids[r.paper_id], r.day, r.imported_upvotes)
                for r in conn.execute(sa.select(daily_entries))
            ),
            "users": sorted(conn.execute(sa.select(users.c.username)).scalars()),
            "links": conn.execute(sa.select(sa.func.count()).select_from(paper_links)).scalar(),
            "embedded": sorted(
                ids[p] for p in conn.execute(sa.select(paper_embeddings.c.paper_id)).scalars()
            ),
            # Where each source's next run starts.
            "reached": {name: run.until for name, run in last_updates(store, status="ok").items()},
        }


def count(db_url: str, table: sa.Table) -> int:
    with Store(db_url) as store, store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


@pytest.fixture
def reference(tmp_path_factory, world, smtp_server) -> dict[str, object]:
    """An uninterrupted run for DAYS[0]."""
    folder = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{folder / 'ref.db'}"
    with Store(url) as store:
        subscribe_readers(store)
    world.publish(DAYS[0])
    env = job_env(world, folder, smtp_server.url, PAPERFEED_TODAY=DAYS[0].isoformat())
    run = paperfeed(url, env, "update", "--json")
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    smtp_server.messages.clear()
    return snapshot(url)


@pytest.mark.parametrize("phase", ["fetch", "index", "digests"])
@pytest.mark.slow  # paperfeed processes, killed and run again
def test_kill_9_in_each_phase_then_rerun(
    phase, sqlite_url, tmp_path, world, smtp_server, reference
):
    with Store(sqlite_url) as store:
        subscribe_readers(store)
    env = job_env(world, tmp_path, smtp_server.url, PAPERFEED_TODAY=DAYS[0].isoformat())
    if phase == "fetch":
        world.oai_page_size, world.oai_delay_s = 1, 0.3  # one paper per slow page
    if phase == "digests":
        smtp_server.delay_s = 0.5  # each message held: the kill lands mid-send
    log = tmp_path / "killed.log"
    run = paperfeed(sqlite_url, env, "update", log=log)
    try:
        if phase == "fetch":
            wait_until(lambda: count(sqlite_url, papers) >= 2, 60, "the first pages")
        elif phase == "index":
            wait_until(lambda: "step=index" in log.read_text(), 60, "the index phase")
        else:
            wait_until(lambda: len(smtp_server.messages) >= 1, 90, "the first digest")
    except AssertionError as late:
        raise AssertionError(f"{late}; the run said:\n{log.read_text()[-3000:]}") from late
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        said = log.read_text()
    assert "step=" in said and "Traceback" not in said, said
    if phase == "fetch":
        assert count(sqlite_url, papers) < len(reference["papers"])  # it was cut short
    world.oai_delay_s, smtp_server.delay_s = 0.0, 0.0
    rerun = paperfeed(sqlite_url, env, "update", "--wait", "--json")
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert snapshot(sqlite_url) == reference
    for reader in READERS:
        assert len(digests_to(smtp_server, reader)) <= 1  # never twice
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        statuses = conn.execute(sa.select(digest_outbox.c.status)).scalars().all()
        runs = conn.execute(sa.select(update_runs.c.status, update_runs.c.error)).all()
    # At most the one message in flight at the kill is left unconfirmed (at most once).
    assert statuses.count("sent") >= len(READERS) - 1
    assert len(smtp_server.messages) == statuses.count("sent") + statuses.count("sending")
    if phase == "fetch":
        assert "interrupted" in [status for status, _ in runs], (runs, said)


@pytest.mark.slow  # two paperfeed processes
def test_two_updates_at_once_one_does_the_work(db_url, tmp_path, world):
    world.publish(DAYS[0])
    world.oai_delay_s = 0.5  # long enough for the two to overlap
    env = job_env(world, tmp_path, PAPERFEED_TODAY=DAYS[0].isoformat())
    runs = [
        paperfeed(
            db_url, {**env, "PAPERFEED_DATA_DIR": str(tmp_path / f"d{n}")}, "update", "--json"
        )
        for n in range(2)
    ]
    results = [(r.wait(120), *r.communicate()) for r in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 75], results
    busy = next(err for code, _, err in results if code == 75)
    assert busy.strip().splitlines()[-1].startswith("paperfeed update: another update is running")
    done = json.loads(next(out for code, out, _ in results if code == 0))
    assert done["sources"]["arxiv"]["added"] == len(in_categories(day_papers(0)))
    with Store(db_url) as store, store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(update_runs)).scalar() == 2


@pytest.mark.slow  # six server processes over three days: a minute or more
def test_two_servers_update_themselves_on_postgresql(
    fresh_postgres_url, tmp_path, world, smtp_server
):
    """Each day two `serve --update-every 1s` workers on one PostgreSQL: the day's work is
    done once, each reader gets one digest, and both sites show the papers soon after."""
    url = fresh_postgres_url
    with Store(url) as store:
        subscribe_readers(store)
    for index, day in enumerate(DAYS):
        world.publish(day)
        with two_servers(url, world, tmp_path, smtp_server.url, day) as sites:
            wait_until(
                lambda n=index: digests_sent(url) >= len(READERS) * (n + 1),
                120,
                "the day's digests",
            )
            for site in sites:
                wait_until(
                    lambda site=site, n=index: day_is_shown(site, n),
                    60,
                    f"day {index + 1} on {site.base_url}",
                )
        for reader in READERS:
            assert len(digests_to(smtp_server, reader)) == index + 1
    with Store(url) as store, store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(update_runs).where(update_runs.c.source == "arxiv").order_by(update_runs.c.id)
        ).all()
    # One run at a time (the lease), and each paper added once over all the runs.
    for earlier, later in itertools.pairwise(rows):
        assert earlier.finished_at <= later.started_at
    assert sum(r.added for r in rows) == sum(len(in_categories(day_papers(i))) for i in range(3))


def digests_sent(url: str) -> int:
    with Store(url) as store, store.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(digest_outbox.c.status == "sent")
        ).scalar()


def day_is_shown(site: httpx.Client, index: int) -> bool:
    """The day's papers on /, in the daily feed and the HF API, found by a keyword and
    by a paraphrase (pages as anonymous readers get them, through the page cache)."""
    first = day_papers(index)[0]
    featured = {p["arxiv_id"] for p in day_papers(index)[:3]}
    day = DAYS[index].isoformat()

    def top(query: str, mode: str) -> str | None:
        hits = site.get("/search.json", params={"q": query, "mode": mode}).json()["hits"]
        return hits[0]["arxiv_id"] if hits else None

    api = site.get("/api/daily_papers", params={"date": day}).json()
    return (
        first["title"] in site.get("/").text
        and first["title"] in site.get("/feeds/daily.atom").text
        and {e["paper"]["id"] for e in api} == featured
        and top(KEYWORD[index], "keyword") == first["arxiv_id"]
        and top(PARAPHRASE[index], "semantic") == first["arxiv_id"]
    )


class two_servers:
    def __init__(self, url, world, tmp_path, smtp_url, day: date) -> None:
        self.ports = [free_port(), free_port()]
        self.logs = [tmp_path / f"worker{n}-{day}.log" for n in range(2)]
        self.processes = [
            paperfeed(
                url,
                job_env(
                    world,
                    tmp_path,
                    smtp_url,
                    PAPERFEED_TODAY=day.isoformat(),
                    PAPERFEED_DATA_DIR=str(tmp_path / f"worker{n}"),
                    # Each worker's indexer and cache in seconds, not the defaults' 45 s.
                    PAPERFEED_INDEX_EVERY="1s",
                    PAPERFEED_PAGE_CACHE_SECONDS="1",
                ),
                "serve",
                "--port",
                str(port),
                "--update-every",
                "1s",
                log=self.logs[n],
            )
            for n, port in enumerate(self.ports)
        ]
        # Generous: a query embeds while the worker embeds the day's papers on two cores.
        self.clients = [loopback_client(f"http://127.0.0.1:{p}", timeout=60) for p in self.ports]

    def __enter__(self) -> list[httpx.Client]:
        for client, process, log in zip(self.clients, self.processes, self.logs, strict=True):
            wait_until(lambda c=client, p=process, f=log: _answers(c, p, f), 60, "a server")
        return self.clients

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.close()
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _answers(client: httpx.Client, process: subprocess.Popen, log: Path) -> bool:
    """Whether the server answers yet; a server that exited fails the test at once."""
    if process.poll() is not None:
        raise AssertionError(f"the server exited ({process.returncode}):\n{log.read_text()}")
    try:
        return client.get("/about").status_code == 200
    except httpx.HTTPError:
        return False
