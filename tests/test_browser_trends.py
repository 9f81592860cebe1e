"""/trends in Debian's Chromium: two queries drawn as an SVG chart from the site's own
origin under its Content-Security-Policy, the table beside it, the form; and the rising
topics with no query. Screenshots at 1280 and 390 px in test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from paperfeed.services.ingest import run_ingest
from paperfeed.services.rising import refresh_rising
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import listing_line, paper
from tests.helpers import ARTIFACTS, live_site

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
LAST = date(2026, 6, 26)
TOPICS = ["diffusion models", "reinforcement learning", "graph networks", "sparse autoencoders"]


@pytest.fixture
def site(sqlite_db, tmp_path):
    """Two papers a day over 40 weeks; "sparse autoencoders" comes up in the last weeks."""
    lines, n = [], 0
    for back in range(0, 280, 1):
        day = LAST - timedelta(days=back)
        for j in range(2):
            n += 1
            topic = TOPICS[(n + back // 30) % 3]
            if (back < 28 and j == 1) or (back >= 28 and n % 40 == 0):
                topic = TOPICS[3]
            lines.append(
                listing_line(paper(n, title=f"On {topic}", abstract=f"{topic}."), str(day))
            )
    (tmp_path / "papers.jsonl").write_text("\n".join(lines))
    run_ingest(sqlite_db, JsonlSource(tmp_path / "papers.jsonl"), show_progress=False)
    engine = SearchEngine(sqlite_db, None)
    engine.keyword.catch_up(sqlite_db)
    refresh_rising(sqlite_db)
    with live_site(sqlite_db, search=engine) as client:
        yield str(client.base_url).rstrip("/")


def test_trends_in_a_browser(chromium, site):
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = chromium.new_context(viewport=SIZES["desktop"]).new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    problems: list[str] = []  # a CSP violation is a console error
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(site + "/")
    page.get_by_role("link", name="Trends").click()
    page.wait_for_url("**/trends")
    assert page.locator("ol.rising li").first.locator("a.phrase").inner_text() == TOPICS[3]
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        page.screenshot(path=shots / f"trends-rising-{size_name}.png", full_page=True)
    page.set_viewport_size(SIZES["desktop"])

    page.get_by_label("Query 1").fill('"diffusion models"')
    page.get_by_label("Query 2").fill("reinforcement")
    page.locator("select[name=by]").select_option("week")
    page.get_by_role("button", name="Draw").click()
    page.wait_for_url("**/trends?q=%22diffusion+models%22&q=reinforcement&**by=week**")
    chart = page.locator(".trend-chart img")
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        page.wait_for_function(
            "() => { const i = document.querySelector('.trend-chart img');"
            " return i.complete && i.naturalWidth > 0 && i.currentSrc.includes('size=' +"
            f" '{'wide' if size_name == 'desktop' else 'narrow'}'); }}"
        )
        box = chart.bounding_box()
        assert box is not None and box["width"] <= size["width"] and box["height"] > 150
        page.screenshot(path=shots / f"trends-chart-{size_name}.png", full_page=True)
    page.set_viewport_size(SIZES["desktop"])
    table = page.locator("table.trend-table")
    assert table.locator("tbody tr").count() == 26
    assert table.locator("thead th[scope=colgroup]").all_inner_texts() == [
        '"diffusion models"',
        "reinforcement",
    ]
    page.get_by_role("link", name="votes").click()
    page.wait_for_url("**view=votes**")
    assert not problems and not outside, (problems, outside)
