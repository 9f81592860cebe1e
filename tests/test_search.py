"""Search on a small invented corpus: keyword index, embeddings, fusion, similar papers."""

import itertools
import json
import re

import pytest
import tantivy

from paperfeed.errors import PaperfeedError
from paperfeed.index.embedder import Embedder
from paperfeed.index.lexical import KeywordIndex, adjacent_pairs, pair_term
from paperfeed.query import STOPWORDS, QueryError, parse_query
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine, fuse, snippet
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from tests.feeds import hf_api_entry, listing_line, paper

TOPICS = [
    (
        "One-step image generation by distilling a diffusion model",
        "We distill a pretrained diffusion model into a generator that samples in a single step.",
    ),
    (
        "Process reward models for step-by-step math reasoning",
        "A reward model scores every intermediate step of a chain of thought solution.",
    ),
    (
        "Multi-step tool use by language agents",
        "Agents call tools over many steps; we study planning errors in long tool chains.",
    ),
    (
        "Step localization in instructional videos",
        "We find the temporal boundaries of each procedural step in cooking videos.",
    ),
    (
        "Grasping fragile objects with tactile feedback",
        "A robot hand uses touch sensors to pick up eggs and glasses without breaking them.",
    ),
    (
        "Sparse attention for long context transformers",
        "Attention over long documents is made sparse so memory grows linearly with length.",
    ),
    (
        "A survey of retrieval augmented generation",
        "We review methods that retrieve documents to ground the answers of language models.",
    ),
    (
        "Speech recognition for low resource languages",
        "Self-supervised pretraining helps transcribe speech in languages with little data.",
    ),
]


def corpus_lines():
    lines = []
    for n, (title, abstract) in enumerate(TOPICS, start=1):
        cats = ["cs.CV"] if n in (1, 4) else ["cs.RO"] if n == 5 else ["cs.CL", "cs.AI"]
        lines.append(
            listing_line(
                paper(
                    n,
                    title=title,
                    abstract=abstract,
                    categories=cats,
                    authors=[f"Author{n} Person", "Jason Wei" if n == 2 else "Mia Chen"],
                ),
                listing_date=f"2026-0{1 + n % 6}-10",
            )
        )
    return lines


@pytest.fixture
def embedder(load_embedder):
    return load_embedder(128)


def build_engine(store, folder, embedder, vectors=None):
    """The topic corpus and a community day in `store`, indexed for every search mode
    (`vectors`: the backend, PAPERFEED_VECTORS)."""

    path = folder / "topics.jsonl"
    path.write_text("\n".join(corpus_lines()))
    run_ingest(store, JsonlSource(path), show_progress=False)
    daily = folder / "2026-03-02.json"
    daily.write_text(json.dumps([hf_api_entry(paper(3), github="https://github.com/ex/tools")]))
    run_ingest(store, HfDailyFileSource(daily), show_progress=False)
    search = SearchEngine(store, folder / "data", embedder=embedder, vectors=vectors)
    update_indexes(search)  # keywords, every paper embedded, vectors loaded
    return search


@pytest.fixture
def engine(fresh_db, tmp_path, embedder):
    return build_engine(fresh_db, tmp_path, embedder)


@pytest.fixture(scope="module")
def read_only_engine(module_db_url, tmp_path_factory, load_embedder):
    """`engine`'s corpus built once per module and database engine, for tests that only
    search it."""
    with Store(module_db_url) as store:
        yield build_engine(store, tmp_path_factory.mktemp("search"), load_embedder(128))


def ids(results):
    return [h.paper.arxiv_id for h in results.hits]


def test_keyword_search_ranks_title_matches_first(read_only_engine):
    assert ids(read_only_engine.search("tactile grasping", mode="keyword"))[0] == "2611.00005"
    assert ids(read_only_engine.search("reward model", mode="keyword"))[0] == "2611.00002"


def index_of(texts: list[str]) -> KeywordIndex:
    """A keyword index in memory holding `texts` as paper ids 0, 1, ..."""
    index = KeywordIndex(None)
    writer = index.index.writer()
    for paper_id, text in enumerate(texts):
        writer.add_document(
            tantivy.Document(
                paper_id=paper_id, text=text, text_exact=text, text_pairs=adjacent_pairs(text)
            )
        )
    writer.commit()
    index.index.reload()
    return index


