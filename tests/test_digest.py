"""Email digests end to end: a real SMTP server (aiosmtpd) on loopback, the site over HTTP,
`paperfeed digest send` processes killed with SIGKILL, SQLite files and PostgreSQL."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from paperfeed.cli import cli
from paperfeed.config import Settings
from paperfeed.services.accounts import authenticate, create_user
from paperfeed.services.digest import send_digests
from paperfeed.services.digest_periods import due_periods
from paperfeed.services.digest_schedule import DigestScheduler
from paperfeed.services.ingest import run_ingest
from paperfeed.services.mailer import SmtpMailer, parse_smtp_url
from paperfeed.services.paper_views import get_paper
from paperfeed.services.subscriptions import Prefs, SubscriptionError, add_subscriber, clean_prefs
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import digest_outbox, schema_migrations, subscriptions
from tests.feeds import hf_api_entry, listing_line, paper
from tests.helpers import live_site, site_in_process, wait_until

DAY = date(2026, 11, 4)  # a Wednesday
BASE = "http://paperfeed.test"
HOSTILE_TITLE = '<script>alert("x")</script> Hostile & <b>bold</b> title'


def settings_for(smtp_url: str) -> Settings:
    return Settings(smtp_url=smtp_url, base_url=BASE, mail_from="paperfeed <digest@paperfeed.test>")


def load_papers(store: Store, tmp_path) -> None:
    """Four papers announced on DAY, one the day after, and a community list on DAY."""
    listing = tmp_path / "listing.jsonl"
    listing.write_text(
        "\n".join(
            [
                listing_line(paper(1), DAY.isoformat()),
                listing_line(
                    paper(
                        2,
                        title="Diffusion models for protein design",
                        categories=["q-bio.BM"],
                        authors=["Grace Hopper"],
                    ),
                    DAY.isoformat(),
                ),
                listing_line(
                    paper(
                        3,
                        title="Protein folding at scale",
                        categories=["q-bio.BM"],
                        authors=["Lin Wei"],
                    ),
                    DAY.isoformat(),
                ),
                listing_line(
                    paper(
                        66, title=HOSTILE_TITLE, authors=['<b onmouseover="x">Eve</b>\r\nBcc: x']
                    ),
                    DAY.isoformat(),
                ),
                listing_line(paper(7), "2026-11-05"),
            ]
        )
    )
    run_ingest(store, JsonlSource(listing), show_progress=False)
    daily = tmp_path / f"{DAY.isoformat()}.json"
    daily.write_text(
        json.dumps(
            [
                hf_api_entry(paper(5), upvotes=40, day=DAY.isoformat()),
                hf_api_entry(paper(1), upvotes=3, day=DAY.isoformat()),
                hf_api_entry(
                    paper(8, title="Robots that learn to walk"), upvotes=10, day=DAY.isoformat()
                ),
            ]
        )
    )
    run_ingest(store, HfDailyFileSource(daily), show_progress=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def body(message, kind: str) -> str:
    """The text of a message's text/plain or text/html part, with \n line ends."""
    return message.get_body((kind,)).get_content().replace("\r\n", "\n")


def link_in(message, path: str) -> str:
    """The path and query of the link to `path` in a message's text."""
    text = body(message, "plain")
    url = re.search(rf"{re.escape(BASE + path)}\?token=\S+", text).group(0)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def outbox_rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(digest_outbox, subscriptions.c.email)
                .join(subscriptions, subscriptions.c.id == digest_outbox.c.subscription_id)
                .order_by(digest_outbox.c.id)
            ).mappings()
        ]


def subscribe(store, *emails, **prefs) -> None:
    settings = Settings()
    for email in emails:
        add_subscriber(store, settings, email, "daily", clean_prefs(**prefs), confirmed=True)


