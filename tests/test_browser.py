"""End to end in a real Chromium: a reader's whole visit, with hostile content on the
pages. Screenshots of the main pages at desktop and phone widths go to
test-artifacts/screenshots/."""

from __future__ import annotations

import json

import bibtexparser
import pytest

from paperfeed.config import Settings
from paperfeed.records import utcnow
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from tests.conftest import ARTIFACTS, FAST_HTTP, live_site
from tests.feeds import atom_feed, hf_api_entry, listing_line, paper
from tests.loopback import Reply

HOSTILE = paper(
    66,
    title='<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> $\\alpha<\\beta$',
    abstract='We bound $O(n^2)$ and $a<b & c$. <svg onload="window.__xss=3"> \u202eRTL\u202c',
    authors=['<b onmouseover="window.__xss=4">Eve</b>', "ناصر الدين"],
)
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def site(sqlite_db, tmp_path, http_server):
    listing = tmp_path / "a.jsonl"
    listing.write_text(
        "\n".join(listing_line(p, "2026-11-03") for p in [paper(1), paper(2), paper(3), HOSTILE])
    )
    run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)
    daily = tmp_path / "2026-11-04.json"
    daily.write_text(
        json.dumps([hf_api_entry(paper(2), upvotes=12), hf_api_entry(HOSTILE, upvotes=30)])
    )
    run_ingest(sqlite_db, HfDailyFileSource(daily), show_progress=False)
    today = utcnow().date().isoformat()
    fresh = paper(
        500, arxiv_id="2611.00500", published=f"{today}T08:00:00Z", updated=f"{today}T08:00:00Z"
    )
    http_server.route("/api/query", lambda _params: Reply(atom_feed([fresh], 1)))
    engine = SearchEngine(sqlite_db, tmp_path / "data")
    update_indexes(engine)
    settings = Settings(arxiv_api_url=f"{http_server.url}/api/query", http=FAST_HTTP)
    with live_site(sqlite_db, search=engine, settings=settings) as client:
        yield str(client.base_url).rstrip("/")


def test_a_readers_visit(chromium, site):
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=SIZES["desktop"], accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    def shoot(name: str) -> None:
        for size_name, size in SIZES.items():
            page.set_viewport_size(size)
            page.screenshot(path=shots / f"{name}-{size_name}.png", full_page=True)
        page.set_viewport_size(SIZES["desktop"])

    # Read the feed, change day.
    page.goto(site + "/")
    assert page.locator("h1").first.inner_text().startswith("Daily papers")
    assert page.locator("ol.papers > li").count() == 2
    shoot("home")
    page.get_by_role("link", name="2026-11-03").first.click()
    page.wait_for_url("**/papers/date/2026-11-03")
    assert page.locator("ol.papers > li").count() == 4

    # Search and open a result.
    page.get_by_label("Search papers").fill("sparse attention")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?**")
    assert page.locator(".paper").count() >= 3
    shoot("search")
    page.locator(".paper h2 a").first.click()
    page.wait_for_url("**/papers/2611.*")

    # The hostile paper: markup stays text, math is MathML.
    page.goto(site + "/papers/2611.00066")
    assert "<script>" in page.locator("h1").inner_text()
    assert page.locator(".abstract math").count() == 2
    shoot("paper")

    # Sign up (from the paper page, coming back to it).
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/papers/2611.00066")
    assert page.get_by_role("link", name="ada").is_visible()

    # Vote.
    vote = page.locator("button.vote-button")
    assert vote.get_attribute("aria-pressed") == "false" and "30" in vote.inner_text()
    vote.click()
    page.wait_for_load_state()
    vote = page.locator("button.vote-button")
    assert vote.get_attribute("aria-pressed") == "true" and "31" in vote.inner_text()

    # Comment, with hostile Markdown.
    page.get_by_label("Add a comment").fill(
        "**Nice** result. <script>window.__xss=5</script> [x](javascript:window.__xss=6)"
    )
    page.get_by_role("button", name="Comment").click()
    page.wait_for_load_state()
    comment = page.locator(".comment-body").first
    assert comment.locator("strong").inner_text() == "Nice"
    assert "<script>" in comment.inner_text()  # shown as text
    comment.get_by_text("[x](javascript:").wait_for()  # not a link

    # Make a collection with this paper, export its BibTeX.
    page.get_by_label("New collection").fill("Reading group")
    page.get_by_role("button", name="Create and save").click()
    page.wait_for_url("**/collections/*")
    assert page.locator(".paper").count() == 1
    shoot("collection")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="BibTeX of all papers").click()
    library = bibtexparser.parse_string(download_info.value.path().read_text())
    assert not library.failed_blocks and library.entries[0]["eprint"] == "2611.00066"

    # Submit a paper from arXiv (a loopback stand-in).
    page.goto(site + "/submit")
    page.get_by_label("arXiv id or URL").fill("https://arxiv.org/abs/2611.00500")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/papers/2611.00500")
    assert "Invented paper number 500" in page.locator("h1").inner_text()

    # For you: learned from the vote and the collection, each with its reason.
    page.get_by_role("link", name="For you").first.click()
    page.wait_for_url("**/for-you")
    assert page.locator(".paper .because").count() >= 1
    assert "Invented paper number" in page.locator(".paper h2").first.inner_text()
    shoot("for-you")

    page.goto(site + "/users/ada")
    assert page.get_by_role("link", name="Reading group").is_visible()
    shoot("user")
    page.goto(site + "/trending")
    shoot("trending")

    page.goto(site + "/")
    assert page.evaluate("window.__xss") is None
    assert dialogs == [] and outside == [] and problems == []
    context.close()


def test_the_search_page_in_a_browser(chromium, site):
    """Issue 13: a surname finds the author's papers; the form's controls write the query
    language; an id opens the paper; a misspelling gets a "did you mean"."""
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = chromium.new_context(viewport=SIZES["desktop"]).new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(site + "/search")
    page.get_by_text("How to search").click()
    assert page.get_by_text("author:hinton").is_visible()
    page.get_by_label("Words, phrases, names").fill("example3")  # Ada Example3's surname
    page.get_by_label("Category").select_option("cs.CL")
    page.get_by_label("Sort").select_option("date")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?q=example3+cat%3Acs.CL**")
    assert page.locator(".paper h2 a").first.get_attribute("href") == "/papers/2611.00003"
    assert page.get_by_label("Category").input_value() == "cs.CL"
    assert page.locator(".result-count").inner_text() == "1 result, sorted by date"
    assert page.locator(".paper time").count() == page.locator(".paper").count()
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        page.screenshot(path=shots / f"search-form-{size_name}.png", full_page=True)
    page.set_viewport_size(SIZES["desktop"])

    page.goto(site + "/search?q=sparce+atention")
    page.locator(".did-you-mean a").click()
    page.wait_for_url("**/search?q=sparse%20attention**")
    assert page.locator(".paper").count() >= 3

    page.get_by_label("Search papers").fill("https://arxiv.org/abs/2611.00002v1")
    page.keyboard.press("Enter")
    page.wait_for_url("**/papers/2611.00002")
    assert not problems and not outside