def test_words_side_by_side_outrank_the_same_words_apart():
    index = index_of(["a model in language", "a language model here"])  # as long
    assert [h.paper_id for h in index.search(parse_query("language model"))] == [1, 0]
    index.adjacent_boost = 0.0  # the same score: ties go by paper id
    assert [h.paper_id for h in index.search(parse_query("language model"))] == [0, 1]


def test_word_pairs_are_found_where_the_phrase_of_the_two_words_is():
    """The pairs written at indexing and asked for at search time cut text as tantivy's
    own tokenizer does for a phrase query on text_exact: punctuation, case that changes
    length, letters of any script, a token too long to index."""
    texts = [
        "Large-scale (LLM) agents at 3D scale",
        "État de l'art: ﬁne tuning",
        "x" * 41 + " long word, " + "y" * 39 + "é after",
        "İstanbul traffic, naïve Bayes",
        "a title ends\nan abstract starts",
        "snake_case words, GPT-4o mini, a–b dash",
        "emoji 🙂 between words; 日本語 text; Ὀδυσσεύς hero",
    ]
    index = index_of(texts)
    searcher = index.index.searcher()

    def papers(query: tantivy.Query) -> set[int]:
        found = searcher.search(query, limit=len(texts)).hits
        return set(searcher.fast_field_values("paper_id", [address for _, address in found]))

    checked = 0
    for text in texts:
        for first, second in itertools.pairwise(re.split(r"\s+", text)):
            phrase = index.index.parse_query(f'"{first} {second}"', ["text_exact"])
            term = pair_term(first, second)
            if term is None:  # no bonus: no token to index, a stopword, one word twice
                left, right = (re.findall(r"[^\W_]+", w.lower()) for w in (first, second))
                meet = {left[-1], right[0]} if left and right else set()
                assert (
                    not meet
                    or meet & STOPWORDS
                    or len(meet) == 1
                    or any(len(t.encode()) > 40 for t in meet)
                ), (first, second)
                continue
            by_pair = papers(tantivy.Query.term_query(index.schema, "text_pairs", term))
            assert by_pair == papers(phrase), (first, second)
            checked += 1
    assert checked > 20


def test_quoted_phrase_author_and_filters(read_only_engine):
    assert ids(read_only_engine.search('"chain of thought"', mode="keyword")) == ["2611.00002"]
    # A quoted phrase is stemmed like the words: the singular finds the plural.
    assert ids(read_only_engine.search('"long context transformer"', mode="keyword")) == [
        "2611.00006"
    ]
    assert ids(read_only_engine.search("author:wei", mode="keyword")) == ["2611.00002"]
    assert ids(read_only_engine.search('author:"jason wei" step', mode="keyword")) == ["2611.00002"]
    assert set(ids(read_only_engine.search("step cat:cs.CV", mode="keyword"))) == {
        "2611.00001",
        "2611.00004",
    }
    assert ids(read_only_engine.search("step has:code", mode="keyword")) == ["2611.00003"]
    dated = ids(read_only_engine.search("step since:2026-04 until:2026-05", mode="keyword"))
    assert dated == ["2611.00003", "2611.00004"] or set(dated) == {"2611.00003", "2611.00004"}
    assert "2611.00007" not in ids(read_only_engine.search("language -survey", mode="keyword"))
    assert "2611.00007" not in ids(
        read_only_engine.search('language -"retrieval augmented"', mode="hybrid")
    )


def test_ids_and_urls_go_to_the_paper(read_only_engine):
    for text in [
        "2611.00004",
        "arXiv:2611.00004v2",
        "https://arxiv.org/abs/2611.00004",
        "https://arxiv.org/pdf/2611.00004v1",
    ]:
        assert ids(read_only_engine.search(text)) == ["2611.00004"]
    assert ids(read_only_engine.search("2611.99999")) == []


def test_semantic_search_understands_meaning(read_only_engine):
    # No shared words with the title or abstract of the right paper.
    found = ids(
        read_only_engine.search("robot hand picks up breakable items by feel", mode="semantic")
    )
    assert found[0] == "2611.00005"
    assert (
        ids(read_only_engine.search("transcribing audio of rare tongues", mode="hybrid"))[0]
        == "2611.00008"
    )


def test_step_query_finds_every_meaning_of_step(read_only_engine):
    top4 = set(ids(read_only_engine.search("step", mode="hybrid", limit=4)))
    assert top4 == {"2611.00001", "2611.00002", "2611.00003", "2611.00004"}