def test_subscribe_confirm_receive_and_unsubscribe_over_http(fresh_db, tmp_path, smtp_server):
    load_papers(fresh_db, tmp_path)
    settings = settings_for(smtp_server.url)
    with live_site(fresh_db, settings=settings) as client:
        form = client.get("/subscribe")
        assert form.status_code == 200
        fields = {
            "csrf_token": csrf_of(form.text),
            "email": "reader@example.org",
            "frequency": "daily",
            "trending": "true",
            "categories": "q-bio.BM",
            "queries": 'sparse attention\n<script>alert("x")</script>',
            "authors": "Grace Hopper",
        }
        assert client.post("/subscribe", data={**fields, "csrf_token": "forged"}).status_code == 403
        sent = client.post("/subscribe", data=fields)
        assert sent.status_code == 200 and "Check your inbox" in sent.text, sent.text
        smtp_server.wait_for(1)
        confirmation = smtp_server.messages[0]
        assert confirmation["To"] == "reader@example.org"
        assert "Confirm" in confirmation["Subject"]
        # Nothing is sent before the double opt-in is complete.
        assert send_digests(fresh_db, settings, DAY).sent == 0

        page = client.get(link_in(confirmation, "/subscribe/confirm"))
        assert page.status_code == 200 and 'action="/subscribe/confirm"' in page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        # The GET changed nothing; the button's POST needs the CSRF token.
        assert client.post("/subscribe/confirm", data={"token": token}).status_code == 403
        done = client.post(
            "/subscribe/confirm", data={"token": token, "csrf_token": csrf_of(page.text)}
        )
        assert done.status_code == 200 and "Subscribed" in done.text

        summary = send_digests(fresh_db, settings, DAY)
        assert (summary.sent, summary.empty, summary.ok) == (1, 0, True), summary
        smtp_server.wait_for(2)
        digest = smtp_server.messages[1]
        row = outbox_rows(fresh_db)[0]
        assert row["status"] == "sent" and row["period"] == "daily:2026-11-04"
        assert digest["From"] == "paperfeed <digest@paperfeed.test>"
        assert digest["To"] == "reader@example.org"
        assert digest["Subject"] == "paperfeed daily digest: 6 papers, Wed 04 Nov 2026"
        assert digest["Message-ID"] == row["message_id"]
        assert digest["Message-ID"].endswith("@paperfeed.test>")
        assert parsedate_to_datetime(digest["Date"]).tzinfo is not None
        assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = digest["List-Unsubscribe"]
        assert unsubscribe.startswith(f"<{BASE}/unsubscribe?token=") and unsubscribe.endswith(">")
        assert digest.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in digest.iter_parts()] == ["text/plain", "text/html"]
        text = body(digest, "plain")
        html = body(digest, "html")
        sections = re.findall(r"^== (.*) ==$", text, re.M)
        assert sections == [
            "Saved search: sparse attention",
            'Saved search: <script>alert("x")</script>',
            "New from Grace Hopper",
            "New in q-bio.BM",
            "Trending",
        ]
        # A saved search in the search page's order (these two tie: index order), the
        # other sections most upvoted first; a paper appears once.
        ids = re.findall(r"/papers/(\S+)", text)
        assert ids == [
            "2611.00001",
            "2611.00005",
            "2611.00066",
            "2611.00002",
            "2611.00003",
            "2611.00008",
        ]
        assert f"{BASE}/papers/2611.00001" in text and f'href="{BASE}/papers/2611.00005"' in html
        assert "40 upvotes" in text and "&#9650; 40" in html
        assert "Ada Example1, Bo Sample" in text
        assert unsubscribe[1:-1] in text and unsubscribe[1:-1].replace("&", "&amp;") in html
        # The saved search with markup is a section title: escaped in HTML.
        assert "Saved search: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert "<script" not in html
        # A second run sends nothing more.
        assert send_digests(fresh_db, settings, DAY).sent == 0

        # RFC 8058 one-click: a mail client POSTs, with no cookie and no CSRF token.
        target = urlsplit(unsubscribe[1:-1])
        one_click = httpx.post(
            f"{client.base_url}{target.path}?{target.query}",
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200 and "Unsubscribed" in one_click.text
        assert client.get(f"{target.path}?{target.query}").status_code == 200  # still valid
        bad = httpx.post(f"{client.base_url}/unsubscribe?token=x{target.query[7:]}")
        assert bad.status_code == 400

    # Papers arrive the next day: nothing is sent to an unsubscribed reader.
    summary = send_digests(fresh_db, settings, date(2026, 11, 5))
    assert summary.sent == 0
    assert len(smtp_server.messages) == 2
    with fresh_db.engine.connect() as conn:
        assert conn.execute(sa.select(subscriptions.c.status)).scalar_one() == "unsubscribed"


def test_a_request_for_an_active_address_changes_nothing_until_confirmed(sqlite_db, smtp_server):
    subscribe(sqlite_db, "reader@example.org", categories=["cs.CL"])
    settings = settings_for(smtp_server.url)
    with site_in_process(sqlite_db, settings=settings) as client:
        fields = {
            "csrf_token": csrf_of(client.get("/subscribe").text),
            "email": "reader@example.org",
            "frequency": "weekly",
            "authors": "Mallory",
        }
        assert client.post("/subscribe", data=fields).status_code == 200
        smtp_server.wait_for(1)
        with sqlite_db.engine.connect() as conn:
            row = conn.execute(sa.select(subscriptions)).one()
        assert (row.status, row.frequency, row.prefs["categories"]) == (
            "active",
            "daily",
            ["cs.CL"],
        )
        page = client.get(link_in(smtp_server.messages[0], "/subscribe/confirm"))
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        client.post("/subscribe/confirm", data={"token": token, "csrf_token": csrf_of(page.text)})
        again = client.post(
            "/subscribe/confirm", data={"token": token, "csrf_token": csrf_of(page.text)}
        )
        assert again.status_code == 400 and "already used" in again.text
    with sqlite_db.engine.connect() as conn:
        row = conn.execute(sa.select(subscriptions)).one()
    assert (row.frequency, row.prefs["authors"], row.pending_prefs) == ("weekly", ["Mallory"], None)


def test_bad_addresses_and_injection_attempts_are_refused(sqlite_db, smtp_server):
    settings = settings_for(smtp_server.url)
    with site_in_process(sqlite_db, settings=settings) as client:
        token = csrf_of(client.get("/subscribe").text)
        for email, queries, authors in [
            ("not-an-address", "", ""),
            ("victim@example.org\r\nBcc: evil@example.com", "", ""),
            ("victim@example.org>\nBcc:evil@example.com", "", ""),
        ]:
            answer = client.post(
                "/subscribe",
                data={
                    "csrf_token": token,
                    "email": email,
                    "trending": "true",
                    "queries": queries,
                    "authors": authors,
                },
            )
            assert answer.status_code == 400 and "not a valid email address" in answer.text
    for prefs in (
        {"queries": ["diffusion\r\nBcc: evil@example.com"]},
        {"queries": ["ok\x00"]},
        {"authors": ["Eve\nBcc: evil@example.com"]},
        {"categories": ["cs.CL\r\nX: y"]},
        {"queries": ['"'], "trending": False},
        {"trending": False},
    ):
        with pytest.raises(SubscriptionError):
            clean_prefs(**prefs)
    assert smtp_server.messages == []
    with sqlite_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subscriptions)).scalar() == 0


