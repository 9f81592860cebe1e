"""Search on a slice of the real corpus (../shared/data/arxiv-cs-daily): the first 400
papers, embedded at 128 tokens to keep the test short (~15 s on 2 cores)."""

import gzip
import itertools
import json
from collections import Counter

import pytest

from paperfeed.index.vectors import embed_pending
from paperfeed.query import STOPWORDS, words_of
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store

pytestmark = pytest.mark.slow
SLICE = 400

# Paraphrases written for these tests, sharing few words with the papers they describe.
PARAPHRASES = {
    "2503.11685": "a rotation-based digital arithmetic unit that computes both multiply-accumulate "
    "and squashing functions in one reconfigurable chip for neural network inference",
    "2503.12844": "first-person video collection to help people who cannot see walk around "
    "safely, with guidance from vision-language assistants",
    "2503.13477": "measuring how much jaw support around teeth has receded in dental x-rays by "
    "locating landmarks with a pose network",
}


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory, load_embedder):
    folder = tmp_path_factory.mktemp("real")
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, SLICE)]
    (folder / "slice.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    with Store(f"sqlite:///{folder / 'paperfeed.db'}") as store:
        run_ingest(store, JsonlSource(folder / "slice.jsonl"), show_progress=False)
        embedder = load_embedder(128)
        for _ in embed_pending(store, embedder):
            pass
        engine = SearchEngine(store, folder, embedder=embedder)
        engine.refresh()
        yield engine, {r["arxiv_id"]: r for r in records}


def first(engine, text, mode="hybrid"):
    hits = engine.search(text, mode=mode, limit=5).hits
    return hits[0].paper.arxiv_id if hits else None


def test_a_title_finds_its_paper(real):
    engine, records = real
    for arxiv_id in list(records)[::50]:
        assert first(engine, records[arxiv_id]["title"]) == arxiv_id


@pytest.mark.parametrize(
    "form",
    [
        "{id}",
        "arXiv:{id}v1",
        "https://arxiv.org/abs/{id}",
        "https://arxiv.org/pdf/{id}v2",
        "http://arxiv.org/pdf/{id}.pdf",
    ],
)
def test_ids_and_urls(real, form):
    engine, _ = real
    assert first(engine, form.format(id="2503.12086")) == "2503.12086"


def test_a_quoted_phrase_finds_the_only_paper_that_has_it(real):
    engine, records = real
    texts = {pid: " ".join(words_of(r["abstract"])).lower() for pid, r in records.items()}
    checked = 0
    for pid, record in itertools.islice(records.items(), 0, SLICE, 37):
        words = words_of(record["abstract"])[10:14]
        phrase = " ".join(words).lower()
        if len(words) == 4 and sum(phrase in t for t in texts.values()) == 1:
            assert first(engine, f'"{" ".join(words)}"', mode="keyword") == pid
            checked += 1
    assert checked >= 5


def test_an_author_finds_their_paper(real):
    engine, records = real
    counts = Counter(a for r in records.values() for a in r["authors"])
    checked = 0
    for pid, record in itertools.islice(records.items(), 0, SLICE, 41):
        name = record["authors"][0]
        if counts[name] == 1 and len(words_of(name)) >= 2:
            assert first(engine, f'author:"{name}"', mode="keyword") == pid
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("arxiv_id", list(PARAPHRASES))
def test_a_paraphrase_of_an_abstract_finds_the_paper(real, arxiv_id):
    engine, _ = real
    assert first(engine, PARAPHRASES[arxiv_id]) == arxiv_id


def test_a_topic_phrase_ranks_papers_with_it_above_one_word_title_matches(real):
    """Two-word phrases from the slice's abstracts: the papers that contain the phrase
    rank above every paper that has only one of its words, in the title only (per-field
    scores summed used to put such titles first)."""
    engine, records = real
    texts = {
        pid: (words_of(r["title"].lower()), words_of(r["abstract"].lower()))
        for pid, r in records.items()
    }
    pairs = Counter(
        pair
        for title, abstract in texts.values()
        for pair in set(itertools.pairwise(abstract))
        if not ({*pair} & STOPWORDS) and all(len(w) > 3 and w.isalpha() for w in pair)
    )
    checked = 0
    for (a, b), count in pairs.most_common():
        if count < 2 or checked == 8:
            continue
        with_phrase = {
            pid
            for pid, (title, abstract) in texts.items()
            if (a, b) in set(itertools.pairwise(title)) | set(itertools.pairwise(abstract))
        }
        title_only = {
            pid
            for pid, (title, abstract) in texts.items()
            if len({a, b} & set(title)) == 1 and not {a, b} & set(abstract)
        }
        if not title_only:
            continue
        for mode in ("keyword", "hybrid"):
            ranked = [h.paper.arxiv_id for h in engine.search(f"{a} {b}", mode, limit=100).hits]
            best_phrase = min(ranked.index(pid) for pid in with_phrase if pid in ranked)
            title_ranks = [ranked.index(pid) for pid in title_only if pid in ranked]
            assert best_phrase < min(title_ranks, default=len(ranked)), (a, b, mode)
        checked += 1
    assert checked >= 5
