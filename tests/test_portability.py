"""`paperfeed export` / `import`: what people made, moved from SQLite to PostgreSQL with
the same pages and counts; importing twice changes nothing; bad rows are rejected with
their file:line and the rest goes in."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from paperfeed.config import Settings
from paperfeed.services import collections as collection_service
from paperfeed.services.accounts import create_user
from paperfeed.services.community import Submissions, add_comment, set_vote
from paperfeed.services.ingest import run_ingest
from paperfeed.services.interests import add_seed, mark_not_interested
from paperfeed.services.subscriptions import add_subscriber, clean_prefs
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from tests.feeds import hf_api_entry, listing_line, paper
from tests.forms import post_form
from tests.helpers import Cli, site_in_process

PASSWORD = "correct horse battery"


def ingest(store: Store, folder: Path, numbers: range) -> None:
    listing = folder / f"listing-{numbers.start}-{numbers.stop}.jsonl"
    listing.write_text("\n".join(listing_line(paper(n), "2026-11-03") for n in numbers))
    run_ingest(store, JsonlSource(listing), show_progress=False)
    daily = folder / "2026-11-04.json"
    daily.write_text(json.dumps([hf_api_entry(paper(1), submitter="hf-curator")]))
    run_ingest(store, HfDailyFileSource(daily), show_progress=False)


def make_community(store: Store) -> None:
    """Two readers' votes, comments and a reply, a submission, collections, interests, a
    not-interested mark and a subscription."""
    with store.write() as conn:
        ada = create_user(conn, "Ada", "ada@example.org", PASSWORD).id
        bo = create_user(conn, "bo", "bo@example.org", PASSWORD).id
        for arxiv_id in ("2611.00001", "2611.00002", "2611.00006"):
            set_vote(conn, ada, arxiv_id, True)
        set_vote(conn, bo, "2611.00001", True)
        first = add_comment(conn, ada, "2611.00001", "**Nice** result, but see $x<y$.")
        add_comment(conn, bo, "2611.00001", "Agreed; the ablation is thin.", parent_id=first)
        add_comment(conn, bo, "2611.00006", "On the sixth paper.")
        public = collection_service.create_collection(conn, ada, "Attention", "sparse", True)
        for arxiv_id in ("2611.00002", "2611.00003", "2611.00006"):
            collection_service.add_paper(conn, public, ada, arxiv_id)
        private = collection_service.create_collection(conn, bo, "To read", "", False)
        collection_service.add_paper(conn, private, bo, "2611.00004")
        add_seed(conn, ada, "category", "cs.CL")
        add_seed(conn, ada, "text", "Sparse attention for long documents.")
        mark_not_interested(conn, bo, "2611.00005", True)
    Submissions(store, lambda _id: pytest.fail("no fetch"), 14).submit(
        bo, "2611.00003", today=date(2026, 11, 5)
    )
    prefs = clean_prefs(True, False, ["cs.CL"], ["sparse attention"], [])
    add_subscriber(store, Settings(), "reader@example.org", "daily", prefs, confirmed=True)


def pages(store: Store) -> dict[str, object]:
    """What readers see of that data, ids of comments and collections left out."""
    seen: dict[str, object] = {}
    with site_in_process(store) as site:
        for user in ("Ada", "bo"):
            page = site.get(f"/users/{user}.json").json()
            for c in page["collections"]:
                seen[f"collection {c['name']}"] = {
                    k: v for k, v in site.get(f"/collections/{c['id']}.json").json().items()
                    if k != "id"
                }  # fmt: skip
                c.pop("id")
            seen[f"user {user}"] = page
        for n in range(1, 7):
            got = site.get(f"/papers/2611.{n:05d}.json").json()
            for comment in got["comments"]:
                comment["parent_id"] = comment["parent_id"] is not None
                comment.pop("id")
            seen[f"paper {n}"] = {k: got[k] for k in ("upvotes", "comments", "featured_on")}
    return seen


def counts(cli: Cli) -> dict[str, int]:
    stats = json.loads(cli("stats", "--json").output)
    return {k: stats[k] for k in ("papers", "votes", "comments", "users", "daily_entries")}


def exported(folder: Path) -> dict[str, list[dict]]:
    """The export's rows with their store-specific ids dropped."""
    rows = {}
    for path in sorted(folder.glob("*.jsonl")):
        rows[path.stem] = [
            {k: v for k, v in json.loads(line).items() if k not in ("id", "parent_id")}
            for line in path.read_text().splitlines()
        ]
    return rows