@pytest.mark.parametrize("narrow_filter", [20_000, 0], ids=["before-scan", "after-scan"])
def test_filters_apply_to_semantic_results(engine, narrow_filter):
    engine.narrow_filter = narrow_filter
    found = ids(engine.search("robots and touch cat:cs.CL", mode="semantic"))
    assert "2611.00005" not in found and found
    assert set(found) <= {"2611.00002", "2611.00003", "2611.00006", "2611.00007", "2611.00008"}
    assert ids(engine.search("tool-using agents has:code", mode="semantic")) == ["2611.00003"]
    assert ids(engine.search("robot hand -tactile", mode="semantic"))[0] != "2611.00005"


def test_similar_papers_and_search_by_abstract(read_only_engine):
    similar = [h.paper.arxiv_id for h in read_only_engine.similar("2611.00002", limit=3)]
    assert "2611.00002" not in similar and len(similar) == 3
    pasted = read_only_engine.by_abstract(
        "Touch sensing lets a manipulator lift delicate glassware.", 1
    )
    assert pasted[0].paper.arxiv_id == "2611.00005"
    assert read_only_engine.similar("2611.99999") == []


def test_snippets_highlight_terms_and_escape_html():
    html = snippet('Our <b>steps</b> & "stepwise" <script>x</script> method', ["step"])
    assert "<b>" not in html and "<script>" not in html
    assert "&lt;b&gt;<mark>steps</mark>&lt;/b&gt;" in html
    assert "<mark>stepwise</mark>" in html
    assert snippet("no match here", []) == "no match here"


def test_fusion_rewards_agreement():
    fused = fuse([([1, 2, 3], 1.0, 60), ([3, 4, 1], 1.0, 60)])
    assert [pid for pid, _ in fused][:2] == [1, 3]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "!!!",
        "NEAR(",
        '"',
        "x" * 1999,
        "' OR 1=1 --",
        "title:* AND",
        "\u0000\u202e",
        "😀 🚀",
        "-",
        "-a -b",
    ],
)
@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_hostile_queries_give_a_result_not_a_crash(read_only_engine, text, mode):
    results = read_only_engine.search(text, mode=mode)
    assert isinstance(results.hits, list)


def test_bad_arguments_are_query_errors(read_only_engine):
    for kwargs in ({"mode": "fuzzy"}, {"limit": 0}, {"limit": 101}, {"offset": -1}):
        with pytest.raises(QueryError):
            read_only_engine.search("step", **kwargs)
    with pytest.raises(QueryError):
        read_only_engine.search("x" * 10_000)
    with pytest.raises(QueryError):
        read_only_engine.by_abstract("   ")


def test_keyword_works_before_embeddings_and_semantic_joins_after(sqlite_db, tmp_path, embedder):
    path = tmp_path / "topics.jsonl"
    path.write_text("\n".join(corpus_lines()))
    run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    search = SearchEngine(sqlite_db, tmp_path / "data", embedder=embedder)
    search.refresh()  # keyword index synced, no vectors yet
    results = search.search("tactile", mode="hybrid")
    assert ids(results) == ["2611.00005"] and not results.semantic_available


def test_reingested_papers_are_reindexed(sqlite_db, tmp_path, embedder):
    from paperfeed.index.vectors import count_stale, embed_pending

    path = tmp_path / "a.jsonl"
    path.write_text(listing_line(paper(1, title="Quantum annealing schedules")))
    run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    search = SearchEngine(sqlite_db, tmp_path / "data", embedder=embedder)
    search.refresh()
    list(embed_pending(sqlite_db, embedder))
    assert count_stale(sqlite_db, embedder.model_id) == 0
    kaggle = tmp_path / "b.jsonl"  # version 2 with a new title
    kaggle.write_text(
        json.dumps(
            {
                "id": "2611.00001",
                "title": "Photonic neural networks",
                "abstract": "Light computes.",
                "authors": "A B",
                "categories": "cs.ET",
                "versions": [
                    {"version": "v1", "created": "Mon, 2 Nov 2026 10:00:00 GMT"},
                    {"version": "v2", "created": "Tue, 3 Nov 2026 10:00:00 GMT"},
                ],
            }
        )
    )
    run_ingest(sqlite_db, JsonlSource(kaggle), show_progress=False)
    assert search.keyword.pending(sqlite_db) == 1
    assert count_stale(sqlite_db, embedder.model_id) == 1
    search.refresh()
    assert ids(search.search("photonic", mode="keyword")) == ["2611.00001"]
    assert ids(search.search("quantum annealing", mode="keyword")) == []


