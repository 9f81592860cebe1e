"""Votes, comments, submissions, collections, user pages and admin actions, over real
HTTP on loopback against both engines."""

import json
from concurrent.futures import ThreadPoolExecutor

import bibtexparser
import feedparser
import httpx
import pytest
import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.records import utcnow
from paperfeed.services.accounts import create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store.schema import users, votes
from tests.feeds import atom_feed, hf_api_entry, listing_line, paper
from tests.forms import csrf_token, post_form, session_client, sign_up
from tests.helpers import FAST_HTTP, another_client, live_site, site_in_process
from tests.loopback import Reply

HOSTILE = paper(
    66,
    title='<script>alert("t")</script> {Unclosed $a<b$ & 100% #1 \\',
    abstract="Math $x < y & z$ and <img src=x onerror=alert(1)> and \u202eRTL\u202c text.",
    authors=['<b onmouseover="alert(1)">Eve</b>', "ناصر الدين"],
)


@pytest.fixture
def papers_in(fresh_db, tmp_path):
    listing = tmp_path / "a.jsonl"
    listing.write_text(
        "\n".join(listing_line(p, "2026-11-03") for p in [paper(1), paper(2), HOSTILE])
    )
    run_ingest(fresh_db, JsonlSource(listing), show_progress=False)
    daily = tmp_path / "2026-11-04.json"
    daily.write_text(json.dumps([hf_api_entry(HOSTILE, github="javascript:alert(1)")]))
    run_ingest(fresh_db, HfDailyFileSource(daily), show_progress=False)
    return fresh_db


@pytest.fixture
def site(papers_in, http_server):
    settings = Settings(arxiv_api_url=f"{http_server.url}/api/query", http=FAST_HTTP)
    with site_in_process(papers_in, settings=settings) as client:
        yield client


def post_json(client: httpx.Client, path: str, data: dict | None = None) -> httpx.Response:
    """A script's call: the CSRF token in a header, JSON back."""
    token = csrf_token(client, "/login")
    return client.post(
        path, data=data or {}, headers={"X-CSRF-Token": token, "Accept": "application/json"}
    )


def test_voting_toggles_once_per_user(site):
    assert post_json(site, "/papers/2611.00001/vote").status_code == 401
    sign_up(site, "ada")
    first = post_json(site, "/papers/2611.00001/vote").json()
    assert first == {"paper": "2611.00001", "voted": True, "upvotes": 1}
    assert post_json(site, "/papers/2611.00001/vote", {"state": "on"}).json()["upvotes"] == 1
    assert post_json(site, "/papers/2611.00001/vote").json() == {
        "paper": "2611.00001",
        "voted": False,
        "upvotes": 0,
    }
    assert post_json(site, "/papers/2611.99999/vote").status_code == 404
    form = post_form(site, "/papers/2611.00002/vote", {"next": "/papers/date/2026-11-03"})
    assert form.status_code == 303 and form.headers["location"] == "/papers/date/2026-11-03"
    assert site.get("/papers/2611.00002.json").json()["upvotes"] == 1
    assert 'aria-pressed="true"' in site.get("/papers/2611.00002").text
    assert site.get("/users/ada.json").json()["voted"] == ["2611.00002"]


@pytest.mark.slow  # two hundred clients at once
def test_two_hundred_concurrent_voters_on_one_paper(papers_in):
    """Each voter's own session and CSRF token; every request at once; the count equals
    the number of voters."""
    voters = 200
    with papers_in.engine.begin() as conn:
        now = utcnow()
        conn.execute(
            users.insert(),
            [{"username": f"v{i}", "origin": "local", "created_at": now} for i in range(voters)],
        )
        local = users.c.origin == "local"
        ids = conn.execute(sa.select(users.c.id).where(local).order_by(users.c.id)).scalars().all()
    with live_site(papers_in) as site:
        clients = [session_client(papers_in, site, user_id) for user_id in ids]

        def cast(client_and_token: tuple[httpx.Client, str]) -> int:
            client, csrf = client_and_token
            with client:
                return client.post(
                    "/papers/2611.00001/vote",
                    data={"state": "on"},
                    headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
                ).status_code

        with ThreadPoolExecutor(voters) as pool:
            codes = list(pool.map(cast, clients))
        assert codes == [200] * voters
        assert site.get("/papers/2611.00001.json").json()["upvotes"] == voters
    with papers_in.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar() == voters


