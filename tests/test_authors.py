"""Author pages and the one author matcher (issue 17, item 1): the matcher's rules,
the `paper_authors` rows ingest writes, search's author: through the matcher, and the
author pages on a slice of the real corpus (a prolific author, an ambiguous name) on both
engines, hostile names included."""

import gzip
import itertools
import json
from collections import Counter
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from paperfeed.authors import NameIndex, author_key, natural_order, parse_name, same_author
from paperfeed.query import parse_query
from paperfeed.records import PaperRecord
from paperfeed.services.ingest import run_ingest
from paperfeed.services.recommend_rank import shared_authors
from paperfeed.services.search import SearchEngine
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.authors import backfill_paper_authors
from paperfeed.store.migrations import MIGRATIONS
from paperfeed.store.papers import upsert_papers
from paperfeed.store.schema import paper_authors
from tests.feeds import listing_line, paper
from tests.helpers import site_in_process

SLICE = 3_000  # the first papers of arxiv-cs-daily: a few seconds to ingest


# --- the matcher ---


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Yann LeCun", "Y. LeCun"),  # initials
        ("Yann LeCun", "LeCun, Yann"),  # "Family, Given"
        ("Yann LeCun", "yann lecun"),  # case
        ("Jürgen Schmidhuber", "Jurgen Schmidhuber"),  # accents
        ("Søren Sørensen", "Soren Sorensen"),  # letters NFKD keeps whole
        ("Jean-Pierre Dupont", "J.-P. Dupont"),  # hyphenated given names, initials
        ("Yann A. LeCun", "Yann LeCun"),  # middle initials are not compared
        ("José García-López", "J. Garcia-Lopez"),  # a hyphenated family name
        ("Jan van der Berg", "J. van der Berg"),  # particles
        ("Smith, Jr., John", "John Smith"),  # suffixes
        ("Conan O'Brien", "C. OBrien"),  # apostrophes
    ],
)
def test_names_the_matcher_takes_for_one_author(a, b):
    assert same_author(a, b) and same_author(b, a)
    assert author_key(a) == author_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Yang Liu", "Yi Liu"),  # one key, two first names: two authors
        ("Yann LeCun", "Yann Dauphin"),
        ("Yann LeCun", "Zoe LeCun"),
        ("Wei Zhang", "Zhang Wei"),  # order is not guessed without a comma
    ],
)
def test_names_the_matcher_keeps_apart(a, b):
    assert not same_author(a, b)


def test_keys_first_names_and_hostile_input():
    assert parse_name("LeCun, Yann").key == "y lecun"
    assert parse_name("LeCun, Yann").first == "yann"
    assert parse_name("Y. LeCun").initials_only
    assert natural_order("LeCun, Yann") == "Yann LeCun"
    for nothing in ["", "   ", "...", "-", "1234", "x" * 201, "\x00\x01"]:
        assert parse_name(nothing) is None
        assert NameIndex([nothing]).ids == {}
    assert parse_name("王小明").key == "王小明"  # a one-word name is its own key


def test_a_name_index_matches_by_the_same_rules():
    known = NameIndex(["Yann LeCun", "LeCun, Yann", "Y. Liu", "Yang Liu", "Ada Lovelace"])
    assert len(known.ids) == 4  # Yann LeCun once
    assert known.matches("Y. LeCun") == [known.ids["yann lecun"]]
    assert sorted(known.matches("Yi Liu")) == [known.ids["y liu"]]  # not Yang Liu
    assert sorted(known.matches("Y Liu")) == sorted([known.ids["y liu"], known.ids["yang liu"]])
    assert known.matches("Grace Hopper") == [] and known.matches("...") == []
    shared = shared_authors(
        [["Y. LeCun", "Zoe Park"], ["Yi Liu"], ["Grace Hopper"]],
        [["Yann LeCun", "Y. Liu"], ["Yang Liu"]],
    )
    assert shared.tolist() == [[1, 0], [1, 0], [0, 0]]


# --- the rows ingest writes, and search's author: ---

NAMED = [
    ("Convolutional networks", ["Yann LeCun", "Léon Bottou"]),
    ("Energy-based models", ["Y. LeCun", "Sumit Chopra"]),
    ("Gradient-based learning", ["LeCun, Yann", "Yoshua Bengio"]),
    ("Dropout on graphs", ["Yi Liu"]),
    ("Scaling laws for vision", ["Yang Liu", "Leon Bottou"]),
]