def test_hostile_paper_fields_never_reach_headers_or_markup(sqlite_db, tmp_path, smtp_server):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "reader@example.org", queries=["hostile title"], authors=["Eve"])
    summary = send_digests(sqlite_db, settings_for(smtp_server.url), DAY)
    assert summary.sent == 1
    message = smtp_server.messages[0]
    assert message["Bcc"] is None and message.get_all("To") == ["reader@example.org"]
    html = body(message, "html")
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Hostile &amp; &lt;b&gt;bold&lt;/b&gt;"
        in html
    )
    assert "<script" not in html and "<b " not in html and "<b>" not in html
    text = body(message, "plain")
    # An author name with CR/LF is one line in the text part.
    assert '<b onmouseover="x">Eve</b> Bcc: x' in text


def test_an_unsubscribe_during_a_run_stops_the_digest_not_yet_sent(
    sqlite_db, tmp_path, smtp_server
):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "a@example.org", "b@example.org")

    def unsubscribe_b(_done: int) -> None:
        with sqlite_db.engine.begin() as conn:
            conn.execute(
                subscriptions.update()
                .where(subscriptions.c.email == "b@example.org")
                .values(status="unsubscribed")
            )

    summary = send_digests(sqlite_db, settings_for(smtp_server.url), DAY, on_progress=unsubscribe_b)
    assert (summary.sent, summary.cancelled) == (1, 1)
    assert [m["To"] for m in smtp_server.messages] == ["a@example.org"]
    assert [r["status"] for r in outbox_rows(sqlite_db)] == ["sent", "cancelled"]


