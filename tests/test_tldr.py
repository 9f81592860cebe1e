"""One-line summaries (TL;DR): the sentence splitter, the sentence chosen, storage and the
indexing job on both engines, where readers see it (lists, paper pages, .json, the API,
Atom, digests), and `paperfeed eval tldr` on a small file written here and on the real
Hugging Face daily papers (slow)."""

from __future__ import annotations

import json
from datetime import date

import feedparser
import pytest
import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.records import PaperRecord
from paperfeed.services import tldr as tldr_service
from paperfeed.services.digest_compose import Section, digest_message
from paperfeed.services.digest_periods import Period
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.paper_views import get_paper
from paperfeed.services.search import SearchEngine
from paperfeed.services.tldr import (
    MAX_TLDR_CHARS,
    choose_tldr,
    count_stale_tldrs,
    split_sentences,
    summarize_pending,
    trim_lead_in,
)
from paperfeed.services.tldr_weights import HELD_OUT_FROM, METHOD
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.migrations import LATEST_VERSION, current_version
from paperfeed.store.papers import upsert_papers
from paperfeed.store.schema import paper_tldrs, schema_migrations
from tests.feeds import hf_api_entry, listing_line, paper
from tests.helpers import SHARED_DATA, UNCACHED, Cli, site_in_process

# --- The splitter ---


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "We use e.g. BERT and i.e. GPT. It works.",
            ["We use e.g. BERT and i.e. GPT.", "It works."],
        ),
        (
            "Smith et al. (2020) report 3.5% gains. Jones et al. Show more.",
            ["Smith et al. (2020) report 3.5% gains.", "Jones et al. Show more."],
        ),
        (
            "See Fig. 2 and Eq. 3 for details. Tab. 4 lists results. Done!",
            ["See Fig. 2 and Eq. 3 for details.", "Tab. 4 lists results.", "Done!"],
        ),
        (
            "Accuracy rose from 0.91 to 0.95. Why? Because of v2.1. The U.S. Army agrees.",
            [
                "Accuracy rose from 0.91 to 0.95.",
                "Why?",
                "Because of v2.1.",
                "The U.S. Army agrees.",
            ],
        ),
        (
            'We follow J. R. Smith (cf. Sec. 4). "Quoted" text starts here. (A remark.) End',
            [
                "We follow J. R. Smith (cf. Sec. 4).",
                '"Quoted" text starts here.',
                "(A remark.)",
                "End",
            ],
        ),
        ("  spaced\n\nout   text.  Next one.  ", ["spaced out text.", "Next one."]),
        ("", []),
        ("no full stop at all", ["no full stop at all"]),
    ],
)
def test_splitter_hard_cases(text, sentences):
    assert split_sentences(text) == sentences


# --- The sentence chosen ---

TITLE = "GraphSketch: Sketching Graph Streams in Constant Memory"
ABSTRACT = (
    "Graph streams arrive faster than most systems can store them. "
    "Existing sketches remain limited to counting edges and struggle with connectivity. "
    "In this paper, we propose GraphSketch, a sketch of graph streams that answers "
    "connectivity queries in constant memory. "
    "On five benchmarks it is 3.2x faster than the best baseline with 41% less memory. "
    "Our code is available at https://example.org/graphsketch."
)


def test_the_contribution_sentence_wins_and_its_lead_in_is_cut():
    assert choose_tldr(TITLE, ABSTRACT) == (
        "We propose GraphSketch, a sketch of graph streams that answers connectivity "
        "queries in constant memory."
    )


def test_neither_background_nor_code_links_win():
    background_first = (
        "However, existing methods remain limited and suffer from drift. "
        "We introduce DriftGuard, which detects concept drift in data streams with "
        "calibrated tests. "
        "Code is available at https://example.org/x."
    )
    assert choose_tldr("DriftGuard: Detecting Concept Drift", background_first).startswith(
        "We introduce DriftGuard"
    )


def test_lead_in_is_kept_when_little_would_remain():
    assert trim_lead_in("To this end, we win.") == "To this end, we win."
    assert trim_lead_in("To address this issue, we design a fast sketch of streams.") == (
        "We design a fast sketch of streams."
    )


def test_edge_cases_of_abstracts():
    assert choose_tldr("Title", "") is None
    assert choose_tldr("Title", "   ") is None
    assert choose_tldr("Title", "One sentence only") == "One sentence only"
    # Hostile abstracts at the size records allow: one long token, thousands of "e.g.".
    for hostile in ("x" * 19_990 + ". Yes.", "e.g. A " * 2_800, "A. " * 6_600):
        assert len(choose_tldr("Title", hostile)) <= MAX_TLDR_CHARS + 1
    run_on = "word " * 2000
    tldr = choose_tldr("Title", run_on)
    assert tldr.endswith("…") and len(tldr) <= MAX_TLDR_CHARS + 1


