"""The first site, run in-process: the latest day, day pages, paper pages."""

import json

import pytest

from paperfeed.services.ingest import run_ingest
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from tests.feeds import hf_api_entry, listing_line, paper
from tests.helpers import site_in_process

HOSTILE = paper(
    66,
    title='<script>alert("x")</script> <img src=x onerror=alert(1)> $a<b$ & c',
    authors=['<b onmouseover="alert(1)">Eve</b>', "ناصر"],
)


@pytest.fixture(scope="module")
def site(module_db_url, tmp_path_factory):
    """A small site that the tests only read, built once per engine."""
    folder = tmp_path_factory.mktemp("web")
    listing = folder / "a.jsonl"
    listing.write_text(
        "\n".join(
            [
                listing_line(paper(1), "2026-11-02"),
                listing_line(paper(2), "2026-11-03"),
                listing_line(HOSTILE, "2026-11-03"),
            ]
        )
    )
    daily = folder / "2026-11-04.json"
    daily.write_text(
        json.dumps(
            [
                hf_api_entry(paper(2), upvotes=3),
                hf_api_entry(paper(5), upvotes=40, github="https://github.com/e/x"),
            ]
        )
    )
    with Store(module_db_url) as store:
        run_ingest(store, JsonlSource(listing), show_progress=False)
        run_ingest(store, HfDailyFileSource(daily), show_progress=False)
        with site_in_process(store) as client:
            yield client


def test_home_shows_the_latest_day_sorted_by_upvotes(site):
    page = site.get("/")
    assert page.status_code == 200
    html = page.text
    assert "Daily papers" in html and "Wed 04 Nov 2026" in html
    assert html.index("Invented paper number 5") < html.index("Invented paper number 2")
    assert 'href="https://arxiv.org/abs/2611.00005"' in html
    assert 'href="/papers/date/2026-11-03"' in html
    data = site.get("/index.json").json()
    assert data["day"] == "2026-11-04" and data["kind"] == "community"
    assert [p["arxiv_id"] for p in data["papers"]] == ["2611.00005", "2611.00002"]
    assert data["papers"][0]["upvotes"] == 40


def test_a_day_without_a_community_list_shows_arxiv_announcements(site):
    data = site.get("/papers/date/2026-11-03.json").json()
    assert data["kind"] == "arxiv"
    assert {p["arxiv_id"] for p in data["papers"]} == {"2611.00002", "2611.00066"}
    assert data["previous_day"] == "2026-11-02" and data["next_day"] == "2026-11-04"
    assert site.get("/papers/date/2026-13-45").status_code == 400
    assert site.get("/papers/date/2020-01-01.json").json()["papers"] == []


def test_paper_page_and_its_json_twin(site):
    html = site.get("/papers/2611.00005").text
    assert "Invented paper number 5" in html
    assert 'href="https://arxiv.org/pdf/2611.00005"' in html
    assert 'href="https://github.com/e/x"' in html
    # An imported submitter links to the papers they submitted, named as Hugging Face's.
    assert 'submitted by <a href="/submitters/alice">alice</a> on Hugging Face' in html
    data = site.get("/papers/2611.00005.json").json()
    assert data["featured_on"] == ["2026-11-04"] and data["upvotes"] == 40
    assert site.get("/papers/arXiv:2611.00005v2.json").json()["arxiv_id"] == "2611.00005"


def test_unknown_and_hostile_paper_ids_are_404s(site):
    for path in [
        "/papers/2611.99999",
        "/papers/<script>",
        "/papers/' OR 1=1 --",
        "/papers/" + "9" * 5000,
    ]:
        page = site.get(path)
        assert page.status_code == 404
        assert "<script>" not in page.text
    assert site.get("/papers/nope.json").json() == {"error": "no such paper here"}


def test_hostile_titles_and_authors_are_escaped(site):
    for path in ["/papers/date/2026-11-03", "/papers/2611.00066"]:
        html = site.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "<b onmouseover" not in html
        assert "<mo>&lt;</mo>" in html and "</math> &amp; c" in html  # $a<b$ as MathML
    assert "ناصر" in site.get("/papers/2611.00066").text


def test_empty_store_shows_how_to_load_papers(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'empty.db'}") as store, site_in_process(store) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert "paperfeed demo" in page.text


def test_atom_feeds_parse_and_survive_hostile_titles(site):
    import feedparser

    for path in [
        "/feeds/daily.atom",
        "/feeds/trending.atom",
        "/feeds/category/cs.CL.atom",
        "/feeds/category/nonexistent.atom",
    ]:
        answer = site.get(path)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(answer.content)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    daily = feedparser.parse(site.get("/feeds/daily.atom").content)
    assert [e.link.rsplit("/", 1)[1] for e in daily.entries] == ["2611.00005", "2611.00002"]
    category = feedparser.parse(site.get("/feeds/category/cs.CL.atom").content)
    titles = [e.title for e in category.entries]
    assert HOSTILE["title"] in titles  # carried as text, escaped, intact
    assert site.get("/feeds/search.atom", params={"q": "x"}).status_code == 503  # no search here


def test_bibtex_for_a_paper_parses(site):
    import bibtexparser

    text = site.get("/papers/2611.00002.bib").text
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    entry = library.entries[0]
    assert entry["eprint"] == "2611.00002"
    assert entry["archivePrefix"] == "arXiv"
    assert entry["primaryClass"] == "cs.CL"
    hostile = bibtexparser.parse_string(site.get("/papers/2611.00066.bib").text)
    assert not hostile.failed_blocks and len(hostile.entries) == 1
    assert "Cite" in site.get("/papers/2611.00005").text


def test_trending_about_and_periods(site):
    trending = site.get("/trending.json").json()["papers"]
    assert [p["arxiv_id"] for p in trending] == ["2611.00005", "2611.00002"]
    assert "0.5 ** (vote_age_hours / VOTE_HALF_LIFE_H)" in site.get("/about").text
    assert "Trending papers" in site.get("/trending").text
    week = site.get("/index.json", params={"week": "2026-W45"}).json()
    assert {p["arxiv_id"] for p in week["papers"]} == {"2611.00005", "2611.00002"}
    month = site.get("/index.json", params={"month": "2026-11"}).json()
    assert len(month["papers"]) == 2
    assert site.get("/", params={"week": "2026-W99"}).status_code == 400
    by_time = site.get("/index.json", params={"sort": "time"}).json()
    assert len(by_time["papers"]) == 2
