"""Several workers and a read replica (docs/scaling.md): `paperfeed serve --workers 2` as a
real process, a real PostgreSQL streaming replica made with `pg_basebackup -R` and made to
lag on purpose (`pg_wal_replay_pause()`), and a worker that starts while another process
writes papers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from paperfeed.store import Store
from paperfeed.store.db import replica_reads
from paperfeed.store.migrations import LATEST_VERSION
from paperfeed.store.schema import papers, similar_papers
from tests.feeds import listing_line, paper
from tests.forms import csrf_token, sign_up
from tests.helpers import loopback_client
from tests.pg_server import PostgresServer, free_port

pytestmark = pytest.mark.slow  # paperfeed processes: several workers, a replica

ROOT = Path(__file__).resolve().parents[1]
SERVER_START_S = 90
# The promise of docs/scaling.md: a paper another process ingests shows within a minute.
NEW_PAPERS_WITHIN_S = 60


class ReplicaServer(PostgresServer):
    """A hot standby of `primary`, streaming its WAL (pg_basebackup -R writes the
    standby.signal and primary_conninfo)."""

    def start_from(self, primary: PostgresServer) -> str:
        self._run(
            str(self.bin / "pg_basebackup"),
            *("-D", str(self.root / "data"), "-R", "-X", "stream", "--no-sync"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
        )
        self.resume()
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def _papers_file(folder: Path, numbers: range, word: str) -> Path:
    path = folder / f"papers-{numbers.start}.jsonl"
    path.write_text(
        "\n".join(
            listing_line(paper(n, title=f"A study of {word} number {n}"), "2026-11-03")
            for n in numbers
        )
    )
    return path


def _paperfeed(db_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "paperfeed", "--db", db_url, *args]


def _ingest(db_url: str, path: Path) -> None:
    subprocess.run(_paperfeed(db_url, "ingest", "jsonl", str(path)), check=True, cwd=ROOT)


@contextmanager
def serving(db_url: str, data_dir: Path, replica_url: str = "") -> Iterator[httpx.Client]:
    """`paperfeed serve --workers 2` on a free loopback port; a client for it."""
    port = free_port()
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_REPLICA_URL": replica_url,
        "PAPERFEED_INDEX_EVERY": "1s",
        "PAPERFEED_HTTP_MIN_INTERVAL": "0",
    }
    command = _paperfeed(
        db_url, "--data-dir", str(data_dir), "serve", "--port", str(port), "--workers", "2"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        with loopback_client(base, timeout=60) as client:
            yield client
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_for(check, within_s: float, what: str) -> float:
    """Seconds until `check()` is true; fails after `within_s`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, f"{what}: not within {within_s} s"
        time.sleep(0.5)
    return time.monotonic() - started


def _count(url: str) -> int:
    with Store(url) as store, store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A primary with three papers and its streaming replica, caught up: (primary URL,
    replica URL, a folder)."""
    folder = tmp_path_factory.mktemp("replicated")
    primary = PostgresServer()
    replica = ReplicaServer()
    try:
        primary_url = primary.start()
        _ingest(primary_url, _papers_file(folder, range(1, 4), "replicated attention"))
        replica_url = replica.start_from(primary)
        _wait_for(lambda: _count(replica_url) == 3, 60, "replica caught up")
        yield primary_url, replica_url, folder
    finally:
        replica.stop()
        primary.stop()


@contextmanager
def _connected(url: str) -> Iterator[sa.Connection]:
    """A transaction on one server by its URL, outside any Store (a Store migrates)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _scalar(url: str, sql: str) -> object:
    with _connected(url) as conn:
        return conn.execute(sa.text(sql)).scalar()


