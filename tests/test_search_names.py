"""A query that names an author brings that author's papers first, in the default mode."""

import pytest

from paperfeed.index.embedder import Embedder
from paperfeed.index.vectors import embed_pending
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import listing_line, paper

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


@pytest.fixture(scope="module")
def embedder():
    return Embedder(max_tokens=128)


@pytest.fixture
def engine(fresh_db, tmp_path, embedder):
    path = tmp_path / "names.jsonl"
    path.write_text(
        "\n".join(
            listing_line(paper(n, title=t, abstract=a, authors=authors))
            for n, (t, a, authors) in enumerate(PAPERS, start=1)
        )
    )
    run_ingest(fresh_db, JsonlSource(path), show_progress=False)
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
