"""A reader's library in a real Chromium with JavaScript turned off: mark read and read
later from the day's list, hide what was read, a private note, /library and its search,
an import from a reference file. Screenshots of the list with its buttons, /library and
the import report at 1280 and 390 px go to test-artifacts/screenshots/."""

from __future__ import annotations

import json

import pytest

from paperfeed.services.accounts import create_user
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from tests.feeds import hf_api_entry, paper
from tests.helpers import ARTIFACTS, UNCACHED, live_site

DAY = "2026-11-04"
TITLES = [
    "Sparse attention for long documents",
    "Reward models for step-by-step reasoning",
    "Tactile grasping of fragile objects",
    "Speech recognition with tiny transducers",
]
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def site(sqlite_db, tmp_path):
    daily = tmp_path / f"{DAY}.json"
    daily.write_text(
        json.dumps(
            [
                hf_api_entry(paper(n, title=t), upvotes=10 - n, day=DAY)
                for n, t in enumerate(TITLES, start=1)
            ]
        )
    )
    run_ingest(sqlite_db, HfDailyFileSource(daily), show_progress=False)
    engine = SearchEngine(sqlite_db, tmp_path / "data")
    update_indexes(engine)
    with sqlite_db.write() as conn:
        create_user(conn, "ada", "ada@example.org", "correct horse battery")
    with live_site(sqlite_db, search=engine, settings=UNCACHED) as client:
        yield str(client.base_url).rstrip("/")


def test_a_readers_library_without_javascript(chromium, site, tmp_path):
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=SIZES["desktop"], java_script_enabled=False)
    page = context.new_page()

    def shoot(name: str) -> None:
        for size_name, size in SIZES.items():
            page.set_viewport_size(size)
            page.screenshot(path=shots / f"{name}-{size_name}.png", full_page=True)
        page.set_viewport_size(SIZES["desktop"])

    def paper_item(n: int):
        return page.locator(f"#paper-2611\\.{n:05d}")

    page.goto(f"{site}/login?next=/papers/date/{DAY}")
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    assert page.url.endswith(f"/papers/date/{DAY}")

    paper_item(1).get_by_role("button", name="Mark read").click()
    assert page.url.endswith(f"/papers/date/{DAY}")
    assert (
        paper_item(1).get_by_role("button", name="✓ Read").get_attribute("aria-pressed") == "true"
    )
    paper_item(2).get_by_role("button", name="Read later").click()
    assert paper_item(2).get_by_role("button", name="✓ Read later").is_visible()
    shoot("library-list")

    page.get_by_role("link", name="Hide read papers").click()
    assert paper_item(1).count() == 0 and paper_item(2).count() == 1
    paper_item(3).get_by_role("button", name="Mark read").click()
    assert "hide=read" in page.url and paper_item(3).count() == 0
    page.get_by_role("link", name="Show read papers").click()
    assert page.locator("ol.papers > li").count() == 4

    page.goto(f"{site}/papers/2611.00004")
    page.get_by_label("Add a note only you see").fill(
        "Try the **tiny** decoder. <script>document.title='pwned'</script>"
    )
    page.get_by_role("button", name="Save note").click()
    assert page.locator("#note strong").inner_text() == "tiny"
    assert page.title() != "pwned" and page.locator("#note script").count() == 0

    page.get_by_role("link", name="Library").first.click()
    assert page.locator("h1").inner_text() == "Your library"
    assert page.locator("ol.papers > li").count() == 4  # read, later, read, noted
    assert page.locator(".private-note strong").inner_text() == "tiny"
    shoot("library")
    page.get_by_label("Search your library").fill("speech")
    page.get_by_role("button", name="Search").click()
    assert page.locator("ol.papers > li").count() == 1
    page.get_by_role("link", name="Read later").click()  # the shelf keeps the search
    assert "Nothing in your library matches" in page.locator("main").inner_text()
    page.get_by_role("link", name="Library").first.click()
    page.get_by_role("link", name="Read later").click()
    assert page.locator("ol.papers > li h2").all_inner_texts() == [TITLES[1]]

    refs = tmp_path / "My Library.bib"
    refs.write_text(
        "@misc{a, title = {Sparse attention for long documents}}\n"
        "@book{b, title = {A book that is not on arXiv}}\n"
        "@misc{c, title = {\\input{/etc/passwd}}}\n"
    )
    page.get_by_role("link", name="Import from Zotero, Mendeley ...").click()
    page.get_by_label("File").set_input_files(str(refs))
    page.get_by_label("New collection's name").fill("From Zotero")
    page.get_by_role("button", name="Import").click()
    report = page.locator(".import-report")
    assert "Imported 1 paper into" in report.inner_text()
    assert "entry 2 (line 2, key b): A book that is not on arXiv" in report.inner_text()
    assert "\\input is not accepted" in report.inner_text()
    shoot("library-import")
    report.get_by_role("link", name="the collection").click()
    assert page.locator("h1").inner_text().startswith("From Zotero")
    context.close()