def test_comments_are_markdown_rendered_safely_and_admins_can_hide_them(site, papers_in):
    sign_up(site, "ada")
    body = (
        "**Bold** claim. <script>alert('c')</script> <img src=x onerror=alert(1)> "
        "[click](javascript:alert(1)) [ok](https://example.org) $a<b$ <unclosed"
    )
    made = post_json(site, "/papers/2611.00001/comments", {"body": body})
    assert made.status_code == 200
    comment_id = made.json()["comment_id"]
    html = site.get("/papers/2611.00001").text
    assert "<strong>Bold</strong>" in html
    assert "<script>alert('c')" not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html
    assert 'href="https://example.org" rel="nofollow noopener noreferrer ugc"' in html
    assert post_json(site, "/papers/2611.00001/comments", {"body": "   "}).status_code == 400
    huge = post_json(site, "/papers/2611.00001/comments", {"body": "x" * 100_000})
    assert huge.status_code == 400 and "at most" in huge.json()["error"]
    assert site.get("/papers/2611.00001.json").json()["num_comments"] == 1

    assert post_json(site, f"/comments/{comment_id}/hide").status_code == 403  # not admin
    with papers_in.engine.begin() as conn:
        create_user(conn, "root", "root@example.org", "admin password", is_admin=True)
    post_form(site, "/logout", page="/")
    post_form(site, "/login", {"login": "root", "password": "admin password"})
    assert post_json(site, f"/comments/{comment_id}/hide").json()["hidden"] is True
    data = site.get("/papers/2611.00001.json").json()
    assert data["comments"][0]["hidden"] and data["comments"][0]["body"] is None
    assert data["num_comments"] == 0
    assert "[hidden by an admin]" in site.get("/papers/2611.00001").text


def test_math_in_comments_is_mathml_and_stays_safe(site, papers_in):
    sign_up(site, "ada")
    body = (
        "Energy $E = mc^2$, display $$\\frac{a}{b}$$, literal `$x$`, prices $5 and $6, "
        "hostile $<img src=x onerror=alert(1)>$ and $\\href{javascript:alert(1)}{x}$"
    )
    assert post_json(site, "/papers/2611.00001/comments", {"body": body}).status_code == 200
    html = site.get("/papers/2611.00001").text
    comment = html[html.index('class="comment-body"') :]
    comment = comment[: comment.index("</div>")]
    assert '<math display="inline"><mrow><mi>E</mi>' in comment
    assert '<math display="block"><mrow><mfrac>' in comment
    assert "<code>$x$</code>" in comment and "prices $5 and $6" in comment
    assert "<img" not in comment and "onerror=" not in comment.replace("<mi>", "")
    assert "javascript:" not in comment.replace("<mi>", "") and "href=" not in comment