def test_nothing_new_means_no_email_and_weekly_digests(sqlite_db, tmp_path, smtp_server):
    load_papers(sqlite_db, tmp_path)
    settings = settings_for(smtp_server.url)
    subscribe(sqlite_db, "quiet@example.org", trending=False, categories=["math.AG"])
    add_subscriber(
        sqlite_db, settings, "weekly@example.org", "weekly", clean_prefs(categories=["cs.CL"]), True
    )
    summary = send_digests(sqlite_db, settings, DAY)
    assert (summary.sent, summary.empty) == (0, 2)  # the weekly one: the week before is empty
    assert [r["status"] for r in outbox_rows(sqlite_db)] == ["empty", "empty"]
    # Any run in the next week sends the weekly digest of the week before, once.
    monday = date(2026, 11, 9)
    assert [p.key for p in due_periods(monday)] == ["daily:2026-11-09", "weekly:2026-W45"]
    summary = send_digests(sqlite_db, settings, monday)
    assert summary.sent == 1
    weekly = smtp_server.to("weekly@example.org")
    assert len(weekly) == 1
    assert weekly[0]["Subject"] == "paperfeed weekly digest: 5 papers, 02-08 Nov 2026"
    assert "2611.00007" in body(weekly[0], "plain")
    assert send_digests(sqlite_db, settings, date(2026, 11, 12)).sent == 0
    assert smtp_server.to("quiet@example.org") == []


def test_for_you_comes_from_the_provider_and_is_skipped_without_one(
    sqlite_db, tmp_path, smtp_server
):
    load_papers(sqlite_db, tmp_path)
    with sqlite_db.engine.begin() as conn:
        user = create_user(conn, "ada", "ada@example.org", "correct horse battery")
    settings = settings_for(smtp_server.url)
    add_subscriber(
        sqlite_db, settings, "ada@example.org", "daily", Prefs(trending=False, for_you=True), True
    )
    assert send_digests(sqlite_db, settings, DAY).empty == 1  # no provider: nothing to send
    asked = []

    def for_you(user_id, since):
        asked.append((user_id, since))
        with sqlite_db.engine.connect() as conn:
            return [get_paper(conn, "2611.00002")]

    summary = send_digests(sqlite_db, settings, date(2026, 11, 5), for_you=for_you)
    assert summary.sent == 1
    assert asked == [(user.id, datetime(2026, 11, 5))]
    text = body(smtp_server.messages[0], "plain")
    assert "== For you ==" in text and "Diffusion models for protein design" in text


def digest_send_args(db_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "paperfeed",
        "--db",
        db_url,
        "digest",
        "send",
        "--date",
        DAY.isoformat(),
        "--no-progress",
    ]