def test_export_from_sqlite_import_into_postgres(tmp_path, sqlite_url, fresh_postgres_url):
    sqlite_cli, pg_cli = Cli(sqlite_url), Cli(fresh_postgres_url)
    with Store(sqlite_url) as source:
        ingest(source, tmp_path, range(1, 7))
        make_community(source)
        before = pages(source)
    assert before["paper 1"]["upvotes"] == 2 + 3  # two here, three counted by Hugging Face

    plain, secret = tmp_path / "export", tmp_path / "export-secret"
    result = sqlite_cli("export", str(plain))
    assert result.exit_code == 0, result.output
    assert "2 votes" not in result.output and "4 votes" in result.output
    manifest = json.loads((plain / "manifest.json").read_text())
    assert manifest["counts"]["comments"] == 3 and manifest["counts"]["collections"] == 2
    assert manifest["with_secrets"] is False and manifest["referenced_papers"] == 6
    assert "password_hash" not in (plain / "users.jsonl").read_text()
    assert (
        "$argon2"
        in sqlite_cli("export", "--with-secrets", str(secret)).output
        + (secret / "users.jsonl").read_text()
    )
    assert sqlite_cli("export", str(plain)).exit_code != 0  # never over an export

    # The new instance lacks paper 6 at first: its rows are named and skipped.
    with Store(fresh_postgres_url) as target:
        ingest(target, tmp_path, range(1, 6))
    first = pg_cli("import", str(secret))
    assert first.exit_code == 0, first.output
    assert "1 papers are not in this store: 2611.00006" in first.output
    assert (
        "votes.jsonl:" in first.output and "paper 2611.00006 is not in this store" in first.output
    )

    with Store(fresh_postgres_url) as target:
        ingest(target, tmp_path, range(6, 7))
    second = pg_cli("import", str(secret))
    assert second.exit_code == 0, second.output
    assert "not in this store" not in second.output and " 0 rejected" in second.output
    assert "votes 1 added / 3 there" in second.output
    assert "comments 1 added / 2 there" in second.output

    third = pg_cli("import", str(secret))
    assert " 0 rejected" in third.output
    assert all(f"{k} 0 added" in third.output for k in ("users", "votes", "comments"))

    assert counts(pg_cli) == counts(sqlite_cli)
    with Store(fresh_postgres_url) as target:
        assert pages(target) == before
        with site_in_process(target) as site:  # the password hash came along
            login = post_form(site, "/login", {"login": "Ada", "password": PASSWORD})
            assert login.status_code == 303, login.text[:300]

    again = tmp_path / "export-again"
    assert pg_cli("export", "--with-secrets", str(again)).exit_code == 0
    assert exported(again) == exported(secret)


def test_import_rejects_bad_rows_with_their_place(db_url, tmp_path):
    cli = Cli(db_url)
    with Store(db_url) as store:
        ingest(store, tmp_path, range(1, 3))
    folder = tmp_path / "export"
    assert cli("export", str(folder)).exit_code == 0  # an empty but valid export
    (folder / "users.jsonl").write_text(
        json.dumps({"username": "cy", "email": "cy@example.org", "is_admin": False,
                    "origin": "local", "created_at": "2026-11-05T10:00:00"}) + "\n"
        + json.dumps({"username": "has space", "origin": "local",
                      "created_at": "2026-11-05T10:00:00"}) + "\n"
    )  # fmt: skip
    good = {"username": "cy", "arxiv_id": "2611.00001", "created_at": "2026-11-05T10:00:00Z"}
    (folder / "votes.jsonl").write_text(
        "\n".join(
            [
                "{not json",
                json.dumps([1, 2]),
                json.dumps({**good, "arxiv_id": "javascript:alert(1)"}),
                json.dumps({**good, "username": "nobody"}),
                json.dumps({**good, "created_at": "yesterday"}),
                json.dumps({**good, "arxiv_id": "2611.00002", "note": "x" * 1_100_000}),
                json.dumps(good),
            ]
        )
        + "\n"
    )
    comment = {
        "id": 5,
        "username": "cy",
        "arxiv_id": "2611.00001",
        "parent_id": None,
        "body": "fine",
        "hidden": False,
        "created_at": "2026-11-05T10:00:00",
    }
    (folder / "comments.jsonl").write_text(
        json.dumps({**comment, "parent_id": 4, "body": "orphan"}) + "\n"
        + json.dumps({**comment, "id": 6, "body": "nul \x00 inside"}) + "\n"
        + json.dumps(comment) + "\n"
    )  # fmt: skip
    result = cli("import", str(folder))
    assert result.exit_code == 0, result.output
    for place, reason in [
        ("users.jsonl:2", "spaces or control characters"),
        ("votes.jsonl:1", "not JSON"),
        ("votes.jsonl:2", "not a JSON object"),
        ("votes.jsonl:3", "not an arXiv id"),
        ("votes.jsonl:4", "no user 'nobody'"),
        ("votes.jsonl:5", "not an ISO date-time"),
        ("votes.jsonl:6", "longer than 1 MB"),
        ("comments.jsonl:1", "parent comment 4 was not imported"),
        ("comments.jsonl:2", "contains a NUL character"),
    ]:
        assert f"rejected {place}: " in result.output and reason in result.output, place
    assert "users 1 added" in result.output and "votes 1 added" in result.output
    assert "comments 1 added" in result.output and "9 rejected" in result.output
    assert json.loads(cli("stats", "--json").output)["votes"] == 1

    (folder / "manifest.json").write_text(json.dumps({"format": "something else"}))
    refused = cli("import", str(folder))
    assert refused.exit_code != 0 and "not a paperfeed export manifest" in refused.output