def test_submitting_a_paper_fetches_it_from_arxiv(site, http_server, papers_in):
    today = utcnow().date().isoformat()
    fresh = paper(
        500, arxiv_id="2611.00500", published=f"{today}T08:00:00Z", updated=f"{today}T08:00:00Z"
    )
    stale = paper(501, arxiv_id="2501.00501", published="2025-01-02T08:00:00Z")
    answers = {"2611.00500": atom_feed([fresh], 1), "2501.00501": atom_feed([stale], 1)}
    http_server.route(
        "/api/query",
        lambda params: Reply(answers.get(params.get("id_list", ""), atom_feed([], 0))),
    )
    assert post_json(site, "/submit", {"paper": "2611.00500"}).status_code == 401
    sign_up(site, "ada")
    made = post_json(site, "/submit", {"paper": "https://arxiv.org/abs/2611.00500v1"})
    assert made.status_code == 200, made.text
    assert made.json()["title"] == fresh["title"]
    assert http_server.calls("/api/query")[-1]["id_list"] == "2611.00500"
    listed = site.get("/index.json").json()
    assert listed["day"] == today and listed["papers"][0]["arxiv_id"] == "2611.00500"
    assert site.get("/users/ada.json").json()["submitted"] == ["2611.00500"]

    again = post_json(site, "/submit", {"paper": "2611.00500"})
    assert again.status_code == 409 and "already" in again.json()["error"]
    old = post_json(site, "/submit", {"paper": "2501.00501"})
    assert old.status_code == 400 and "last 14 days" in old.json()["error"]
    missing = post_json(site, "/submit", {"paper": "2611.09999"})
    assert missing.status_code == 502 and "no paper" in missing.json()["error"]
    nonsense = post_form(site, "/submit", {"paper": "<script>"}, page="/submit")
    assert nonsense.status_code == 400 and "not an arXiv id" in nonsense.text
    assert "&lt;script&gt;" in nonsense.text

    with papers_in.engine.begin() as conn:
        create_user(conn, "root", "root@example.org", "admin password", is_admin=True)
    assert post_json(site, "/papers/2611.00500/remove-submission").status_code == 403
    post_form(site, "/logout", page="/")
    post_form(site, "/login", {"login": "root", "password": "admin password"})
    assert post_json(site, "/papers/2611.00500/remove-submission").json()["removed"] == 1
    assert site.get("/papers/2611.00500.json").json()["featured_on"] == []


def test_collections_private_public_bibtex_and_feed(site):
    sign_up(site, "ada")
    made = post_json(site, "/collections", {"name": "Reading group", "paper": "2611.00001"}).json()
    cid = made["id"]
    assert post_json(site, "/collections/items", {"collection": cid, "paper": "2611.00066"}).json()[
        "added"
    ]
    assert not post_json(
        site, "/collections/items", {"collection": cid, "paper": "2611.00066"}
    ).json()["added"]
    shown = site.get(f"/collections/{cid}.json").json()
    assert shown["public"] is False
    assert [p["arxiv_id"] for p in shown["papers"]] == ["2611.00066", "2611.00001"]

    library = bibtexparser.parse_string(site.get(f"/collections/{cid}.bib").text)
    assert not library.failed_blocks
    assert {e["eprint"] for e in library.entries} == {"2611.00001", "2611.00066"}

    with another_client(site) as stranger:
        assert stranger.get(f"/collections/{cid}").status_code == 404
        assert stranger.get(f"/feeds/collections/{cid}.atom").status_code == 404
        assert stranger.get("/users/ada.json").json()["collections"] == []
        sign_up(stranger, "bob")
        taken = post_json(
            stranger, "/collections/items", {"collection": cid, "paper": "2611.00002"}
        )
        assert taken.status_code == 404

    post_json(site, f"/collections/{cid}/edit", {"name": "Reading group", "public": "true"})
    with another_client(site) as stranger:
        assert stranger.get(f"/collections/{cid}.json").json()["public"] is True
        feed = feedparser.parse(stranger.get(f"/feeds/collections/{cid}.atom").content)
        assert not feed.bozo and len(feed.entries) == 2
        assert HOSTILE["title"] in [e.title for e in feed.entries]

    assert post_json(site, f"/collections/{cid}/items/remove", {"paper": "2611.00066"}).json()[
        "removed"
    ]
    assert len(site.get(f"/collections/{cid}.json").json()["papers"]) == 1
    assert post_json(site, f"/collections/{cid}/delete").status_code == 200
    assert site.get(f"/collections/{cid}").status_code == 404


def test_hostile_metadata_is_inert_on_every_page(site):
    sign_up(site, "ada")
    post_json(site, "/papers/2611.00066/vote")
    for path in ["/", "/papers/date/2026-11-03", "/papers/2611.00066", "/users/ada"]:
        html = site.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "onmouseover=" not in html.replace("onmouseover=&#34;", ""), path
    page = site.get("/papers/2611.00066").text
    assert "<math" in page  # $x < y & z$ rendered as MathML
    assert 'href="javascript:' not in page and 'href="javascript:' not in site.get("/").text
    json.loads(site.get("/papers/2611.00066.json").text)