def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(PaperfeedError, match="onnxruntime-gpu"):
        Embedder(device="cuda")


def test_store_without_index_dir_is_created(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        engine = SearchEngine(store, tmp_path / "deep" / "data")
        assert engine.search("anything", mode="keyword").hits == []


def test_search_pages_over_http(engine, fresh_db):
    from tests.helpers import live_site

    with live_site(fresh_db, search=engine) as site:
        page = site.get("/search", params={"q": "tactile grasping touch"})
        assert page.status_code == 200
        assert "Grasping fragile objects with tactile feedback" in page.text
        assert "<mark>touch</mark>" in page.text
        data = site.get("/search.json", params={"q": "step", "mode": "keyword"}).json()
        assert data["hits"] and all("snippet_html" in h for h in data["hits"])
        hostile = site.get("/search", params={"q": '<script>alert(1)</script> "NEAR('})
        assert hostile.status_code == 200 and "<script>alert(1)" not in hostile.text
        assert site.get("/search", params={"q": "x" * 10_000}).status_code == 400
        assert site.get("/search.json", params={"q": "a", "mode": "bogus"}).status_code == 400
        assert site.get("/search.json", params={"q": ""}).json()["hits"] == []
        paper_page = site.get("/papers/2611.00005")
        assert "Similar papers" in paper_page.text
        assert len(site.get("/papers/2611.00005.json").json()["similar"]) == 5


def test_serve_indexes_in_the_background(sqlite_db, tmp_path, embedder):
    import time

    from paperfeed.services.indexer import BackgroundIndexer
    from tests.helpers import UNCACHED, live_site

    path = tmp_path / "topics.jsonl"
    path.write_text("\n".join(corpus_lines()))
    run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    search = SearchEngine(sqlite_db, tmp_path / "data", embedder=embedder)
    indexer = BackgroundIndexer(search, interval_s=0.2)
    # No page cache: a search answered before the first round would be reused for 30 s.
    with live_site(sqlite_db, search=search, jobs=[indexer], settings=UNCACHED) as site:
        deadline = time.monotonic() + 60
        data = {}
        while time.monotonic() < deadline:
            data = site.get(
                "/search.json", params={"q": "robot hand picks up breakable items"}
            ).json()
            if data["semantic_available"] and data["hits"]:
                break
            time.sleep(0.2)
        assert data["hits"][0]["arxiv_id"] == "2611.00005"
    assert not indexer.thread.is_alive()


def test_compact_vectors_find_what_the_exact_scan_finds(fresh_db, engine):
    """Past the threshold, vectors become sign codes + float16; the top hits agree."""
    import numpy as np

    from paperfeed.index.backend import VectorFilter
    from paperfeed.index.vectors import VectorIndex

    exact = VectorIndex(fresh_db, engine.embedder.model_id)
    compact = VectorIndex(fresh_db, engine.embedder.model_id, compact_above=3, rescore=4)
    exact.refresh()
    compact.refresh()
    assert compact.compact and not exact.compact
    assert compact._data.vectors.dtype == np.float16
    for text in ("robot touch", "speech in rare languages", "diffusion in one step"):
        q = engine.embedder.embed_query(text)
        assert [i for i, _ in compact.search(q, 2)] == [i for i, _ in exact.search(q, 2)]
    pid = int(exact.ids[0])
    vector = exact.vectors_of([pid])[pid]
    assert pid not in [i for i, _ in compact.search(vector, 3, VectorFilter(exclude=pid))]
    allowed = exact.ids[:2]
    found = compact.search(q, 5, VectorFilter(among=allowed))
    assert {i for i, _ in found} <= set(allowed.tolist())


def test_several_queries_in_one_scan_match_one_at_a_time(fresh_db, engine):
    from paperfeed.index.backend import VectorFilter
    from paperfeed.index.vectors import VectorIndex

    index = VectorIndex(fresh_db, engine.embedder.model_id)
    index.refresh()
    queries = engine.embedder.embed(["robot touch", "speech in rare languages", "one step"])
    allowed = index.ids[: len(index.ids) // 2]
    for restrict in (VectorFilter(), VectorFilter(among=allowed)):
        together = index.search_many(queries, 3, restrict)
        alone = [index.search(q, 3, restrict) for q in queries]
        assert [[i for i, _ in hits] for hits in together] == [
            [i for i, _ in hits] for hits in alone
        ]
