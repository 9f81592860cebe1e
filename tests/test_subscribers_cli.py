"""`paperfeed subscribers` and `paperfeed digest send` as an admin runs them."""

import json

import sqlalchemy as sa

from paperfeed.store import Store
from paperfeed.store.schema import digest_outbox
from tests.test_digest import DAY, load_papers


def test_add_list_remove(run_cli):
    added = run_cli(
        "subscribers",
        "add",
        "Reader@Example.ORG",
        "--frequency",
        "weekly",
        "--confirmed",
        "--category",
        "cs.CL",
        "--query",
        '"sparse attention" has:code',
        "--author",
        "Grace Hopper",
        "--no-trending",
    )
    assert added.exit_code == 0, added.output
    assert "Reader@example.org: subscribed (weekly)" in added.output
    listed = run_cli("subscribers", "list", "--json")
    assert listed.exit_code == 0
    (row,) = json.loads(listed.output)
    assert (row["email"], row["status"], row["frequency"]) == (
        "Reader@example.org",
        "active",
        "weekly",
    )
    assert row["prefs"] == {
        "trending": False,
        "for_you": False,
        "categories": ["cs.CL"],
        "queries": ['"sparse attention" has:code'],
        "authors": ["Grace Hopper"],
    }
    assert row["last_digest"] is None
    text = run_cli("subscribers", "list").output
    assert "Reader@example.org" in text and "active" in text and "author 'Grace Hopper'" in text
    assert "no digest yet" in text

    assert run_cli("subscribers", "remove", "reader@example.org").exit_code == 0
    assert json.loads(run_cli("subscribers", "list", "--json").output) == []
    again = run_cli("subscribers", "remove", "reader@example.org")
    assert again.exit_code == 1 and "no subscriber 'reader@example.org'" in again.output


def test_bad_input_is_refused_with_a_clear_error(run_cli_sqlite):
    for args, message in [
        (["not-an-address"], "not a valid email address: 'not-an-address'"),
        (["a@example.org\r\nBcc: evil@example.com"], "not a valid email address"),
        (["a@example.org", "--query", "x\r\nBcc: evil@example.com"], "line breaks"),
        (["a@example.org", "--author", "Eve\nX-Header: 1"], "line breaks"),
        (["a@example.org", "--category", "not a category"], "not an arXiv category"),
        (["a@example.org", "--no-trending"], "choose at least one thing"),
        (["a@example.org", "--frequency", "hourly"], "'hourly' is not one of"),
    ]:
        result = run_cli_sqlite("subscribers", "add", *args, "--confirmed")
        assert result.exit_code != 0, args
        assert message in result.output, result.output
    assert json.loads(run_cli_sqlite("subscribers", "list", "--json").output) == []


def test_add_without_confirmed_sends_a_confirmation(run_cli_sqlite, smtp_server):
    refused = run_cli_sqlite("subscribers", "add", "a@example.org")
    assert refused.exit_code == 1 and "no mail server configured" in refused.output
    run_cli_sqlite.env["PAPERFEED_SMTP_URL"] = smtp_server.url
    added = run_cli_sqlite("subscribers", "add", "a@example.org")
    assert added.exit_code == 0 and "confirmation email sent" in added.output
    smtp_server.wait_for(1)
    assert smtp_server.messages[0]["To"] == "a@example.org"
    (row,) = json.loads(run_cli_sqlite("subscribers", "list", "--json").output)
    assert row["status"] == "pending"


def test_digest_send_dry_run_and_real_run(sqlite_url, tmp_path, run_cli_sqlite, smtp_server):
    with Store(sqlite_url) as store:
        load_papers(store, tmp_path)
    run_cli_sqlite("subscribers", "add", "a@example.org", "--confirmed", "--category", "cs.CL")
    run_cli_sqlite(
        "subscribers",
        "add",
        "b@example.org",
        "--confirmed",
        "--no-trending",
        "--category",
        "math.AG",
    )
    dry = run_cli_sqlite("digest", "send", "--date", DAY.isoformat(), "--dry-run", "--no-progress")
    assert dry.exit_code == 0, dry.output
    assert "would send 1, nothing new for 1" in dry.output
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(digest_outbox)).scalar() == 0

    no_smtp = run_cli_sqlite("digest", "send", "--date", DAY.isoformat(), "--no-progress")
    assert no_smtp.exit_code == 1 and "PAPERFEED_SMTP_URL" in no_smtp.output

    run_cli_sqlite.env["PAPERFEED_SMTP_URL"] = smtp_server.url
    sent = run_cli_sqlite("digest", "send", "--date", DAY.isoformat(), "--no-progress")
    assert sent.exit_code == 0, sent.output
    assert "sent 1, nothing new for 1" in sent.output
    assert [m["To"] for m in smtp_server.messages] == ["a@example.org"]
    listed = run_cli_sqlite("subscribers", "list").output
    assert "daily:2026-11-04 sent" in listed and "daily:2026-11-04 empty" in listed
    # Without --date: the newest day with papers (the 5th), sent once however often it runs.
    for _ in range(2):
        assert run_cli_sqlite("digest", "send", "--no-progress").exit_code == 0
    assert len(smtp_server.to("a@example.org")) == 2


def test_serve_send_digests_needs_a_mail_server(run_cli_sqlite):
    result = run_cli_sqlite("serve", "--send-digests", "--port", "1")
    assert result.exit_code == 1 and "PAPERFEED_SMTP_URL" in result.output