@pytest.mark.slow  # paperfeed processes, killed and run again
def test_a_killed_send_and_its_rerun_send_each_digest_exactly_once(db_url, tmp_path, smtp_server):
    """SIGKILL a real `paperfeed digest send` while the (slow) server holds a message."""
    emails = [f"reader{n:02d}@example.org" for n in range(12)]
    with Store(db_url) as store:
        load_papers(store, tmp_path)
        subscribe(store, *emails)
    smtp_server.delay_s = 0.4
    env = {**os.environ, "PAPERFEED_SMTP_URL": smtp_server.url, "PAPERFEED_BASE_URL": BASE}
    proc = subprocess.Popen(
        digest_send_args(db_url), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    smtp_server.wait_for(4, timeout_s=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(smtp_server.messages) == 4
    with Store(db_url) as store:
        statuses = [r["status"] for r in outbox_rows(store)]
    assert statuses == ["sent"] * 3 + ["sending"] + ["pending"] * 8

    smtp_server.delay_s = 0
    done = subprocess.run(
        digest_send_args(db_url), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "sent 8" in done.stdout
    assert sorted(m["To"] for m in smtp_server.messages) == emails
    with Store(db_url) as store:
        rows = outbox_rows(store)
    # The row killed mid-send stays 'sending': not resent (at most once), shown to admins.
    assert [r["status"] for r in rows] == ["sent"] * 3 + ["sending"] + ["sent"] * 8
    assert len({r["message_id"] for r in rows}) == 12
    assert {m["Message-ID"] for m in smtp_server.messages} == {r["message_id"] for r in rows}


def test_a_dead_server_loses_nothing_and_a_rerun_sends_everything(
    sqlite_db, sqlite_url, tmp_path, smtp_server, dead_port
):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "a@example.org", "b@example.org")
    dead = f"smtp://127.0.0.1:{dead_port}"  # nothing listens there
    started = time.monotonic()
    summary = send_digests(sqlite_db, settings_for(dead), DAY, retries=2, backoff_s=0.05)
    assert time.monotonic() - started > 0.05 + 0.1  # it backed off between tries
    assert summary.sent == 0 and summary.retry_later == 1
    assert (
        "cannot talk to smtp://127.0.0.1" in summary.stopped and "after 3 tries" in summary.stopped
    )
    rows = outbox_rows(sqlite_db)
    assert [r["status"] for r in rows] == ["pending", "pending"]
    assert "refused" in rows[0]["last_error"].lower() and rows[0]["attempts"] == 3

    env = {"PAPERFEED_SMTP_URL": dead}
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            sqlite_url,
            "digest",
            "send",
            "--date",
            DAY.isoformat(),
            "--retries",
            "0",
            "--no-progress",
        ],
        env=env,
    )
    assert result.exit_code == 1
    assert (
        "cannot talk to smtp://127.0.0.1" in result.output
        and "stay pending: rerun later" in result.output
    )

    # The next day's run also sends what this day's runs left pending.
    summary = send_digests(sqlite_db, settings_for(smtp_server.url), date(2026, 11, 5))
    assert "daily:2026-11-04" in summary.periods and summary.sent == 2
    assert sorted(m["To"] for m in smtp_server.messages) == ["a@example.org", "b@example.org"]
    assert "2611.00005" in body(smtp_server.messages[0], "plain")


