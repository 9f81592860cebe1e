"""A query that names an author brings that author's papers first, in the default mode;
the search page: its form composes the query language, ids open the paper, counts, dates,
sorting and the coverage of semantic results."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from paperfeed.index.vectors import coverage_in_store, embed_pending, readers_first, stale_papers
from paperfeed.query import Filters, compose, split_filters
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store.schema import papers
from tests.feeds import hf_api_entry, listing_line, paper
from tests.helpers import live_site

LINDQVIST = "Greta Lindqvist"
# (title, abstract, authors): Lindqvist's three papers share no topic; "long" is a word in
# four abstracts and the surname of one author.
PAPERS = [
    ("Speech recognition for Nordic dialects", "We transcribe dialect speech.", [LINDQVIST]),
    ("Graph coloring with local search", "A heuristic colors sparse graphs.", [LINDQVIST]),
    ("Protein folding from sequence", "We predict structures of proteins.", [LINDQVIST, "Li Wu"]),
    ("Sparse attention for long context", "Attention over long documents.", ["Mia Chen"]),
    ("Long videos, short memories", "A model that watches long videos.", ["Tom Beck"]),
    ("Long horizon planning", "Agents plan over long horizons.", ["Sara Moss"]),
    ("Speech synthesis with diffusion", "A diffusion model speaks.", ["Ada Long"]),
    ("Reward models for math", "A reward model scores long chains of steps.", ["Jon Park"]),
    ("Retrieval for question answering", "Documents ground the answers.", ["Eva Ruiz"]),
    ("Speech enhancement in noise", "Denoising speech recordings.", ["Ken Ito"]),
]


@pytest.fixture
def embedder(load_embedder):
    return load_embedder(128)


def load(store, tmp_path):
    path = tmp_path / "names.jsonl"
    path.write_text(
        "\n".join(
            listing_line(
                paper(n, title=t, abstract=a, authors=authors), listing_date=f"2026-10-{10 + n}"
            )
            for n, (t, a, authors) in enumerate(PAPERS, start=1)
        )
    )
    run_ingest(store, JsonlSource(path), show_progress=False)


@pytest.fixture
def engine(fresh_db, tmp_path, embedder):
    load(fresh_db, tmp_path)
    search = SearchEngine(fresh_db, tmp_path / "data", embedder=embedder)
    for _ in embed_pending(fresh_db, embedder):
        pass
    search.refresh()
    return search


def numbers(results) -> list[int]:
    return [int(hit.paper.arxiv_id.split(".")[1]) for hit in results.hits]


def test_names_are_found_and_common_words_are_not(engine):
    assert engine.keyword.names_in(["Lindqvist"]) == [["lindqvist"]]
    assert engine.keyword.names_in(["greta", "LINDQVIST", "speech"]) == [["greta", "lindqvist"]]
    # Ada Long is an author, but more abstracts say long than authors are named Long.
    assert engine.keyword.names_in(["long", "context"]) == []
    assert engine.keyword.names_in(["ada", "long"]) == [["ada", "long"]]


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
@pytest.mark.parametrize("text", ["lindqvist", "Greta Lindqvist"])
def test_a_name_brings_the_authors_papers_first(engine, mode, text):
    assert sorted(numbers(engine.search(text, mode=mode))[:3]) == [1, 2, 3]


def test_a_name_and_a_topic_rank_the_authors_paper_on_the_topic_first(engine):
    found = numbers(engine.search("lindqvist speech"))
    assert found[0] == 1
    assert sorted(found[:3]) == [1, 2, 3]  # then the author's other papers
    assert {7, 10} <= set(found[3:])  # then others' papers on speech


def test_a_word_that_is_also_a_surname_stays_a_word(engine):
    found = numbers(engine.search("long context"))
    assert found[0] == 4
    assert found.index(7) > 3  # Ada Long's paper is not pulled up


def test_filters_split_from_and_compose_into_the_query_language():
    text, filters = split_filters('gan "has:x" cat:cs.CV since:2026-01 -cat:cs.LG has:code')
    assert text == 'gan "has:x" -cat:cs.LG'
    assert filters == Filters(category="cs.CV", since="2026-01", has_code=True)
    # The form's controls replace the text's own filters of the same kinds.
    composed = compose("gan cat:cs.CV until:2026-05", Filters(category="cs.CL", since="2026-02-01"))
    assert composed == "gan cat:cs.CL since:2026-02-01"
    assert compose("", Filters(has_code=True)) == "has:code"


def test_the_search_page_composes_redirects_counts_and_sorts(engine, fresh_db):
    with live_site(fresh_db, search=engine) as site:
        form = {"form": "true", "q": "speech cat:cs.LG", "cat": "cs.CL", "since": "2026-10-12"}
        sent = site.get("/search", params={**form, "until": "", "sort": "date", "mode": "keyword"})
        assert sent.status_code == 303
        target = urlsplit(sent.headers["location"])
        assert target.path == "/search"
        assert parse_qs(target.query) == {
            "q": ["speech cat:cs.CL since:2026-10-12"],
            "mode": ["keyword"],
            "sort": ["date"],
        }
        page = site.get(sent.headers["location"])
        assert page.status_code == 200
        assert "<option selected>cs.CL</option>" in page.text
        assert 'name="since" value="2026-10-12"' in page.text
        assert 'value="speech"' in page.text  # the text box holds the words, not the filters
        assert "2 results" in page.text
        assert '<time datetime="2026-10-20">' in page.text
        found = site.get("/search.json", params=parse_qs(target.query) | {}).json()
        assert [h["arxiv_id"] for h in found["hits"]] == ["2611.00010", "2611.00007"]
        assert found["total"] == 2 and found["sort"] == "date"
        # An id or an arXiv link opens the paper; an unknown one is an empty result.
        for text in ["2611.00003", "https://arxiv.org/abs/2611.00003v1"]:
            opened = site.get("/search", params={"q": text})
            assert opened.status_code == 303
            assert opened.headers["location"] == "/papers/2611.00003"
        assert "No papers match" in site.get("/search", params={"q": "2611.09999"}).text
        assert len(site.get("/search.json", params={"q": "2611.00003"}).json()["hits"]) == 1
        typo = site.get("/search", params={"q": "speach recognition"}).text
        assert 'Did you mean <a href="/search?q=speech%20recognition' in typo
        assert site.get("/search.json", params={"q": "speech"}).json()["did_you_mean"] is None
        help_text = site.get("/search").text
        assert "How to search" in help_text and "author:hinton" in help_text
        assert "lindqvist" in site.get("/search", params={"q": "Lindqvist"}).text.lower()
        # Every paper embedded: no coverage note.
        assert "still being embedded" not in site.get("/search", params={"q": "speech"}).text


def test_coverage_is_shown_while_papers_are_being_embedded(fresh_db, tmp_path, embedder):
    load(fresh_db, tmp_path)
    search = SearchEngine(fresh_db, tmp_path / "data", embedder=embedder)
    search.refresh()
    assert str(search.semantic_coverage()) == "semantic results cover 0 of 10 papers (0%)"
    assert coverage_in_store(fresh_db, embedder.model_id).embedded == 0
    with live_site(fresh_db, search=search) as site:
        page = site.get("/search", params={"q": "speech"}).text
        assert "semantic results cover 0 of 10 papers (0%); keyword results for now" in page
        assert "Semantic results cover 0 of 10 papers (0%)" in site.get("/about").text
        data = site.get("/search.json", params={"q": "speech"}).json()
        assert data["semantic_coverage"] == {"embedded": 0, "total": 10, "percent": 0.0}
    for _ in embed_pending(fresh_db, embedder):
        pass
    search.refresh()
    assert search.semantic_coverage().complete
    assert coverage_in_store(fresh_db, embedder.model_id).percent == 100.0


def test_papers_are_embedded_featured_first_then_newest(fresh_db, tmp_path, embedder):
    load(fresh_db, tmp_path)  # papers 1..10 listed on 2026-10-11 .. 2026-10-20
    daily = tmp_path / "2026-03-02.json"
    daily.write_text(json.dumps([hf_api_entry(paper(2)), hf_api_entry(paper(5))]))
    run_ingest(fresh_db, HfDailyFileSource(daily), show_progress=False)
    query = stale_papers(embedder.model_id).order_by(*readers_first())
    with fresh_db.engine.connect() as conn:
        ids = [row.id for row in conn.execute(query)]
        number = dict(conn.execute(sa.select(papers.c.id, papers.c.arxiv_id)).all())
    order = [int(number[i].split(".")[1]) for i in ids]
    assert order == [5, 2, 10, 9, 8, 7, 6, 4, 3, 1]


def test_did_you_mean_comes_from_the_index_vocabulary(engine):
    assert engine.search("difusion modle").did_you_mean == "diffusion model"
    assert engine.search("Speach cat:cs.CL").did_you_mean == "speech cat:cs.CL"
    # Known words, names and words under 4 letters are left alone.
    assert engine.search("speech lindqvist").did_you_mean is None
    assert engine.search("grap").did_you_mean == "graph"
    assert engine.search("gra").did_you_mean is None
