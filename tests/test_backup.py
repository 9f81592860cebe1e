"""`paperfeed backup` and `restore`: a live SQLite store copied while 20 clients vote and
comment over HTTP; PostgreSQL through pg_dump and pg_restore."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import comments, papers, users, votes
from tests.feeds import listing_line, paper
from tests.forms import session_client
from tests.helpers import Cli, live_site, wait_until

CLIENTS = 20
PAPERS = 40


def load_papers(store: Store, folder: Path, count: int = PAPERS) -> list[str]:
    listing = folder / "listing.jsonl"
    listing.write_text("\n".join(listing_line(paper(n), "2026-11-03") for n in range(1, count + 1)))
    run_ingest(store, JsonlSource(listing), show_progress=False)
    return [f"2611.{n:05d}" for n in range(1, count + 1)]


def add_users(store: Store, count: int) -> list[int]:
    with store.engine.begin() as conn:
        now = utcnow()
        conn.execute(
            users.insert(),
            [{"username": f"w{i}", "origin": "local", "created_at": now} for i in range(count)],
        )
        return list(conn.execute(sa.select(users.c.id).order_by(users.c.id)).scalars())


@pytest.mark.slow  # twenty clients at once
def test_backup_while_twenty_clients_write_then_restore(tmp_path):
    live_url = f"sqlite:///{tmp_path / 'live.db'}"
    backup_file = tmp_path / "backups" / "paperfeed.db"
    backup_file.parent.mkdir()
    acknowledged: list[tuple[float, str, int, str]] = []  # (when, kind, user, value)
    lock = threading.Lock()
    stop = threading.Event()
    with Store(live_url) as store:
        ids = load_papers(store, tmp_path)
        user_ids = add_users(store, CLIENTS)
        with live_site(store) as site:
            sessions = [session_client(store, site, u) for u in user_ids]

            def write(index: int) -> int:
                client, csrf = sessions[index]
                headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
                done = 0
                with client:
                    while not stop.is_set():
                        arxiv_id = ids[done % PAPERS]
                        if done % 2 == 0:
                            reply = client.post(
                                f"/papers/{arxiv_id}/vote", data={"state": "on"}, headers=headers
                            )
                            kind, value = "vote", arxiv_id
                        else:
                            value = f"comment {uuid.uuid4().hex} on {arxiv_id}"
                            reply = client.post(
                                f"/papers/{arxiv_id}/comments",
                                data={"body": value},
                                headers=headers,
                            )
                            kind = "comment"
                        assert reply.status_code == 200, reply.text[:200]
                        with lock:
                            acknowledged.append((time.monotonic(), kind, user_ids[index], value))
                        done += 1
                return done

            with ThreadPoolExecutor(CLIENTS) as pool:
                writers = [pool.submit(write, i) for i in range(CLIENTS)]
                wait_until(lambda: len(acknowledged) >= CLIENTS, 60, "the clients to write")
                began = time.monotonic()
                result = Cli(live_url)("backup", str(backup_file))
                ended = time.monotonic()
                wait_until(
                    lambda: any(a[0] > ended for a in acknowledged), 60, "a write after the backup"
                )
                stop.set()
                counts = [w.result() for w in writers]
        assert result.exit_code == 0, result.output
        assert "backed up to" in result.output and "sqlite3 backup API" in result.output
    before = [a for a in acknowledged if a[0] < began]
    assert len(before) >= CLIENTS, "the clients had written before the backup began"
    assert any(a[0] > ended for a in acknowledged), "the clients wrote on after the backup"
    assert min(counts) > 0

    # Restore into a new store; the copy is sound and holds every acknowledged write.
    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    result = Cli(restored_url)("restore", str(backup_file))
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "restored.db") as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store(restored_url) as restored, restored.engine.connect() as conn:
        have_votes = set(
            conn.execute(
                sa.select(votes.c.user_id, papers.c.arxiv_id).join(
                    papers, papers.c.id == votes.c.paper_id
                )
            ).all()
        )
        have_comments = set(conn.execute(sa.select(comments.c.user_id, comments.c.body)).all())
        missing = [
            a
            for a in before
            if (a[2], a[3]) not in (have_votes if a[1] == "vote" else have_comments)
        ]
        assert missing == []
        total = len(have_votes) + len(have_comments)
        assert total <= len(acknowledged)
        # Pages on the restored store work and agree with its rows.
        some_vote = next(a for a in before if a[1] == "vote")
        with live_site(restored) as site:
            page = site.get(f"/papers/{some_vote[3]}.json").json()
            voters = sum(1 for _, arxiv_id in have_votes if arxiv_id == some_vote[3])
            assert page["upvotes"] == voters

    # A store with data in it is not overwritten without --force; a backup not replaced.
    again = Cli(restored_url)("restore", str(backup_file))
    assert again.exit_code != 0 and "not empty" in again.output and "--force" in again.output
    assert Cli(restored_url)("restore", "--force", str(backup_file)).exit_code == 0
    exists = Cli(live_url)("backup", str(backup_file))
    assert exists.exit_code != 0 and "exists" in exists.output
    assert Cli(live_url)("backup", "--force", str(backup_file)).exit_code == 0


def test_restore_refuses_what_is_not_a_backup(tmp_path, sqlite_url):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = Cli(sqlite_url)("restore", str(junk))
    assert result.exit_code != 0 and "is not a paperfeed SQLite store" in result.output
    assert Cli(sqlite_url)("restore", str(tmp_path / "nowhere.db")).exit_code != 0


def test_postgres_backup_and_restore(fresh_postgres_url, postgres_url, tmp_path):
    with Store(fresh_postgres_url) as store:
        ids = load_papers(store, tmp_path, count=5)
        user_ids = add_users(store, 3)
        with store.engine.begin() as conn:
            paper_id = conn.execute(
                sa.select(papers.c.id).where(papers.c.arxiv_id == ids[0])
            ).scalar_one()
            conn.execute(
                votes.insert(),
                [{"user_id": u, "paper_id": paper_id, "created_at": utcnow()} for u in user_ids],
            )
    dump = tmp_path / "paperfeed.pgdump"
    result = Cli(fresh_postgres_url)("backup", str(dump))
    assert result.exit_code == 0, result.output
    assert "pg_dump" in result.output and dump.stat().st_size > 0

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = f"{postgres_url.rpartition('/')[0]}/{name}"
    try:
        result = Cli(target)("restore", str(dump))
        assert result.exit_code == 0, result.output
        with Store(target) as restored, restored.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() == 5
            assert conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar() == 3
        refused = Cli(target)("restore", str(dump))
        assert refused.exit_code != 0 and "not empty" in refused.output
        assert Cli(target)("restore", "--force", str(dump)).exit_code == 0
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
