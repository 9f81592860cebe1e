"""A saved search means the same in a digest as on the search page: both run through
SearchEngine (keyword mode), the digest restricted to its period's papers."""

import gzip
import itertools
import json
from collections import Counter
from datetime import date

import pytest

from paperfeed.services.digest import PeriodPapers, daily_period
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from tests.conftest import live_site
from tests.feeds import listing_line, paper

DAY = date(2026, 11, 4)


def test_a_saved_search_finds_what_the_search_box_finds(fresh_db, tmp_path):
    """The issue's case: `transformers` finds "Sparse transformer ..." on the site, and
    used to find nothing in the digest (exact words there, stemming on the site)."""
    listing = tmp_path / "listing.jsonl"
    listing.write_text(
        "\n".join(
            [
                listing_line(paper(1, title="Sparse transformer for long documents"), "2026-11-04"),
                listing_line(paper(2, title="Protein folding at scale"), "2026-11-04"),
                listing_line(paper(3, title="Transformers for speech"), "2026-11-03"),
            ]
        )
    )
    run_ingest(fresh_db, JsonlSource(listing), show_progress=False)
    engine = SearchEngine(fresh_db, tmp_path / "data")
    engine.keyword.catch_up(fresh_db)
    with fresh_db.engine.connect() as conn:
        new = PeriodPapers(conn, daily_period(DAY), engine)
    assert [p.arxiv_id for p in new.search("transformers")] == ["2611.00001"]  # not 00003
    assert [p.arxiv_id for p in new.search("transformer -sparse")] == []
    assert [p.arxiv_id for p in new.author("Ada Example2")] == ["2611.00002"]
    assert [p.arxiv_id for p in new.category("cs.CL")] == ["2611.00001", "2611.00002"]
    assert [p.arxiv_id for p in new.search("2611.00003")] == []  # not in the period
    site = engine.search("transformers since:2026-11-04 until:2026-11-04", mode="keyword")
    assert [h.paper.arxiv_id for h in site.hits] == ["2611.00001"]


@pytest.mark.slow
def test_digest_and_search_page_agree_on_real_papers(shared_data, tmp_path):
    """Real arXiv papers of three announcement days; for each saved search, the digest's
    section for one day lists what the search page lists for that day, in its order."""
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 1500)]
    days = Counter(r["listing_date"] for r in records)
    day = date.fromisoformat(max(days, key=lambda d: (days[d], d)))
    (tmp_path / "slice.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    saved = [
        "transformers",
        "reinforcement learning",
        '"large language models"',
        "diffusion -survey",
        "graph neural networks cat:cs.LG",
        "segmentation cat:cs.CV",
        "robot manipulation policies",
        "federated learning privacy",
        "speech recognition",
        "retrieval augmented generation",
    ]
    with Store(f"sqlite:///{tmp_path / 'paperfeed.db'}") as store:
        run_ingest(store, JsonlSource(tmp_path / "slice.jsonl"), show_progress=False)
        engine = SearchEngine(store, tmp_path)
        engine.keyword.catch_up(store)
        with store.engine.connect() as conn:
            new = PeriodPapers(conn, daily_period(day), engine)
        assert 200 < len(new.ids) < len(records)  # a day, not the whole slice
        with live_site(store, search=engine) as client:
            found = 0
            for query in saved:
                digest = [p.arxiv_id for p in new.search(query)][:10]
                page = client.get(
                    "/search.json",
                    params={"q": f"{query} since:{day} until:{day}", "mode": "keyword"},
                ).json()
                assert digest == [h["arxiv_id"] for h in page["hits"]][:10], query
                found += bool(digest)
    assert found >= 8
