"""The real corpus from ../shared/data: exact counts, idempotence, merging in either order.

Slow (each full arXiv ingest takes ~10-15 s on 2 cores), so each store is built once.
"""

import gzip
import json

import pytest
import sqlalchemy as sa

from paperfeed.services.ingest import run_ingest
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import daily_entries, papers

pytestmark = pytest.mark.slow

ARXIV_PAPERS = 104_235
HF_ENTRIES, HF_PAPERS, SHARED = 9_881, 9_877, 5_274


def arxiv_file(shared_data):
    return shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz"


def hf_file(shared_data):
    return shared_data / "hf-daily-papers" / "hf_daily_papers.jsonl.gz"


def snapshot(store):
    """What must not depend on ingest order: per paper, its metadata and community data."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                papers.c.arxiv_id,
                papers.c.title,
                papers.c.categories,
                papers.c.announced_date,
                papers.c.published_at,
                sa.func.sum(daily_entries.c.imported_upvotes),
                sa.func.count(daily_entries.c.id),
            )
            .outerjoin(daily_entries, daily_entries.c.paper_id == papers.c.id)
            .group_by(papers.c.id)
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


@pytest.fixture(scope="module")
def arxiv_then_hf(shared_data, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('a') / 'paperfeed.db'}"
    with Store(url) as store:
        first = run_ingest(store, JsonlSource(arxiv_file(shared_data)), show_progress=False)
        papers_after_arxiv = count(store, papers)
        second = run_ingest(store, JsonlSource(arxiv_file(shared_data)), show_progress=False)
        hf = run_ingest(store, HfDailyFileSource(hf_file(shared_data)), show_progress=False)
        yield store, first, papers_after_arxiv, second, hf


@pytest.fixture(scope="module")
def hf_then_arxiv(shared_data, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('b') / 'paperfeed.db'}"
    with Store(url) as store:
        hf = run_ingest(store, HfDailyFileSource(hf_file(shared_data)), show_progress=False)
        hf_counts = (count(store, papers), count(store, daily_entries))
        arxiv = run_ingest(store, JsonlSource(arxiv_file(shared_data)), show_progress=False)
        yield store, hf, hf_counts, arxiv


def test_arxiv_snapshot_gives_every_paper_once_and_a_rerun_adds_nothing(arxiv_then_hf):
    _, first, papers_after_arxiv, second, _ = arxiv_then_hf
    assert (first.added, first.rejected) == (ARXIV_PAPERS, 0)
    assert papers_after_arxiv == ARXIV_PAPERS
    assert (second.added, second.updated, second.unchanged) == (0, 0, ARXIV_PAPERS)


def test_hf_daily_gives_its_entries_and_papers(hf_then_arxiv):
    _, hf, hf_counts, _ = hf_then_arxiv
    assert (hf.added, hf.rejected, hf.papers_added) == (HF_ENTRIES, 0, HF_PAPERS)
    assert hf_counts == (HF_PAPERS, HF_ENTRIES)


def test_both_orders_merge_the_shared_papers_identically(arxiv_then_hf, hf_then_arxiv, shared_data):
    store_a, *_, hf = arxiv_then_hf
    store_b, _, _, arxiv = hf_then_arxiv
    assert hf.papers_added == HF_PAPERS - SHARED
    assert (arxiv.added, arxiv.updated) == (ARXIV_PAPERS - SHARED, SHARED)
    total = ARXIV_PAPERS + HF_PAPERS - SHARED
    assert count(store_a, papers) == count(store_b, papers) == total == 108_838
    assert count(store_a, daily_entries) == count(store_b, daily_entries) == HF_ENTRIES
    a, b = snapshot(store_a), snapshot(store_b)
    assert a == b
    with gzip.open(hf_file(shared_data), "rt") as lines:
        upvotes_in_file = sum(json.loads(line)["upvotes"] for line in lines)
    assert sum(v[4] or 0 for v in a.values()) == upvotes_in_file  # every upvote kept


def test_hf_daily_on_postgresql(shared_data, fresh_postgres_url):
    with Store(fresh_postgres_url) as store:
        hf = run_ingest(store, HfDailyFileSource(hf_file(shared_data)), show_progress=False)
        again = run_ingest(store, HfDailyFileSource(hf_file(shared_data)), show_progress=False)
        assert (hf.added, hf.papers_added) == (HF_ENTRIES, HF_PAPERS)
        assert (again.added, again.updated, again.unchanged) == (0, 0, HF_ENTRIES)
        assert (count(store, papers), count(store, daily_entries)) == (HF_PAPERS, HF_ENTRIES)