def test_temporary_and_permanent_refusals(sqlite_db, tmp_path, smtp_server, run_cli_sqlite):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "busy@example.org", "gone@example.org", "ok@example.org")
    smtp_server.refuse = {
        "busy@example.org": "451 4.3.0 mailbox busy, try later",
        "gone@example.org": "550 5.1.1 no such user",
    }
    settings = settings_for(smtp_server.url)
    summary = send_digests(sqlite_db, settings, DAY, retries=1, backoff_s=0.01)
    assert (summary.sent, summary.failed, summary.retry_later, summary.stopped) == (1, 1, 1, None)
    by_email = {r["email"]: r for r in outbox_rows(sqlite_db)}
    assert by_email["busy@example.org"]["status"] == "pending"
    assert "451" in by_email["busy@example.org"]["last_error"]
    assert by_email["gone@example.org"]["status"] == "failed"
    assert "550 5.1.1 no such user" in by_email["gone@example.org"]["last_error"]
    listed = run_cli_sqlite("subscribers", "list")
    assert "gone@example.org" in listed.output and "failed (" in listed.output
    assert "550 5.1.1 no such user" in listed.output

    smtp_server.refuse = {}
    summary = send_digests(sqlite_db, settings, DAY)
    assert (summary.sent, summary.failed) == (1, 0)  # the busy one; the failed one stays failed
    assert [
        len(smtp_server.to(e)) for e in ("busy@example.org", "gone@example.org", "ok@example.org")
    ] == [1, 0, 1]


def test_a_refused_sender_stops_the_run_instead_of_failing_every_digest(
    sqlite_db, tmp_path, smtp_server
):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "a@example.org", "b@example.org")
    smtp_server.refuse = {"digest@paperfeed.test": "550 5.7.1 sender not allowed"}
    summary = send_digests(sqlite_db, settings_for(smtp_server.url), DAY, retries=0)
    assert "refused the sender" in summary.stopped and "550 5.7.1" in summary.stopped
    assert [r["status"] for r in outbox_rows(sqlite_db)] == ["pending", "pending"]
    assert smtp_server.messages == []


def test_slow_servers_time_out_without_duplicates(sqlite_db, tmp_path, smtp_server):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "a@example.org", "b@example.org")
    settings = settings_for(smtp_server.url)

    # A server that accepts connections and never greets: a timeout before anything is sent.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mailer = SmtpMailer(
            parse_smtp_url(f"smtp://127.0.0.1:{silent.getsockname()[1]}?timeout=0.3")
        )
        summary = send_digests(sqlite_db, settings, DAY, mailer=mailer, retries=1, backoff_s=0.01)
    assert summary.sent == 0 and "timed out" in summary.stopped
    assert [r["status"] for r in outbox_rows(sqlite_db)] == ["pending", "pending"]

    # A server that takes each message and answers too late: delivery unknown, not resent.
    smtp_server.delay_s = 1.0
    mailer = SmtpMailer(parse_smtp_url(f"{smtp_server.url}?timeout=0.3"))
    summary = send_digests(sqlite_db, settings, DAY, mailer=mailer, retries=2, backoff_s=0.01)
    assert (summary.uncertain, summary.sent, summary.stopped) == (2, 0, None)
    rows = outbox_rows(sqlite_db)
    assert [r["status"] for r in rows] == ["unknown", "unknown"]
    assert (
        "timed out" in rows[0]["last_error"] and "may have been delivered" in rows[0]["last_error"]
    )
    smtp_server.delay_s = 0
    assert send_digests(sqlite_db, settings, DAY).sent == 0
    assert sorted(m["To"] for m in smtp_server.messages) == ["a@example.org", "b@example.org"]