def _caught_up(primary_url: str, replica_url: str) -> bool:
    """Whether the replica has replayed everything the primary had written when asked."""
    written = _scalar(primary_url, "SELECT pg_current_wal_lsn()::text")
    return bool(_scalar(replica_url, f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"))


def _replay(replica_url: str, action: str) -> None:
    """Pause or resume the replica's replay."""
    _scalar(replica_url, f"SELECT pg_wal_replay_{action}()")


def test_a_visit_with_two_workers_and_a_lagging_replica(replicated) -> None:
    primary_url, replica_url, folder = replicated
    with serving(primary_url, folder / "data", replica_url) as site:
        # What the workers' start wrote (the pgvector table) first reaches the replica.
        # The writer makes that table on its first indexer round, which may come after the
        # replica first caught up: wait for the table itself on the replica.
        _wait_for(
            lambda: (
                _caught_up(primary_url, replica_url)
                and bool(_scalar(replica_url, "SELECT to_regclass('paper_vectors') IS NOT NULL"))
            ),
            60,
            "replica caught up, pgvector table included",
        )
        _replay(replica_url, "pause")
        try:
            # Written while the replica stands still: only the primary has them.
            _ingest(primary_url, _papers_file(folder, range(10, 11), "lagging"))
            new = paper(10)["arxiv_id"]
            # Anonymous reads come from the replica: it lacks the new paper.
            assert site.get(f"/papers/{new}.json").status_code == 404

            sign_up(site, "visitor")
            reply = site.post(
                "/papers/2611.00001/vote",
                data={"state": "on"},
                headers={
                    "X-CSRF-Token": csrf_token(site, "/papers/2611.00001"),
                    "Accept": "application/json",
                },
            )
            assert reply.json() == {"paper": "2611.00001", "voted": True, "upvotes": 1}
            # Signed in: the primary, so the vote shows at once, on whichever worker.
            for _ in range(6):
                shown = site.get("/papers/2611.00001.json").json()
                assert shown["upvotes"] == 1
                assert 'aria-pressed="true"' in site.get("/papers/2611.00001").text
            assert site.get(f"/papers/{new}.json").status_code == 200
            found = site.get(
                "/search.json", params={"q": "replicated attention", "mode": "keyword"}
            )
            assert {h["arxiv_id"] for h in found.json()["hits"]} >= {"2611.00001", "2611.00002"}

            anonymous = loopback_client(str(site.base_url), timeout=60)
            with anonymous:
                assert anonymous.get("/papers/2611.00003.json").json()["upvotes"] == 0
                _replay(replica_url, "resume")
                _wait_for(
                    lambda: anonymous.get(f"/papers/{new}.json").status_code == 200,
                    NEW_PAPERS_WITHIN_S,
                    "the replica replays the new paper",
                )
        finally:
            _replay(replica_url, "resume")


def test_a_worker_started_while_another_process_writes_sees_the_new_papers(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    _ingest(db_url, _papers_file(tmp_path, range(1, 4), "first"))
    batches = [_papers_file(tmp_path, range(n, n + 20), "zeppelin") for n in (100, 120, 140)]
    # Another process writes papers while the workers start.
    writer = threading.Thread(target=lambda: [_ingest(db_url, path) for path in batches])
    writer.start()
    with serving(db_url, tmp_path / "data") as site:
        writer.join()

        def all_workers_find_them() -> bool:
            # A new connection each time: the workers take turns accepting them.
            for _ in range(8):
                with loopback_client(str(site.base_url), timeout=60) as fresh:
                    found = fresh.get(
                        "/search.json", params={"q": "zeppelin", "mode": "keyword"}
                    ).json()
                    if found["total"] != 60:
                        return False
                    if fresh.get("/papers/2611.00159.json").status_code != 200:
                        return False
            return True

        _wait_for(all_workers_find_them, NEW_PAPERS_WITHIN_S, "both workers show new papers")


def test_a_replica_behind_the_schema_is_passed_over_until_it_catches_up(replicated, caplog):
    """A rolling upgrade migrates the primary first; a replica that has not replayed the
    new migration lacks its tables. Reads go to the primary until it has (as if the
    newest migration were new: dropped on both, then made again on the primary alone)."""
    primary_url, replica_url, _ = replicated
    with _connected(primary_url) as conn:
        conn.execute(sa.text("DROP TABLE similar_papers"))  # what the newest migration made
        conn.execute(sa.text(f"DELETE FROM schema_migrations WHERE version = {LATEST_VERSION}"))
    _wait_for(lambda: _caught_up(primary_url, replica_url), 60, "the replica replays the drop")
    _replay(replica_url, "pause")

    def read_from(store: Store) -> tuple[bool, int]:
        """Whether the read went to the replica; the stored similar papers it found there."""
        with replica_reads(), store.read() as conn:
            standby = conn.execute(sa.text("SELECT pg_is_in_recovery()")).scalar_one()
            lists = conn.execute(sa.select(sa.func.count()).select_from(similar_papers))
            return standby, lists.scalar_one()

    try:
        with Store(primary_url, [replica_url]) as store:  # migrates the primary again
            caplog.set_level(logging.WARNING, logger="paperfeed.store")
            assert read_from(store) == (False, 0)
            assert f"needs {LATEST_VERSION}" in caplog.text
            _replay(replica_url, "resume")
            _wait_for(lambda: read_from(store)[0], 60, "reads from the caught-up replica")
    finally:
        _replay(replica_url, "resume")