def _load(store, tmp_path, items=NAMED):
    path = tmp_path / "named.jsonl"
    path.write_text(
        "\n".join(
            listing_line(paper(n, title=t, abstract=t, authors=a), f"2026-10-{10 + n}")
            for n, (t, a) in enumerate(items, start=1)
        )
    )
    run_ingest(store, JsonlSource(path), show_progress=False)


def _author_rows(store):
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(paper_authors.c.name, paper_authors.c.key, paper_authors.c.first).order_by(
                paper_authors.c.paper_id, paper_authors.c.position
            )
        ).all()


def test_ingest_writes_author_rows_and_the_backfill_rebuilds_them(fresh_db, tmp_path):
    _load(fresh_db, tmp_path)
    rows = _author_rows(fresh_db)
    assert rows[0] == ("Yann LeCun", "y lecun", "yann")
    assert ("Y. LeCun", "y lecun", None) in rows
    assert ("LeCun, Yann", "y lecun", "yann") in rows
    # A new version with other authors replaces the rows.
    revised = PaperRecord("2611.00001", "Convolutional networks", "Revised.", ["Léon Bottou"], 9)
    with fresh_db.engine.begin() as conn:
        upsert_papers(conn, [revised], "arxiv")
    assert [r.name for r in _author_rows(fresh_db)][:1] == ["Léon Bottou"]
    with fresh_db.engine.begin() as conn:  # what migration 13 does to a store that had none
        conn.execute(paper_authors.delete())
        backfill_paper_authors(conn)
    assert len(_author_rows(fresh_db)) == 8


def test_migration_13_adds_the_tables_and_backfills_the_authors(db_url, tmp_path):
    """A store from before version 13 (and without this branch's neighbours 9 to 12)."""
    with Store(db_url) as store:
        _load(store, tmp_path)
        with store.engine.begin() as conn:
            for table in ("author_claims", "feed_tokens", "follows", "paper_authors"):
                conn.exec_driver_sql(f"DROP TABLE {table}")
            conn.exec_driver_sql("DELETE FROM schema_migrations WHERE version >= 9")
    with Store(db_url) as store:
        rows = _author_rows(store)
        with store.engine.connect() as conn:
            versions = set(conn.exec_driver_sql("SELECT version FROM schema_migrations").scalars())
            assert sa.inspect(conn).has_table("author_claims")
    assert len(rows) == 9 and ("Y. LeCun", "y lecun", None) in rows
    assert {version for version, _, _ in MIGRATIONS if version >= 9} <= versions


def test_search_author_goes_through_the_matcher(fresh_db, tmp_path, load_embedder):
    _load(fresh_db, tmp_path)
    search = SearchEngine(fresh_db, tmp_path / "data", embedder=load_embedder(64))
    search.keyword.catch_up(fresh_db)

    def titles(query):
        return sorted(h.paper.title for h in search.search(query, mode="keyword", limit=10).hits)

    lecun = ["Convolutional networks", "Energy-based models", "Gradient-based learning"]
    assert titles('author:"Yann LeCun"') == lecun
    assert titles('author:"LeCun, Yann"') == lecun
    assert titles("author:Y.LeCun") == lecun
    assert titles('author:"Yi Liu"') == ["Dropout on graphs"]  # not Yang Liu
    assert titles('author:"Y. Liu"') == ["Dropout on graphs", "Scaling laws for vision"]
    # Accents folded: Léon and Leon are one.
    assert titles('author:"Leon Bottou"') == ["Convolutional networks", "Scaling laws for vision"]
    assert parse_query('author:"LeCun, Yann"').authors == [["Yann", "LeCun"]]


# --- author pages on the real corpus ---


