"""Your data, on both engines: a reader's visit made through the site's forms, the JSON
download that holds every item of it, and account deletion checked by reading every
row of every table afterwards. The personal-data declaration covers every table that
references an account."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.records import utcnow
from paperfeed.services.accounts import authenticate, create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.services.subscriptions import Prefs, add_subscriber
from paperfeed.services.your_data import DELETED_USERNAME, REMOVED_COMMENT
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import (
    PERSONAL_DATA,
    PERSONAL_DATA_EXEMPT,
    comments,
    daily_entries,
    metadata,
    users,
)
from tests.feeds import listing_line, paper
from tests.forms import csrf_token, sent_to_log_in, sign_up
from tests.helpers import UNCACHED, site_in_process

NAME, EMAIL, PASSWORD = "qz-visitor", "qz-visitor@example.org", "correct horse"
# Text only this visit writes: after deletion it must be nowhere in the store.
MARKERS = {
    "comment": "QZMARK comment on sparse attention",
    "collection": "QZMARK reading list",
    "note": "QZMARK private note",
    "interest": "QZMARK Author",
    "query": "QZMARK saved search",
    "follow": "QZMARK Followed",
}
PAPERS = [f"2611.{n:05d}" for n in range(1, 6)]


@pytest.fixture
def visit(db_url, tmp_path):
    """A reader who made one of everything through the site, and a neighbour who replied
    to their comment: (store, client, neighbour's id, the comment's id)."""
    listing = tmp_path / "listing.jsonl"
    listing.write_text("\n".join(listing_line(paper(n), "2026-11-03") for n in range(1, 6)))
    with Store(db_url) as store:
        run_ingest(store, JsonlSource(listing), show_progress=False)
        with site_in_process(store, settings=UNCACHED) as client:
            sign_up(client, NAME, PASSWORD)

            def act(path: str, **fields: str) -> None:
                token = csrf_token(client, "/library")
                answer = client.post(path, data={"csrf_token": token, **fields})
                assert answer.status_code == 303, (path, answer.text[:300])

            act(f"/papers/{PAPERS[0]}/vote", state="on")
            act(f"/papers/{PAPERS[1]}/comments", body=MARKERS["comment"])
            act("/collections", name=MARKERS["collection"], paper=PAPERS[2])
            act(f"/papers/{PAPERS[0]}/reading", state="read")
            act(f"/papers/{PAPERS[1]}/reading", state="later")
            act(f"/papers/{PAPERS[2]}/note", body=MARKERS["note"])
            act("/for-you/interests", kind="author", value=MARKERS["interest"])
            act(f"/papers/{PAPERS[3]}/not-interested")
            act("/follows", kind="author", value=MARKERS["follow"])
            act(f"/papers/{PAPERS[4]}/claim", author="Ada Example5")
            token = csrf_token(client, "/library")
            made = client.post("/account/feed-token", data={"csrf_token": token})
            assert made.status_code == 200 and "/feeds/me/" in made.text
            prefs = Prefs(queries=[MARKERS["query"]])
            add_subscriber(store, Settings(), EMAIL, "daily", prefs, confirmed=True)
            with store.write() as conn:
                me = conn.execute(sa.select(users.c.id).where(users.c.username == NAME)).scalar()
                # A paper they put on a daily list (the submit form asks arXiv; not here).
                conn.execute(
                    daily_entries.insert().values(
                        paper_id=5, day=utcnow().date(), submitted_by=me,
                        submitted_at=utcnow(), origin="local",
                    )
                )  # fmt: skip
                neighbour = create_user(conn, "neighbour", "n@example.org", PASSWORD)
                mine = conn.execute(sa.select(comments.c.id)).scalar_one()
                conn.execute(
                    comments.insert().values(
                        paper_id=2, user_id=neighbour.id, parent_id=mine,
                        body="I agree", created_at=utcnow(),
                    )
                )  # fmt: skip
            yield store, client, neighbour.id, mine


def test_the_download_holds_every_item_made_in_the_visit(visit):
    store, client, _, _ = visit
    answer = client.get("/account/data")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="paperfeed-{NAME}.json"'
    data = answer.json()
    assert data["format"] == "paperfeed-your-data"
    tables = data["tables"]
    assert [u["username"] for u in tables["users"]] == [NAME]
    assert "password_hash" not in tables["users"][0] and "sessions" not in tables
    assert [v["paper"] for v in tables["votes"]] == [PAPERS[0]]
    assert [(c["paper"], c["body"]) for c in tables["comments"]] == [
        (PAPERS[1], MARKERS["comment"])
    ]
    assert [c["name"] for c in tables["collections"]] == [MARKERS["collection"]]
    assert [i["paper"] for i in tables["collection_items"]] == [PAPERS[2]]
    assert sorted((r["paper"], r["state"]) for r in tables["reading_states"]) == [
        (PAPERS[0], "read"),
        (PAPERS[1], "later"),
    ]
    assert [(n["paper"], n["body"]) for n in tables["paper_notes"]] == [
        (PAPERS[2], MARKERS["note"])
    ]
    assert [(s["kind"], s["value"]) for s in tables["interest_seeds"]] == [
        ("author", MARKERS["interest"])
    ]
    assert [n["paper"] for n in tables["not_interested"]] == [PAPERS[3]]
    assert [s["prefs"]["queries"] for s in tables["subscriptions"]] == [[MARKERS["query"]]]
    assert [d["paper"] for d in tables["daily_entries"]] == [PAPERS[4]]
    assert [(f["kind"], f["value"]) for f in tables["follows"]] == [("author", MARKERS["follow"])]
    assert [c["author_name"] for c in tables["author_claims"]] == ["Ada Example5"]
    assert len(tables["feed_tokens"]) == 1 and "token_hash" not in tables["feed_tokens"][0]
    # Every declared table, row for row: nothing the reader has is left out.
    with store.engine.connect() as conn:
        me = conn.execute(sa.select(users.c.id).where(users.c.username == NAME)).scalar()
        for spec in PERSONAL_DATA:
            if spec.download:
                table = metadata.tables[spec.table]
                held = conn.execute(
                    sa.select(sa.func.count()).where(table.c[spec.owner] == me)
                ).scalar()
                assert len(tables[spec.table]) == held >= 1, spec.table
    # Only the reader's own: the neighbour's reply is not in it.
    assert "I agree" not in answer.text
    signed_out = site_client_without_cookies(client)
    assert sent_to_log_in(signed_out.get("/account/data"), "/account/data")


def site_client_without_cookies(client):
    client.cookies.clear()
    return client


def everything(store: Store) -> list[tuple[str, str, str]]:
    """(table, column, value as JSON) for every value of every row of every table."""
    found = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    found.append((table.name, column, json.dumps(value, default=str)))
    return found


def delete(client, password: str, remove_comments: bool):
    token = csrf_token(client, "/account/delete")
    fields = {"csrf_token": token, "password": password}
    if remove_comments:
        fields["remove_comments"] = "true"
    return client.post("/account/delete", data=fields)


def assert_nothing_personal_left(store: Store, also: tuple[str, ...]) -> None:
    needles = (NAME, EMAIL, *also)
    left = [(t, c, v[:80]) for t, c, v in everything(store) if any(n in v for n in needles)]
    assert left == []
    with store.engine.connect() as conn:
        left_users = conn.execute(sa.select(users.c.username)).scalars().all()
        assert sorted(left_users) == sorted(["neighbour", DELETED_USERNAME])


def test_deletion_keeps_comments_as_deleted_user_and_nothing_else(visit):
    store, client, _, comment_id = visit
    wrong = delete(client, "not my password", remove_comments=False)
    assert wrong.status_code == 403 and "wrong password" in wrong.text
    assert client.get("/library").status_code == 200  # still there
    answer = delete(client, PASSWORD, remove_comments=False)
    assert answer.status_code == 200 and "Your account is deleted" in answer.text
    assert 'pf_session=""' in answer.headers["set-cookie"]
    kept = [m for k, m in MARKERS.items() if k != "comment"]
    assert_nothing_personal_left(store, tuple(kept))
    with store.engine.connect() as conn:
        author, body = conn.execute(
            sa.select(users.c.username, comments.c.body)
            .join(users, users.c.id == comments.c.user_id)
            .where(comments.c.id == comment_id)
        ).one()
        assert (author, body) == (DELETED_USERNAME, MARKERS["comment"])
        assert conn.execute(sa.select(sa.func.count()).select_from(daily_entries)).scalar() == 1
        assert authenticate(conn, NAME, PASSWORD) is None
    page = client.get(f"/papers/{PAPERS[1]}").text
    assert DELETED_USERNAME in page and MARKERS["comment"] in page and "I agree" in page
    assert sent_to_log_in(client.get("/library"), "/library")
    # The name is free again, and the placeholder cannot be signed into.
    sign_up(client, NAME, PASSWORD)
    with store.engine.connect() as conn:
        assert authenticate(conn, DELETED_USERNAME, "") is None


def test_deletion_with_comments_removed_leaves_no_trace_but_keeps_replies(visit):
    store, client, neighbour, comment_id = visit
    assert delete(client, PASSWORD, remove_comments=True).status_code == 200
    assert_nothing_personal_left(store, tuple(MARKERS.values()))
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(comments.c.id, comments.c.user_id, comments.c.body).order_by(comments.c.id)
        ).all()
    # The neighbour's reply keeps its thread; the parent holds no text of the reader's.
    placeholder = rows[0].user_id
    assert [(r.id, r.body) for r in rows] == [
        (comment_id, REMOVED_COMMENT),
        (rows[1].id, "I agree"),
    ]
    assert rows[1].user_id == neighbour and placeholder != neighbour


def test_every_table_that_references_accounts_is_declared():
    """A new table with a reference to users must say whether it is personal data
    (store/schema.py PERSONAL_DATA) or why not (PERSONAL_DATA_EXEMPT)."""
    declared = {spec.table: spec for spec in PERSONAL_DATA}
    referencing = {
        table.name
        for table in metadata.sorted_tables
        for column in table.columns
        if any(fk.column is users.c.id for fk in column.foreign_keys)
    }
    assert referencing <= set(declared) | set(PERSONAL_DATA_EXEMPT), (
        referencing - set(declared) - set(PERSONAL_DATA_EXEMPT)
    )
    assert not set(declared) & set(PERSONAL_DATA_EXEMPT)
    for spec in PERSONAL_DATA:
        table = metadata.tables[spec.table]
        assert spec.owner in table.c and all(c in table.c for c in spec.secret)
        if spec.table != "users":
            assert any(fk.column is users.c.id for fk in table.c[spec.owner].foreign_keys)
        if spec.email_key:
            assert spec.email_key in table.c
