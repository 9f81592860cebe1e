"""A daily reader's pages over real HTTP on loopback, on both engines: week and month
views, submitter and organization pages, honest comment counts, the card layout, HEAD and
compression, a signed-out vote cast at log-in, the demo's outbox, a quick answer when arXiv
is unreachable."""

import json
from datetime import date, timedelta

import pytest

from paperfeed.config import Settings
from paperfeed.services import community
from paperfeed.services.accounts import create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.store import Store
from tests.feeds import hf_api_entry, paper
from tests.forms import csrf_token, post_form, sign_up
from tests.helpers import FAST_HTTP, live_site, loopback_client

# Monday 2026-11-02 .. Friday 2026-11-06 is ISO week 2026-W45.
WEEK_DAYS = [date(2026, 11, 2) + timedelta(days=n) for n in range(5)]


@pytest.fixture
def store(db_url, tmp_path):
    with Store(db_url) as store:
        entries = []
        for n, day in enumerate(WEEK_DAYS):
            entry = hf_api_entry(paper(n + 1), upvotes=10 + n, comments=2, day=day.isoformat())
            entry["paper"]["organization"] = {"name": "acme-lab", "fullname": "Acme Lab"}
            if n == 0:
                entry["paper"]["ai_summary"] = "A <b>machine</b> summary of $x^2$."
                entry["paper"]["ai_keywords"] = ["sparse attention", "sparse attention", "x"]
            entries.append((day, entry))
        for day in WEEK_DAYS:
            daily = tmp_path / f"{day}.json"
            daily.write_text(json.dumps([e for d, e in entries if d == day]))
            run_ingest(store, HfDailyFileSource(daily), show_progress=False)
        # 120 papers in the next week: more than one page of 100.
        crowded = tmp_path / "2026-11-10.json"
        crowded.write_text(
            json.dumps(
                [
                    hf_api_entry(paper(200 + n), upvotes=n, submitter="bob", day="2026-11-10")
                    for n in range(120)
                ]
            )
        )
        run_ingest(store, HfDailyFileSource(crowded), show_progress=False)
        yield store


@pytest.fixture
def site(store):
    with live_site(store) as client:
        yield client


def test_a_week_has_its_heading_neighbours_switch_and_date_picker(site):
    html = site.get("/?week=2026-W45").text
    assert "Week 45, 2026 (02 Nov to 08 Nov)" in html
    assert 'rel="prev" href="/?week=2026-W44"' in html
    assert 'rel="next" href="/?week=2026-W46"' in html
    assert 'href="/?month=2026-11"' in html and 'href="/papers/date/2026-11-02"' in html
    assert '<input type="date" name="day"' in html
    assert html.count('<li class="paper"') == 5
    month = site.get("/?month=2026-11").text
    assert "November 2026" in month and 'rel="next" href="/?month=2026-12"' in month
    picked = site.get("/papers/date", params={"day": "2026-11-04"}, follow_redirects=False)
    assert picked.status_code == 303 and picked.headers["location"] == "/papers/date/2026-11-04"
    assert site.get("/papers/date", params={"day": "not a date"}).status_code == 400


def test_a_crowded_week_pages_past_100(site):
    first = site.get("/index.json", params={"week": "2026-W46"}).json()["papers"]
    second = site.get("/index.json", params={"week": "2026-W46", "page": 2}).json()["papers"]
    assert len(first) == 100 and len(second) == 20
    assert not {p["arxiv_id"] for p in first} & {p["arxiv_id"] for p in second}
    html = site.get("/?week=2026-W46").text
    assert "Next 100" in html and "page=2" in html
    assert "Next 100" not in site.get("/?week=2026-W46&page=2").text


def test_empty_days_speak_to_readers(site):
    html = site.get("/papers/date/2026-11-07").text  # a Saturday between the two weeks
    assert "No papers on this day." in html and "paperfeed ingest" not in html
    html = site.get("/?week=2026-W30").text
    assert "No papers were featured in Week 30, 2026" in html and "paperfeed ingest" not in html


def test_submitter_and_organization_pages_list_their_papers(site):
    day = site.get("/papers/date/2026-11-03").text
    assert 'href="/submitters/alice">alice</a> on Hugging Face' in day
    assert 'href="/orgs/acme-lab">acme-lab</a>' in day
    alice = site.get("/submitters/alice.json").json()["papers"]
    assert sorted(p["arxiv_id"] for p in alice) == [f"2611.0000{n}" for n in range(1, 6)]
    org = site.get("/orgs/acme-lab.json").json()["papers"]
    assert len(org) == 5 and all(p["organization"] == "acme-lab" for p in org)
    assert "Papers from acme-lab" in site.get("/orgs/acme-lab").text
    assert site.get("/orgs/nobody.json").json()["papers"] == []
    assert len(site.get("/submitters/bob.json", params={"page": 2}).json()["papers"]) == 20


def test_hugging_faces_ai_summary_and_keywords_are_shown_as_theirs(site):
    data = site.get("/papers/2611.00001.json").json()
    assert data["ai_summary"] == "A <b>machine</b> summary of $x^2$."
    assert data["ai_keywords"] == ["sparse attention", "x"]
    page = site.get("/papers/2611.00001").text
    assert "Hugging Face AI summary" in page and "Hugging Face AI keywords" in page
    assert "A &lt;b&gt;machine&lt;/b&gt; summary of <math" in page
    day = site.get("/papers/date/2026-11-02").text
    assert "Hugging Face AI summary" in day and "<b>machine" not in day
    assert site.get("/papers/2611.00002.json").json()["ai_summary"] is None


