"""Following authors and categories (issue 17, item 2) on a slice of the real corpus:
follow an author on their page, ingest a new paper by them, and find it in For you, the
personal feed (read by feedparser, at a secret URL that can be revoked) and the next
digest (delivered to a real SMTP server, aiosmtpd). Both engines."""

import gzip
import itertools
import json
from collections import Counter
from datetime import date
from urllib.parse import quote, urlsplit

import feedparser
import pytest
import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.services.accounts import create_user
from paperfeed.services.digest import send_digests
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.services.subscriptions import Prefs, add_subscriber
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store.schema import feed_tokens, follows, subscriptions
from tests.forms import sent_to_log_in, session_client
from tests.helpers import site_in_process

STORED = 150  # the first papers of arxiv-cs-daily: what the site has before
LOOK_AHEAD = 3_000  # where the "new" paper by a followed author is found
BASE = "http://paperfeed.test"


@pytest.fixture(scope="module")
def corpus(shared_data):
    """(the stored records, the author to follow, a later real paper of theirs)."""
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, LOOK_AHEAD)]
    stored, later = records[:STORED], records[STORED:]
    counts = Counter(a for r in stored for a in set(r["authors"]))
    for author, _ in counts.most_common():
        new = next((r for r in later if author in r["authors"]), None)
        if new is not None and new["listing_date"] > stored[-1]["listing_date"]:
            return stored, author, new
    raise AssertionError("no stored author with a later paper in the slice")


def _ingest(store, folder, records, name):
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in records))
    run_ingest(store, JsonlSource(path), show_progress=False)


def test_follow_an_author_then_their_new_paper_arrives_everywhere(
    fresh_db, tmp_path, load_embedder, corpus, smtp_server
):
    stored, author, new = corpus
    _ingest(fresh_db, tmp_path, stored, "stored.jsonl")
    search = SearchEngine(fresh_db, tmp_path / "data", embedder=load_embedder(64))
    update_indexes(search)
    with fresh_db.engine.begin() as conn:
        reader = create_user(conn, "reader", "reader@example.org", "correct horse")
    settings = Settings(smtp_url=smtp_server.url, base_url=BASE, mail_from="pf <d@paperfeed.test>")
    with site_in_process(fresh_db, search=search, settings=settings) as anon:
        client, csrf = session_client(fresh_db, anon, reader.id)
        page = client.get(f"/authors/{quote(author)}")
        assert 'action="/follows"' in page.text  # the Follow button, a plain form
        reply = client.post(
            "/follows",
            data={
                "csrf_token": csrf,
                "kind": "author",
                "value": author,
                "next": f"/authors/{quote(author)}",
            },
        )
        assert reply.status_code == 303
        assert "Following ✓" in client.get(f"/authors/{quote(author)}").text
        category = new["categories"][0]
        reply = client.post(
            "/follows", data={"csrf_token": csrf, "kind": "category", "value": category}
        )
        assert reply.status_code == 303
        made = client.post(
            "/account/feed-token",
            data={"csrf_token": csrf},
            headers={"Accept": "application/json"},
        ).json()
        feed_path = urlsplit(made["feed_url"]).path
        assert [(f["kind"], f["value"]) for f in made["follows"]] == [
            ("author", author),
            ("category", category),
        ]

        # The new paper arrives, as the daily update would bring it.
        _ingest(fresh_db, tmp_path, [new], "new.jsonl")
        update_indexes(search)

        for_you = client.get("/for-you.json").json()
        ranked = [p["arxiv_id"] for p in for_you["papers"]]
        assert new["arxiv_id"] in ranked[:20], (author, ranked)

        feed = feedparser.parse(anon.get(feed_path).content)
        assert not feed.bozo and feed.entries
        assert feed.entries[0].link.endswith(f"/papers/{new['arxiv_id']}")  # newest first
        assert all(
            author in [a.name for a in e.authors] or category in [t.term for t in e.tags]
            for e in feed.entries
        )

        # Revoked: the secret URL stops at once; the token was never stored in clear.
        with fresh_db.engine.connect() as conn:
            hashes = conn.execute(sa.select(feed_tokens.c.token_hash)).scalars().all()
        assert feed_path.split("/")[-1].removesuffix(".atom") not in hashes and len(hashes) == 1
        revoked = client.post("/account/feed-token/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert anon.get(feed_path).status_code == 404

    # The next digest: the reader's subscription (trending off) gets the followed author.
    add_subscriber(fresh_db, settings, "reader@example.org", "daily", Prefs(trending=False), True)
    with fresh_db.engine.begin() as conn:
        conn.execute(subscriptions.update().values(user_id=reader.id))
    summary = send_digests(
        fresh_db, settings, date.fromisoformat(new["listing_date"]), search=search
    )
    assert summary.sent == 1
    (message,) = smtp_server.to("reader@example.org")
    text = message.get_body(("plain",)).get_content()
    assert f"New from {author}" in text and new["title"][:40] in " ".join(text.split())


def test_follow_needs_a_session_csrf_and_a_real_name(fresh_db, tmp_path, corpus):
    stored, author, _ = corpus
    _ingest(fresh_db, tmp_path, stored[:20], "stored.jsonl")
    with fresh_db.engine.begin() as conn:
        reader = create_user(conn, "reader", "reader@example.org", "correct horse")
    with site_in_process(fresh_db) as anon:
        assert anon.post("/follows", data={"kind": "author", "value": author}).status_code == 403
        client, csrf = session_client(fresh_db, anon, reader.id)
        assert client.post("/follows", data={"kind": "author", "value": author}).status_code == 403
        for kind, value in [
            ("author", "..."),
            ("author", "a\nb"),
            ("author", "x" * 201),
            ("category", "<script>"),
            ("paper", "2501.00001"),
            ("", ""),
        ]:
            reply = client.post("/follows", data={"csrf_token": csrf, "kind": kind, "value": value})
            assert reply.status_code == 400, (kind, value, reply.status_code)
        assert client.get("/account/follows").status_code == 200
        assert sent_to_log_in(anon.get("/account/follows"), "/account/follows")
        for token in ["x" * 16, "../../etc/passwd", "a" * 65, "%00" * 8]:
            assert anon.get(f"/feeds/me/{token}.atom").status_code in (400, 404)
    with fresh_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(follows)).scalar() == 0