def test_password_reset_by_email(sqlite_db, smtp_server):
    with sqlite_db.engine.begin() as conn:
        create_user(conn, "ada", "ada@example.org", "old password 1")
    # In-process: an answer comes back once the app is done with the request, mail (sent
    # after the answer, as a background task) included.
    with site_in_process(sqlite_db, settings=settings_for(smtp_server.url)) as client:
        form = client.get("/account/reset")
        answers = [
            client.post("/account/reset", data={"email": email, "csrf_token": csrf_of(form.text)})
            for email in ("nobody@example.org", "ada@example.org")
        ]
        assert answers[0].status_code == answers[1].status_code == 200
        assert answers[0].text == answers[1].text
        assert [m["To"] for m in smtp_server.messages] == ["ada@example.org"]
        link = link_in(smtp_server.messages[0], "/account/reset/confirm")
        page = client.get(link)
        assert page.status_code == 200 and 'type="password"' in page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        assert (
            client.post(
                "/account/reset/confirm", data={"token": token, "password": "new password 2"}
            ).status_code
            == 403
        )
        short = client.post(
            "/account/reset/confirm",
            data={"token": token, "password": "short", "csrf_token": csrf_of(page.text)},
        )
        assert short.status_code == 400 and "8 to 1024" in short.text
        done = client.post(
            "/account/reset/confirm",
            data={"token": token, "password": "new password 2", "csrf_token": csrf_of(page.text)},
        )
        assert done.status_code == 200 and "Password changed" in done.text
        # The link worked once.
        assert client.get(link).status_code == 400
    with sqlite_db.engine.connect() as conn:
        assert authenticate(conn, "ada", "new password 2") is not None
        assert authenticate(conn, "ada", "old password 1") is None


def test_scheduler_sends_a_finished_recent_day_once(sqlite_db, tmp_path, smtp_server):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "a@example.org")
    scheduler = DigestScheduler(sqlite_db, settings_for(smtp_server.url), interval_s=0.05)
    assert scheduler.due_day(date(2026, 11, 5)) == DAY  # the 5th is not over yet
    assert scheduler.due_day(date(2026, 11, 6)) == date(2026, 11, 5)
    assert scheduler.due_day(date(2026, 11, 30)) is None  # too old to send by itself
    scheduler.due_day = lambda today=None: DAY
    checks = []  # each check's summary, to know that checks ran
    check = scheduler.run_once

    def counted_check():
        checks.append(check())
        return checks[-1]

    scheduler.run_once = counted_check
    scheduler.start()
    smtp_server.wait_for(1)
    # The check that sent, then three more: each finds the digest already sent.
    wait_until(lambda: len(checks) >= 4, 10, "four checks")
    scheduler.stop()
    assert len(smtp_server.messages) == 1


def test_concurrent_runs_send_each_digest_once(db_url, tmp_path, smtp_server):
    with Store(db_url) as store:
        load_papers(store, tmp_path)
        subscribe(store, *[f"r{n}@example.org" for n in range(20)])
        settings = settings_for(smtp_server.url)
        results = []
        runs = [
            threading.Thread(target=lambda: results.append(send_digests(store, settings, DAY)))
            for _ in range(3)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert sum(r.sent for r in results) == 20
    assert len(smtp_server.messages) == 20 and len({m["To"] for m in smtp_server.messages}) == 20


def test_schema_version_5_is_added_to_an_existing_database(sqlite_url):
    with Store(sqlite_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE digest_outbox"))
        conn.execute(sa.text("DROP TABLE subscriptions"))
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version >= 5))
    with Store(sqlite_url) as store:
        assert sa.inspect(store.engine).has_table("digest_outbox")
        subscribe(store, "a@example.org")


def test_the_unsubscribe_page_button_works_too(sqlite_db, tmp_path, smtp_server):
    load_papers(sqlite_db, tmp_path)
    subscribe(sqlite_db, "a@example.org")
    settings = settings_for(smtp_server.url)
    send_digests(sqlite_db, settings, DAY)
    link = link_in(smtp_server.messages[0], "/unsubscribe")
    with site_in_process(sqlite_db, settings=settings) as client:
        page = client.get(link)
        assert page.status_code == 200 and "a@example.org" in page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        done = client.post("/unsubscribe", data={"token": token, "csrf_token": csrf_of(page.text)})
        assert done.status_code == 200 and "a@example.org will receive no more digests" in done.text
        assert client.post("/unsubscribe", data={"token": "forged.1.x"}).status_code == 400
        assert client.post("/unsubscribe").status_code == 400
    with sqlite_db.engine.connect() as conn:
        assert conn.execute(sa.select(subscriptions.c.status)).scalar_one() == "unsubscribed"