def test_comment_counts_say_which_are_imported(site, store):
    day = site.get("/papers/date/2026-11-03").text
    assert "2 comments on Hugging Face" in day and "comment here" not in day
    paper_page = site.get("/papers/2611.00002").text
    assert "No comments here yet. Hugging Face counts 2 comments" in paper_page
    with store.write() as conn:
        reader = create_user(conn, "reader", "reader@example.org", "correct horse")
        community.add_comment(conn, reader.id, "2611.00002", "Nice.")
    data = site.get("/papers/2611.00002.json").json()
    assert (data["imported_comments"], data["local_comments"], data["num_comments"]) == (2, 1, 3)


def test_the_card_layout_is_a_query_away(site):
    cards = site.get("/papers/date/2026-11-03", params={"layout": "cards"}).text
    assert '<ol class="papers cards"' in cards and "List view" in cards
    assert 'href="/papers/date/2026-11-04?layout=cards"' in cards  # it stays on
    assert '<ol class="papers"' in site.get("/papers/date/2026-11-03").text
    assert site.get("/trending", params={"layout": "tiles"}).status_code == 400


def test_head_answers_like_get_without_a_body(site):
    for path in ["/", "/papers/2611.00001", "/trending.json", "/feeds/daily.atom", "/about"]:
        got, head = site.get(path), site.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"]
    assert site.head("/papers/2699.99999").status_code == 404


def test_responses_are_compressed_when_asked_and_tiny_ones_are_not(site):
    base = str(site.base_url)
    with loopback_client(base, headers={"Accept-Encoding": "gzip"}) as gz:
        for _ in range(2):  # rendered, then from the page cache: both compressed
            page = gz.get("/index.json", params={"week": "2026-W46"})
            assert page.headers["content-encoding"] == "gzip"
            assert "accept-encoding" in page.headers["vary"].lower()
            assert len(page.json()["papers"]) == 100  # httpx decodes it
        assert page.headers["x-cache"] == "hit"
        assert "content-encoding" not in gz.get("/healthz").headers  # a few bytes
    with loopback_client(base, headers={"Accept-Encoding": "identity"}) as plain:
        assert "content-encoding" not in plain.get("/index.json").headers


def test_routes_declare_themselves_cacheable(site):
    assert site.get("/trending").headers["x-cache"] in ("miss", "hit")
    assert site.get("/trending").headers["x-cache"] == "hit"
    assert "x-cache" not in site.get("/login").headers  # a form page: never kept
    assert "x-cache" not in site.get("/login").headers


def test_a_signed_out_vote_is_cast_at_log_in(site, store):
    html = site.get("/papers/2611.00003").text
    assert 'href="/login?next=/papers/2611.00003&amp;vote=2611.00003"' in html
    with store.write() as conn:
        create_user(conn, "ada", "ada@example.org", "correct horse battery")
    form = site.get("/login", params={"next": "/papers/2611.00003", "vote": "2611.00003"})
    assert 'name="vote" value="2611.00003"' in form.text
    answer = post_form(
        site,
        "/login",
        {
            "login": "ada",
            "password": "correct horse battery",
            "vote": "2611.00003",
            "next": "/papers/2611.00003",
        },
    )
    assert answer.headers["location"] == "/papers/2611.00003"
    data = site.get("/papers/2611.00003.json").json()
    assert data["upvotes"] == 13  # 12 imported + this reader's
    assert 'aria-pressed="true"' in site.get("/papers/2611.00003").text


def test_the_demo_outbox_shows_the_mail_it_kept(store, tmp_path):
    settings = Settings(smtp_url=f"outbox:{tmp_path / 'outbox'}", http=FAST_HTTP)
    with live_site(store, settings=settings) as site:
        sent = post_form(
            site,
            "/subscribe",
            {"email": "ada@example.org", "frequency": "daily", "trending": "true"},
            page="/subscribe",
        )
        assert "Check your inbox" in sent.text
        outbox = site.get("/admin/outbox")  # loopback: the operator's own machine
        assert outbox.status_code == 200 and "Confirm your paperfeed digest" in outbox.text
        assert '<a href="http://127.0.0.1:8000/subscribe/confirm?token=' in outbox.text
        proxied = site.get("/admin/outbox", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403


def test_subscribing_without_mail_says_so_at_once(site):
    page = site.get("/subscribe").text
    assert "This site cannot send email yet" in page and "style=" not in page
    refused = post_form(
        site, "/subscribe", {"email": "ada@example.org", "trending": "true"}, page="/subscribe"
    )
    assert refused.status_code == 400
    assert "could not send the confirmation email just now" in refused.text
    assert "PAPERFEED_SMTP_URL" not in refused.text


def test_a_submission_fails_fast_when_arxiv_is_unreachable(store, dead_port):
    # Production HTTP settings (5 retries with backoff), pointed at a closed port.
    settings = Settings(arxiv_api_url=f"http://127.0.0.1:{dead_port}/api/query")
    with live_site(store, settings=settings) as site:
        sign_up(site, "ada")
        answer = site.post(
            "/submit",
            data={"paper": "2611.00500"},
            headers={"X-CSRF-Token": csrf_token(site), "Accept": "application/json"},
            timeout=30,
        )
    assert answer.status_code == 502
    assert answer.json()["error"].startswith("arXiv cannot be reached just now")
    assert answer.elapsed.total_seconds() < 15