@pytest.fixture(scope="module")
def real_site(module_db_url, shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("authors")
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, SLICE)]
    (folder / "slice.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    with Store(module_db_url) as store:
        run_ingest(store, JsonlSource(folder / "slice.jsonl"), show_progress=False)
        with site_in_process(store) as client:
            yield client, records


def test_a_prolific_authors_page(real_site):
    client, records = real_site
    counts = Counter(a for r in records for a in set(r["authors"]))
    name, count = counts.most_common(1)[0]
    listed = {r["arxiv_id"] for r in records if name in r["authors"]}
    page = client.get(f"/authors/{quote(name)}.json").json()
    shown = [p["arxiv_id"] for p in page["papers"]]
    assert count >= 10 and listed <= set(shown)  # every paper that writes the name
    # Any other paper shown writes a name the matcher takes for this one.
    for p in page["papers"]:
        assert any(same_author(name, a) for a in p["authors"])
    days = [p["announced_date"] or p["published_at"][:10] for p in page["papers"]]
    assert days == sorted(days, reverse=True)  # newest first
    assert page["total_papers"] == len(shown)
    assert page["total_votes"] == sum(p["upvotes"] for p in page["papers"])
    coauthor = page["coauthors"][0]["name"]
    assert sum(coauthor in p["authors"] for p in page["papers"]) >= page["coauthors"][0]["papers"]
    years = page["categories_by_year"]
    assert sum(sum(y["counts"].values()) for y in years) == len(shown)
    html = client.get(f"/authors/{quote(name)}")
    assert html.status_code == 200
    assert f'href="/authors/{quote(coauthor)}"' in html.text  # co-authors are linked
    assert "Papers by primary category and year" in html.text
    feed = client.get(f"/feeds/authors/{quote(name)}.atom")
    assert feed.status_code == 200 and feed.text.count("<entry>") == len(shown)


def test_an_ambiguous_name_says_so_and_lists_the_names(real_site):
    client, records = real_site
    firsts: dict[str, Counter] = {}
    for r in records:
        for a in r["authors"]:
            if (name := parse_name(a)) and name.first:
                firsts.setdefault(name.key, Counter())[name.full] += 1
    key, names = max(firsts.items(), key=lambda kv: (len(kv[1]), kv[0]))
    initial, family = key.split(" ")
    asked = f"{initial.upper()}. {family.title()}"  # "Y. Wang"
    page = client.get(f"/authors/{quote(asked)}.json").json()
    assert page["ambiguous"] and page["ambiguous_total"] == len(names)
    assert {parse_name(v["name"]).full for v in page["ambiguous_with"]} <= set(names)
    html = client.get(f"/authors/{quote(asked)}").text
    assert "This name is ambiguous" in html
    top = page["ambiguous_with"][0]["name"]
    assert f'href="/authors/{quote(top)}"' in html
    # One of those full names: ambiguous exactly when some paper gives the key by initials
    # only (its page lists those papers too, since they may be theirs).
    by_initials = {
        r["arxiv_id"]
        for r in records
        for a in r["authors"]
        if (name := parse_name(a)) and name.key == key and name.initials_only
    }
    full = client.get(f"/authors/{quote(top)}.json").json()
    assert full["ambiguous"] == bool(by_initials)
    assert by_initials <= {p["arxiv_id"] for p in full["papers"]}
    assert full["total_papers"] == page["ambiguous_with"][0]["papers"] + len(by_initials)


def test_every_author_name_in_a_list_links_to_the_page(real_site):
    client, records = real_site
    day = client.get("/").text
    assert day.count('href="/authors/') >= 10
    paper_page = client.get(f"/papers/{records[0]['arxiv_id']}").text
    assert f'href="/authors/{quote(records[0]["authors"][0])}"' in paper_page


@pytest.mark.parametrize(
    "name",
    [
        "...",
        "%00",
        "x" * 250,
        "Nobody%20Atall",
        "%3Cscript%3E",
        "%27%3B%20DROP%20TABLE",
        "%E2%80%AE",
    ],
)
def test_hostile_or_unknown_names_are_404_not_500(real_site, name):
    client, _ = real_site
    for path in (f"/authors/{name}", f"/authors/{name}.json", f"/feeds/authors/{name}.atom"):
        assert client.get(path).status_code in (400, 404), path


# --- For you beyond co-authorship: the evaluation's view ---


def test_beyond_coauthorship_keeps_papers_sharing_no_author_with_the_likes():
    from datetime import date

    import numpy as np

    from paperfeed.services.recommend_eval import EvalCorpus, EvalUser, beyond_coauthorship

    day = date(2026, 1, 1)
    authors = [
        ["Yann LeCun"],  # 0: liked
        ["Y. LeCun", "Ada Lovelace"],  # 1: a later paper by the same author (initials)
        ["Grace Hopper"],  # 2: a later paper by nobody they liked
        ["Alan Turing"],  # 3: another, not in the truth
    ]
    corpus = EvalCorpus(
        paper_ids=np.arange(4),
        vectors=np.zeros((4, 384), dtype=np.float32),
        texts=["a", "b", "c", "d"],
        authors=authors,
        upvotes=np.zeros(4, dtype=np.int64),
        last_featured=[day] * 4,
        users=[
            EvalUser("fan", liked=[0], truth={1, 2}, split_day=day),
            EvalUser("self", liked=[0], truth={1}, split_day=day),  # nothing left: drops out
        ],
        curators=[],
    )
    assert corpus.candidates(corpus.users[0]).tolist() == [1, 2, 3]
    beyond = beyond_coauthorship(corpus)
    (fan,) = beyond.users
    assert fan.truth == {2}
    assert beyond.candidates(fan).tolist() == [2, 3]
