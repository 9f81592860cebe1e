"""The TL;DR in a real Chromium: a day's list and a paper page (with Hugging Face's own AI
summary and keywords beside it), at 1280 and 390 px; screenshots go to
test-artifacts/screenshots/tldr-*.png."""

from __future__ import annotations

import json

import pytest

from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import hf_api_entry, listing_line, paper
from tests.helpers import ARTIFACTS, live_site

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PAPERS = [
    paper(
        1,
        title="GraphSketch: Sketching Graph Streams in Constant Memory",
        abstract=(
            "Graph streams arrive faster than most systems can store them. Existing sketches "
            "remain limited to counting edges and struggle with connectivity. In this paper, "
            "we propose GraphSketch, a sketch of graph streams that answers connectivity "
            "queries in $O(1)$ memory per vertex. On five benchmarks it is 3.2x faster than "
            "the best baseline with 41% less memory. Our code is available at "
            "https://example.org/graphsketch."
        ),
    ),
    paper(
        2,
        title="Calibrated Drift Tests for Data Streams",
        abstract=(
            "However, deployed models face concept drift that current detectors flag too "
            "late. We introduce DriftGuard, a family of calibrated sequential tests that "
            "detect concept drift in data streams with a bounded false alarm rate. "
            "Experiments on twelve streams show earlier detection at equal error."
        ),
    ),
    paper(3, title="A paper with one sentence", abstract="One sentence is its own TL;DR."),
]
WANTED = "We propose GraphSketch, a sketch of graph streams that answers connectivity queries"


@pytest.fixture
def site(sqlite_db, tmp_path, load_embedder):
    listing = tmp_path / "a.jsonl"
    listing.write_text("\n".join(listing_line(p, "2026-11-03") for p in PAPERS))
    run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)
    entry = hf_api_entry(PAPERS[0], upvotes=21)
    entry["paper"]["ai_summary"] = (
        "GraphSketch answers connectivity queries over graph streams in constant memory, "
        "faster and smaller than prior sketches."
    )
    entry["paper"]["ai_keywords"] = ["graph streams", "sketching", "connectivity"]
    daily = tmp_path / "2026-11-04.json"
    daily.write_text(json.dumps([entry, hf_api_entry(PAPERS[1], upvotes=8)]))
    run_ingest(sqlite_db, HfDailyFileSource(daily), show_progress=False)
    engine = SearchEngine(sqlite_db, tmp_path / "data", embedder=load_embedder())
    update_indexes(engine)
    with live_site(sqlite_db, search=engine) as client:
        yield str(client.base_url).rstrip("/")


def test_tldr_in_a_list_and_on_a_paper_page(chromium, site):
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = chromium.new_context(viewport=SIZES["desktop"]).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    def shoot(name: str) -> None:
        for size_name, size in SIZES.items():
            page.set_viewport_size(size)
            page.screenshot(path=shots / f"tldr-{name}-{size_name}.png", full_page=True)
            # At phone width nothing runs off the side.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], (name, size_name, width)
        page.set_viewport_size(SIZES["desktop"])

    page.goto(site + "/papers/date/2026-11-03")
    # One per paper, but not where it would repeat a one-sentence abstract.
    assert page.locator("ol.papers .tldr").count() == 2
    assert page.locator("#paper-2611\\.00003 .tldr").count() == 0
    first = page.locator("#paper-2611\\.00001 .tldr")
    assert first.inner_text().startswith("TL;DR")
    assert WANTED in first.inner_text() and first.locator("math").count() == 1  # $O(1)$
    assert "We introduce DriftGuard" in page.locator("#paper-2611\\.00002 .tldr").inner_text()
    shoot("list")

    page.goto(site + "/?layout=cards")
    assert page.locator("ol.papers .tldr").first.is_visible()  # cards keep the one line

    page.goto(site + "/papers/2611.00001")
    assert WANTED in page.locator("article .tldr").inner_text()
    # Ours above the abstract; Hugging Face's summary and keywords labelled as theirs.
    order = page.evaluate(
        "[...document.querySelectorAll('article .tldr, article .abstract, article .hf-ai')]"
        ".map(e => e.className)"
    )
    assert order == ["tldr", "abstract", "hf-ai"]
    assert "Hugging Face AI summary" in page.locator(".hf-ai").inner_text()
    assert page.locator(".hf-ai .keywords .cat").count() == 3
    shoot("paper")
    assert problems == []