# --- Storage and the indexing job, on both engines ---


def _ingest_listing(store: Store, folder, papers: list[dict]) -> None:
    listing = folder / "listing.jsonl"
    listing.write_text("\n".join(listing_line(p, "2026-11-03") for p in papers))
    run_ingest(store, JsonlSource(listing), show_progress=False)


def _stored(store: Store) -> dict[int, tuple[str, str | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(paper_tldrs.c.paper_id, paper_tldrs.c.method, paper_tldrs.c.tldr)
        )
        return {r.paper_id: (r.method, r.tldr) for r in rows}


def test_tldrs_are_stored_once_and_again_after_a_change(fresh_db, tmp_path, monkeypatch):
    monkeypatch.setattr(tldr_service, "BATCH", 2)  # two batches, the second after the first
    _ingest_listing(
        fresh_db,
        tmp_path,
        [paper(1, title=TITLE, abstract=ABSTRACT), paper(2), paper(3, abstract="")],
    )
    assert count_stale_tldrs(fresh_db) == 3
    assert list(summarize_pending(fresh_db)) == [2, 3]
    assert count_stale_tldrs(fresh_db) == 0 and list(summarize_pending(fresh_db)) == []
    stored = _stored(fresh_db)
    assert {method for method, _ in stored.values()} == {METHOD}
    with fresh_db.engine.connect() as conn:
        assert get_paper(conn, "2611.00001").tldr.startswith("We propose GraphSketch")
        assert get_paper(conn, "2611.00002").tldr == "We study problem 2."
        assert get_paper(conn, "2611.00003").tldr is None  # no abstract, no sentence
    # A new version of one abstract: that paper alone is summarized again.
    v2 = PaperRecord("2611.00002", "A title", "Totally new text here. Second.", ["Ada"], version=2)
    with fresh_db.write() as conn:
        upsert_papers(conn, [v2], "arxiv")
    assert count_stale_tldrs(fresh_db) == 1
    assert list(summarize_pending(fresh_db)) == [1]
    with fresh_db.engine.connect() as conn:
        assert get_paper(conn, "2611.00002").tldr == "Totally new text here."


def test_migration_10_adds_the_table_to_an_older_store(db_url):
    Store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE paper_tldrs"))
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version == 10))
    engine.dispose()
    with Store(db_url) as store, store.engine.connect() as conn:
        assert sa.inspect(conn).has_table("paper_tldrs")
        assert current_version(conn) == LATEST_VERSION
        assert 10 in set(conn.execute(sa.select(schema_migrations.c.version)).scalars())


# --- Where readers see it: one small site per engine ---


@pytest.fixture(scope="module")
def tldr_site(module_db_url, tmp_path_factory, load_embedder):
    folder = tmp_path_factory.mktemp("tldr-site")
    with Store(module_db_url) as store:
        _ingest_listing(store, folder, [paper(1, title=TITLE, abstract=ABSTRACT), paper(2)])
        daily = folder / "2026-11-04.json"
        entry = hf_api_entry(paper(1, title=TITLE, abstract=ABSTRACT), upvotes=9)
        entry["paper"]["ai_summary"] = "GraphSketch answers connectivity in constant memory."
        entry["paper"]["ai_keywords"] = ["graph streams", "sketching"]
        daily.write_text(json.dumps([entry]))
        run_ingest(store, HfDailyFileSource(daily), show_progress=False)
        search = SearchEngine(store, folder / "data", embedder=load_embedder())
        update_indexes(search)  # the indexing job summarizes what it finds
        with site_in_process(store, search=search, settings=UNCACHED) as client:
            yield client


WANTED = (
    "We propose GraphSketch, a sketch of graph streams that answers connectivity queries "
    "in constant memory."
)


def test_lists_and_the_paper_page_show_it(tldr_site):
    for path in ("/", "/papers/date/2026-11-03", "/papers/2611.00001"):
        page = tldr_site.get(path).text
        assert '<span class="tldr-label"' in page and WANTED in page, path
    page = tldr_site.get("/papers/2611.00001").text
    # Hugging Face's own summary and keywords, labelled as theirs, beside ours.
    assert "Hugging Face AI summary" in page and "constant memory.</p>" in page
    assert "Hugging Face AI keywords" in page and "graph streams" in page


