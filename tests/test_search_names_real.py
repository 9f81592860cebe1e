"""Names on the real corpus (issue 13): for authors with 5 to 30 papers, a default-mode
search for their full name puts at least 8 of their papers in the top 10 (all of them
when fewer). A slice of ../shared/data/arxiv-cs-daily (the first SLICE papers), with a few
hundred embedded so that the default mode runs as on a site (a name leaves the embedding
nothing to read, so more vectors would not change these rankings)."""

import gzip
import itertools
import json
from collections import Counter

import pytest

from paperfeed.index.vectors import embed_pending
from paperfeed.query import words_of
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store

pytestmark = pytest.mark.slow
SLICE = 20_000
EMBEDDED = 256


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory, load_embedder):
    folder = tmp_path_factory.mktemp("names")
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, SLICE)]
    (folder / "slice.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    with Store(f"sqlite:///{folder / 'paperfeed.db'}") as store:
        run_ingest(store, JsonlSource(folder / "slice.jsonl"), show_progress=False)
        embedder = load_embedder(64)
        for done in embed_pending(store, embedder):
            if done >= EMBEDDED:
                break
        engine = SearchEngine(store, folder, embedder=embedder)
        engine.refresh()
        assert 0 < len(engine.loaded_vectors()) < SLICE
        yield engine, records


def test_a_full_name_brings_the_authors_papers_first(real):
    engine, records = real
    papers_of: dict[str, set[str]] = {}
    for record in records:
        for author in set(record["authors"]):
            papers_of.setdefault(author, set()).add(record["arxiv_id"])
    counts = Counter({author: len(ids) for author, ids in papers_of.items()})
    # A name with no letters (":" in one record) is no name to search for.
    authors = sorted(a for a, n in counts.items() if 5 <= n <= 30 and words_of(a))
    assert len(authors) >= 50  # enough to mean something
    missed = []
    for author in authors:
        top = [h.paper.arxiv_id for h in engine.search(author, limit=10).hits]
        wanted = min(8, counts[author])
        found = len(papers_of[author] & set(top))
        if found < wanted:
            missed.append((author, counts[author], found))
    assert not missed, f"{len(missed)} of {len(authors)} authors: {missed[:20]}"
