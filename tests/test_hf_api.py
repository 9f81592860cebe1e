"""The real huggingface_hub client against a live paperfeed, on the real daily papers."""

import gzip
import json
from collections import defaultdict
from datetime import date

import pytest

from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.store import Store
from tests.helpers import live_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hf_rows(shared_data):
    with gzip.open(shared_data / "hf-daily-papers" / "hf_daily_papers.jsonl.gz", "rt") as lines:
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def api(shared_data, tmp_path_factory, monkeypatch_module):
    from huggingface_hub import HfApi

    monkeypatch_module.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "0")
    folder = tmp_path_factory.mktemp("hfapi")
    with Store(f"sqlite:///{folder / 'paperfeed.db'}") as store:
        path = shared_data / "hf-daily-papers" / "hf_daily_papers.jsonl.gz"
        run_ingest(store, HfDailyFileSource(path), show_progress=False)
        search = SearchEngine(store, folder)
        search.refresh()  # keyword index; no embeddings: list_papers runs on keywords
        with live_site(store, search=search) as site:
            yield HfApi(endpoint=str(site.base_url).rstrip("/"), token=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def all_pages(call, **kwargs):
    found, page = [], 0
    while True:
        batch = list(call(**kwargs, p=page, limit=100))
        found += batch
        if len(batch) < 100:
            return found
        page += 1


def test_daily_papers_by_date_match_the_data(api, hf_rows):
    by_day = defaultdict(set)
    for row in hf_rows:
        by_day[row["daily_date"]].add(row["arxiv_id"])
    for day in ["2024-05-27", "2025-01-10", "2026-03-02", "2026-08-21"]:
        papers = list(api.list_daily_papers(date=day, limit=100))
        assert {p.id for p in papers} == by_day[day], day
    latest = list(api.list_daily_papers())
    assert {p.id for p in latest} == by_day[max(by_day)]


def test_daily_papers_by_week_month_and_submitter(api, hf_rows):
    week = {
        r["arxiv_id"]
        for r in hf_rows
        if date.fromisoformat(r["daily_date"]).isocalendar()[:2] == (2026, 10)
    }
    assert {p.id for p in all_pages(api.list_daily_papers, week="2026-W10")} == week
    month = {r["arxiv_id"] for r in hf_rows if r["daily_date"].startswith("2025-11")}
    assert {p.id for p in all_pages(api.list_daily_papers, month="2025-11")} == month
    submitter = next(r["submitted_by"] for r in hf_rows if r["submitted_by"])
    theirs = {r["arxiv_id"] for r in hf_rows if r["submitted_by"] == submitter}
    found = all_pages(api.list_daily_papers, submitter=submitter)
    assert {p.id for p in found} == theirs
    assert all(p.submitted_by.username == submitter for p in found)


def test_sorting_by_trending(api, hf_rows):
    day = "2026-08-21"
    papers = list(api.list_daily_papers(date=day, sort="trending", limit=100))
    upvotes = {r["arxiv_id"]: r["upvotes"] for r in hf_rows if r["daily_date"] == day}
    # Same day, same age window: the most upvoted paper trends first.
    assert papers[0].id == max(upvotes, key=upvotes.get)


def test_paper_info_matches_titles_authors_and_upvotes(api, hf_rows):
    first = {}
    for row in hf_rows:
        first.setdefault(row["arxiv_id"], row)
    most_upvoted = defaultdict(int)
    for row in hf_rows:
        most_upvoted[row["arxiv_id"]] = max(most_upvoted[row["arxiv_id"]], row["upvotes"])
    for arxiv_id in list(first)[::700]:
        info = api.paper_info(arxiv_id)
        assert info.id == arxiv_id
        assert info.title == " ".join(first[arxiv_id]["title"].split())
        assert [a.name for a in info.authors] == first[arxiv_id]["authors"]
        assert info.upvotes == most_upvoted[arxiv_id]


def test_unknown_paper_is_a_404(api):
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as error:
        api.paper_info("2612.99999")
    assert error.value.response.status_code == 404


def test_list_papers_searches(api, hf_rows):
    row = hf_rows[-1]
    found = list(api.list_papers(query=row["title"], limit=5))
    assert found[0].id == row["arxiv_id"]
    assert list(api.list_papers(query="", limit=5)) == []


def test_paper_info_carries_hugging_faces_ai_summary_and_keywords(api, hf_rows):
    seen = defaultdict(list)
    for row in hf_rows:
        seen[row["arxiv_id"]].append(row)
    once = [rows[0] for rows in seen.values() if len(rows) == 1 and rows[0].get("ai_summary")]
    assert len(once) > 100
    for row in once[::500]:
        info = api.paper_info(row["arxiv_id"])
        assert " ".join((info.ai_summary or "").split()) == " ".join(row["ai_summary"].split())
        assert info.ai_keywords == (list(dict.fromkeys(row["ai_keywords"] or [])) or None)