def test_json_twins_and_the_api_carry_it(tldr_site):
    assert tldr_site.get("/papers/2611.00001.json").json()["tldr"] == WANTED
    day = tldr_site.get("/papers/date/2026-11-03.json").json()
    assert {p["arxiv_id"]: p["tldr"] for p in day["papers"]} == {
        "2611.00001": WANTED,
        "2611.00002": "We study problem 2.",
    }
    assert tldr_site.get("/api/papers/2611.00001").json()["tldr"] == WANTED


def test_atom_summary_is_the_tldr_and_content_the_abstract(tldr_site):
    feed = feedparser.parse(tldr_site.get("/feeds/daily.atom").content)
    entry = feed.entries[0]
    assert entry.summary == WANTED
    assert entry.content[0].value == ABSTRACT


def test_digests_show_it(db_url, tmp_path):
    with Store(db_url) as store:
        _ingest_listing(store, tmp_path, [paper(1, title=TITLE, abstract=ABSTRACT)])
        list(summarize_pending(store))
        with store.engine.connect() as conn:
            found = get_paper(conn, "2611.00001")
    period = Period("daily:2026-11-04", "daily", date(2026, 11, 4), date(2026, 11, 4))
    message = digest_message(
        Settings(),
        "reader@example.org",
        period,
        [Section("Trending", [found])],
        "<m@x>",
        "http://u",
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"TL;DR: {WANTED}" in text
    assert "<strong>TL;DR</strong> We propose GraphSketch" in html


# --- paperfeed eval tldr ---


def _daily_line(n: int, day: str, title: str, abstract: str, summary: str | None) -> str:
    return json.dumps(
        {
            "daily_date": day,
            "arxiv_id": f"2603.{n:05d}",
            "title": title,
            "abstract": abstract,
            "authors": ["Ada Example"],
            "upvotes": 3,
            "num_comments": 0,
            "ai_summary": summary,
        }
    )


def test_eval_tldr_on_a_small_file(tmp_path):
    later = HELD_OUT_FROM.replace(day=HELD_OUT_FROM.day + 1).isoformat()
    earlier = HELD_OUT_FROM.replace(year=HELD_OUT_FROM.year - 1).isoformat()
    summary = "GraphSketch answers connectivity queries on graph streams in constant memory."
    lines = [
        _daily_line(1, later, TITLE, ABSTRACT, summary),
        _daily_line(
            2,
            later,
            "Plain title",
            "First sentence here. Plain title words again.",
            "Plain title words.",
        ),
        _daily_line(3, later, "No summary", "Some text. More text.", None),  # not scored
        _daily_line(4, earlier, TITLE, ABSTRACT, summary),  # the training range: not scored
        "{not json",
    ]
    path = tmp_path / "daily.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = Cli("sqlite:///unused.db")("eval", "tldr", str(path), "--json")
    assert result.exit_code == 0, result.output
    out = result.stdout.strip().splitlines()
    assert any(line.startswith("2 papers with a Hugging Face AI summary") for line in out)
    assert any("tldr rougeL / best baseline" in line for line in out)
    last = json.loads(out[-1])
    assert last["papers"] == 2 and last["held_out_from"] == HELD_OUT_FROM.isoformat()
    for key in ("tldr", "first_sentence", "last_sentence", "title_overlap"):
        assert set(last[key]) == {"rouge1", "rouge2", "rougeL"}
        assert 0 <= last[key]["rougeL"] <= 1
    # On the crafted abstract the TL;DR finds the contribution the first sentence misses.
    assert last["tldr"]["rougeL"] > last["first_sentence"]["rougeL"]
    assert "rejected" in result.stderr and ":5" in result.stderr


def test_eval_tldr_with_nothing_held_out_is_one_line(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text(_daily_line(1, "2024-06-03", TITLE, ABSTRACT, "A summary.") + "\n")
    result = Cli("sqlite:///unused.db")("eval", "tldr", str(path))
    assert result.exit_code == 1
    assert "no papers with a Hugging Face AI summary listed on or after" in result.output


@pytest.mark.slow
def test_eval_tldr_on_the_real_daily_papers_beats_the_best_baseline_by_ten_percent():
    path = SHARED_DATA / "hf-daily-papers" / "hf_daily_papers.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    result = Cli("sqlite:///unused.db")("eval", "tldr", str(path), "--json")
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["papers"] > 2000
    best = max(last[k]["rougeL"] for k in ("first_sentence", "last_sentence", "title_overlap"))
    assert last["tldr"]["rougeL"] >= 1.1 * best
