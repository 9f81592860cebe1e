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
from tests.feeds import atom_feed, hf_api_entry, listing_line, paper
from tests.helpers import ARTIFACTS, FAST_HTTP, live_site, wait_until
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
    from playwright.sync_api import expect

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
    assert page.get_by_role("link", name="ada", exact=True).is_visible()

    # Vote.
    vote = page.locator("button.vote-button")
    assert vote.get_attribute("aria-pressed") == "false" and "30" in vote.inner_text()
    vote.click()  # in place (static/vote.js): wait for the button to say so
    expect(vote).to_have_attribute("aria-pressed", "true")
    assert "31" in vote.inner_text()

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


@pytest.fixture
def morning_site(sqlite_db, tmp_path):
    """A week of daily lists, 30 papers on one day (a page that scrolls), and mail that
    goes to an outbox folder, as in the demo."""
    for offset, day in enumerate(["2026-11-02", "2026-11-03", "2026-11-04"]):
        daily = tmp_path / f"{day}.json"
        entries = [
            hf_api_entry(paper(100 * offset + n), upvotes=40 - n, comments=1, day=day)
            for n in range(1, 31 if day == "2026-11-04" else 6)
        ]
        entries[0]["paper"]["organization"] = {"name": "acme-lab"}
        entries[0]["paper"]["ai_summary"] = "The method keeps $O(n)$ memory at long context."
        entries[0]["paper"]["ai_keywords"] = ["sparse attention", "long context"]
        daily.write_text(json.dumps(entries))
        run_ingest(sqlite_db, HfDailyFileSource(daily), show_progress=False)
    settings = Settings(smtp_url=f"outbox:{tmp_path / 'outbox'}", http=FAST_HTTP)
    with live_site(sqlite_db, settings=settings) as client:
        yield str(client.base_url).rstrip("/")


def test_a_daily_readers_morning(chromium, morning_site):
    """Week navigation, cards, the outbox sign-up, a vote that keeps the reader's place,
    trending that keeps its length, math in a comment: at both widths, all on-site."""
    from playwright.sync_api import expect

    site = morning_site
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=SIZES["desktop"])
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def shoot(name: str) -> None:
        for size_name, size in SIZES.items():
            page.set_viewport_size(size)
            page.screenshot(path=shots / f"{name}-{size_name}.png", full_page=True)
            # The first screen too: what a reader sees before scrolling, readable at once.
            page.screenshot(path=shots / f"{name}-{size_name}-top.png")
            # Nothing runs off the side (a long outbox path did at phone width).
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], (name, size_name, width)
        page.set_viewport_size(SIZES["desktop"])

    # The week, its neighbours, the month, a date picked.
    page.goto(site + "/")
    page.get_by_role("link", name="Week", exact=True).click()
    page.wait_for_url("**/?week=2026-W45")
    assert "Week 45, 2026" in page.locator("h1").inner_text()
    assert page.locator("ol.papers > li").count() == 40
    shoot("week")
    page.locator("a[rel=next]").first.click()
    page.wait_for_url("**/?week=2026-W46")
    assert "No papers were featured in Week 46, 2026" in page.locator(".empty").inner_text()
    page.locator("a[rel=prev]").first.click()
    page.wait_for_url("**/?week=2026-W45")
    page.get_by_role("link", name="Month", exact=True).click()
    page.wait_for_url("**/?month=2026-11")
    page.get_by_label("Go to a date").fill("2026-11-03")
    page.get_by_role("button", name="Go").click()
    page.wait_for_url("**/papers/date/2026-11-03")
    assert page.locator("ol.papers > li").count() == 5

    # Cards, kept from day to day.
    page.get_by_role("link", name="Card view").click()
    page.wait_for_url("**layout=cards")
    assert page.locator("ol.papers.cards").count() == 1
    page.locator("a[rel=next]").first.click()
    page.wait_for_url("**/papers/date/2026-11-04?layout=cards")
    assert page.get_by_role("link", name="acme-lab").count() == 1
    shoot("cards")

    # Trending before any local vote.
    page.goto(site + "/trending")
    trending_before = page.locator("ol.papers > li").count()
    assert trending_before >= 30

    # Sign up through the outbox: the confirmation mail, its link, the password.
    page.goto(site + "/signup")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Check your inbox").wait_for()
    # The mail goes out after the answer (a background task): the outbox shows it soon.
    confirm = page.locator("article.mail a[href*='/signup/confirm']")
    wait_until(lambda: page.goto(site + "/admin/outbox") and confirm.count(), 30, "the mail")
    link = confirm.first.get_attribute("href")
    assert link
    shoot("outbox")
    page.goto(site + link[link.index("/signup/confirm") :])
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Open my account").click()
    page.get_by_role("link", name="ada", exact=True).wait_for()

    # A vote far down the list: in place, the page stays where the reader was.
    page.goto(site + "/papers/date/2026-11-04")
    far = page.locator("ol.papers > li").nth(25)
    far.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 500
    button = far.locator("button.vote-button")
    count = int(button.locator(".count").inner_text())
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button.locator(".count")).to_have_text(str(count + 1))
    assert page.evaluate("window.scrollY") == scrolled
    assert page.url.endswith("/papers/date/2026-11-04")  # no reload, no jump
    for n in (1, 2, 3):
        page.locator("ol.papers > li").nth(n).locator("button.vote-button").click()
        expect(
            page.locator("ol.papers > li").nth(n).locator("button.vote-button")
        ).to_have_attribute("aria-pressed", "true")

    # Trending keeps its length after these local votes.
    page.goto(site + "/trending")
    assert page.locator("ol.papers > li").count() == trending_before

    # A comment with math: MathML, not dollars.
    page.goto(site + "/papers/2611.00201")
    page.get_by_label("Add a comment").fill("Bound: $O(n^2)$ and $$\\sum_i x_i$$, price $5 and $6.")
    page.get_by_role("button", name="Comment").click()
    page.wait_for_load_state()
    body = page.locator(".comment-body").first
    assert body.locator("math").count() == 2
    assert "price $5 and $6" in body.inner_text()
    shoot("paper-comment")

    assert outside == [] and problems == [], (outside, problems)
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
