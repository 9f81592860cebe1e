"""Trends (issue 16): counts per period checked by hand against a slice of the real corpus,
the page's JSON, CSV and SVG twins, bounds, votes, the rising topics' statistic on a
crafted corpus, the indexing job that computes them, and `paperfeed trends`."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from paperfeed.query import QueryError
from paperfeed.services import community
from paperfeed.services.accounts import create_user
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.rising import (
    MIN_RECENT_PAPERS,
    log_odds_z,
    phrases_of,
    rank_rising,
    refresh_rising,
    rising_topics,
)
from paperfeed.services.search import SearchEngine
from paperfeed.services.trends import MAX_QUERIES, trends
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import rising_runs
from tests.feeds import hf_api_entry, listing_line, paper
from tests.helpers import UNCACHED, Cli, site_in_process

SLICE = 3_000  # the first listing records: 2025-03-18 to early April (ISO weeks 12-14)
# Words whose English stem is "diffus" (tantivy's en_stem), as the slice spells them.
DIFFUS = {"diffusion", "diffusions", "diffuse", "diffused", "diffuses", "diffusing"}
DIFFUS |= {"diffusive", "diffuser", "diffusers", "diffusivity"}


@pytest.fixture(scope="module")
def real(module_db_url, shared_data, tmp_path_factory):
    """The slice in a store (both engines) with its keyword index, and its records."""
    folder = tmp_path_factory.mktemp("trends-real")
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, SLICE)]
    (folder / "slice.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    with Store(module_db_url) as store:
        run_ingest(store, JsonlSource(folder / "slice.jsonl"), show_progress=False)
        engine = SearchEngine(store, None)
        engine.keyword.catch_up(store)
        yield engine, records


@pytest.fixture(scope="module")
def site(real):
    """The site over the slice, shared by the tests that only read it."""
    engine, _ = real
    with site_in_process(engine.store, search=engine, settings=UNCACHED) as client:
        yield client


def _week(record: dict) -> str:
    year, week, _ = date.fromisoformat(record["listing_date"]).isocalendar()
    return f"{year}-W{week:02d}"


def _by_hand(records: list[dict], week: str, category: str | None = None) -> tuple[int, int]:
    """(papers of the week, those saying a word stemmed "diffus"), counted here from the
    records themselves: words as the index splits them (letters and digits), lower case."""
    of_week = [r for r in records if _week(r) == week]
    matching = [
        r
        for r in of_week
        if DIFFUS & set(re.findall(r"[^\W_]+", f"{r['title']} {r['abstract']}".lower()))
        and (category is None or category in r["categories"])
    ]
    return len(of_week), len(matching)


@pytest.mark.parametrize("week", ["2025-W12", "2025-W13"])
def test_counts_of_two_weeks_match_a_count_by_hand(real, week):
    engine, records = real
    result = trends(engine, ["diffusion", "diffusion cat:cs.CV"], by="week")
    at = [p.label for p in result.periods].index(week)
    papers, matching = _by_hand(records, week)
    _, in_cv = _by_hand(records, week, "cs.CV")
    assert result.periods[at].papers == papers > 800
    assert result.series[0].counts[at] == matching > 100
    assert result.series[1].counts[at] == in_cv > 30
    assert result.series[0].shares[at] == pytest.approx(matching / papers)


def test_months_hold_what_the_weeks_hold(real):
    engine, records = real
    result = trends(engine, ["diffusion"], by="month", since="2025-03", until="2025-04")
    assert [p.label for p in result.periods] == ["2025-03", "2025-04"]
    march = [r for r in records if r["listing_date"].startswith("2025-03")]
    assert result.periods[0].papers == len(march)
    assert sum(p.papers for p in result.periods) == len(records)


def test_the_json_twin_has_one_series_per_query_and_a_point_per_period(site):
    answer = site.get("/trends.json?q=diffusion")
    assert answer.status_code == 200
    body = answer.json()
    assert [s["query"] for s in body["series"]] == ["diffusion"]
    assert body["by"] == "month" and len(body["periods"]) == 24
    assert body["periods"][-1]["period"] == "2025-04"  # the clock follows the papers
    points = body["series"][0]["points"]
    assert [p["period"] for p in points] == [p["period"] for p in body["periods"]]
    assert body["series"][0]["total"] == sum(p["count"] for p in points) > 300
    two = site.get("/trends.json?q=diffusion&q=transformer&by=week").json()
    assert len(two["series"]) == 2 and len(two["periods"]) == 26
    assert all(len(s["points"]) == 26 for s in two["series"])
    page = site.get("/trends?q=diffusion&q=transformer&by=week")
    assert page.status_code == 200
    assert '<table class="trend-table">' in page.text and "2025-W13" in page.text
    assert "/trends.svg?q=diffusion&amp;q=transformer&amp;by=week" in page.text


def test_the_csv_twin_holds_the_same_numbers(site):
    query = "?q=diffusion&q=-survey+cat:cs.CL&by=week&since=2025-03-17&until=2025-04-06"
    body = site.get("/trends.json" + query).json()
    answer = site.get("/trends.csv" + query)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 2 * 3  # two queries, three weeks
    # A query starting with "-" is written so that no spreadsheet reads it as a formula.
    assert {r["query"] for r in rows} == {"diffusion", "'-survey cat:cs.CL"}
    for series, query_rows in zip(body["series"], (rows[:3], rows[3:]), strict=True):
        assert [int(r["count"]) for r in query_rows] == [p["count"] for p in series["points"]]
        assert [r["period"] for r in query_rows] == ["2025-W12", "2025-W13", "2025-W14"]


def test_the_chart_is_an_svg_from_the_site(site):
    for size in ("wide", "narrow"):
        answer = site.get(f"/trends.svg?q=diffusion&q=transformer&size={size}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/svg+xml"
        assert answer.content.lstrip().startswith(b"<?xml") and b"<svg" in answer.content
        assert b"<script" not in answer.content


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("&".join(["q=diffusion"] * (MAX_QUERIES + 1)), "at most 6 queries"),
        ("q=" + "diffusion+" * 300, "at most 200 characters"),
        ("q=diffusion&by=week&since=2000-01", "at most 156 periods"),
        ("q=diffusion&since=2025-04&until=2025-03", "is after"),
        ("q=diffusion&by=year", "by"),
        ("q=diffusion&view=pie&size=wide", "view"),
        ("q=diffusion&since=2025-13", "not a date"),
        ("q=since:20251", "not a date"),
        ("q=2503.11677", "arXiv id"),
        ("q=diffusion&until=9999-12", "dates from 1900"),
    ],
)
def test_bounds_are_refused_with_a_400(site, query, message):
    paths = ["/trends.json", "/trends.svg", "/trends"]
    paths += ["/trends.csv"] if "view=" not in query else []  # the CSV holds every view
    for path in paths:
        answer = site.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.status_code)
    assert message in site.get(f"/trends.json?{query}").json()["error"]


def test_the_service_refuses_what_the_edge_does(real):
    engine, _ = real
    with pytest.raises(QueryError, match="at most 6"):
        trends(engine, [f"q{i}" for i in range(7)])
    with pytest.raises(QueryError, match="unknown period"):
        trends(engine, ["diffusion"], by="day")


# --- Crafted papers: votes, rising topics, the job, the CLI ---

CLOCK = date(2026, 6, 28)
RECENT = [CLOCK - timedelta(days=d) for d in range(0, 28, 2)]  # 14 days of the last 4 weeks
BEFORE = [CLOCK - timedelta(days=d) for d in range(30, 112, 2)]  # 41 days of the 12 before


def _crafted() -> list[tuple[dict, str]]:
    """(paper, listing day): 3 papers a day. "sparse autoencoders" rises (14 of 42 recent
    papers, 5 of 123 before); "quantum gravity" is new but in 3 papers only; "graph neural
    networks" is in a third of the papers in both windows."""
    made, n = [], 0
    for days, rising_every in ((RECENT, 1), (BEFORE, 10)):
        for i, day in enumerate(days):
            for j in range(3):
                n += 1
                topic = "graph neural networks" if j == 0 else "robust optimisation"
                extra = ""
                if j == 1 and i % rising_every == 0:
                    extra = " Sparse autoencoders."
                if days is RECENT and j == 2 and i < 3:
                    extra = " Toward quantum gravity."
                abstract = f"We study {topic} on benchmark tasks.{extra}"
                made.append((paper(n, title=f"Paper {n} about {topic}", abstract=abstract), day))
    return made


def _fill(store: Store, folder, embedder=None) -> SearchEngine:
    listing = folder / "crafted.jsonl"
    listing.write_text("\n".join(listing_line(p, d.isoformat()) for p, d in _crafted()))
    run_ingest(store, JsonlSource(listing), show_progress=False)
    return SearchEngine(store, None, embedder=embedder)


def test_votes_are_the_upvotes_of_the_matching_papers(db_url, tmp_path):
    with Store(db_url) as store:
        engine = _fill(store, tmp_path)
        crafted = _crafted()
        # Two papers about graph neural networks in June and one about optimisation,
        # featured on Hugging Face with upvotes; one local vote on the first.
        gnn_june = [p for p, d in crafted if d.month == 6 and "graph" in p["title"]][:2]
        other = next(p for p, d in crafted if d.month == 6 and "robust" in p["title"])
        daily = tmp_path / "2026-06-20.json"
        entries = [hf_api_entry(gnn_june[0], upvotes=7, day="2026-06-20")]
        entries += [hf_api_entry(gnn_june[1], upvotes=5, day="2026-06-20")]
        entries += [hf_api_entry(other, upvotes=100, day="2026-06-20")]
        daily.write_text(json.dumps(entries))
        run_ingest(store, HfDailyFileSource(daily), show_progress=False)
        with store.write() as conn:
            user = create_user(conn, "reader", "reader@example.org", "correct horse")
            community.set_vote(conn, user.id, gnn_june[0]["arxiv_id"], True)
        engine.keyword.catch_up(store)
        result = trends(engine, ['"graph neural networks"'], by="month", until="2026-06")
    june = [p.label for p in result.periods].index("2026-06")
    assert result.series[0].votes[june] == 7 + 1 + 5
    assert sum(result.series[0].votes) == 13
    papers_in_june = sum(1 for _, d in _crafted() if d.month == 6)
    assert result.periods[june].papers == papers_in_june
    assert result.series[0].counts[june] == papers_in_june // 3


def test_phrases_are_clauses_words_without_stopwords_at_their_edges():
    found = phrases_of("Chain of thought\nhelps. The 3 models of 2026: sparse attention")
    assert {"chain of thought", "chain", "thought", "sparse attention", "models"} <= found
    assert "helps the" not in found and "thought helps" not in found  # a title's end
    assert not {"of", "the", "3", "of thought", "helps the models"} & found


def test_a_phrase_seen_three_times_is_not_crowned():
    """Even never seen before, 3 papers of 1,000 give a wide interval: z about 1.4."""
    delta, z = log_odds_z(3, 1_000, 0, 3_000)
    assert delta > 2 and z < 1.96
    recent = {"quantum gravity": 3, "sparse autoencoders": 40, "graph": 300}
    before = {"sparse autoencoders": 30, "graph": 900}
    ranked = rank_rising(recent, before, 1_000, 3_000)
    assert [r.phrase for r in ranked] == ["sparse autoencoders"]
    assert ranked[0].z_score > 5 and ranked[0].recent_papers == 40


def test_rising_topics_on_a_crafted_corpus(db_url, tmp_path):
    with Store(db_url) as store:
        _fill(store, tmp_path)
        assert refresh_rising(store) is True
        with store.engine.connect() as conn:
            run, rising = rising_topics(conn)
    assert run.clock == CLOCK and (run.recent_total, run.before_total) == (42, 123)
    assert rising[0].phrase == "sparse autoencoders"  # not "sparse", nor "autoencoders"
    assert (rising[0].recent_papers, rising[0].before_papers) == (14, 5)
    phrases = {r.phrase for r in rising}
    assert not any("quantum" in p or "gravity" in p for p in phrases)  # 3 papers: no
    assert not any("graph" in p for p in phrases)  # a third of the papers, as before
    assert all(r.recent_papers >= MIN_RECENT_PAPERS for r in rising)


def test_the_indexing_job_computes_rising_topics_once_per_change(db_url, tmp_path, load_embedder):
    with Store(db_url) as store:
        engine = _fill(store, tmp_path, load_embedder(128))
        update_indexes(engine, today=CLOCK + timedelta(days=10))
        with store.engine.connect() as conn:
            first = conn.execute(sa.select(rising_runs)).one()
        assert first.clock == CLOCK + timedelta(days=10)
        assert refresh_rising(store, CLOCK + timedelta(days=10)) is False  # nothing changed
        assert refresh_rising(store) is True  # the clock moved back to the newest paper
        with site_in_process(store, search=engine, settings=UNCACHED) as site:
            body = site.get("/trends.json").json()
            page = site.get("/trends")
    assert body["series"] == [] and body["rising_window"]["clock"] == CLOCK.isoformat()
    top = body["rising"][0]
    assert top["phrase"] == "sparse autoencoders"
    assert top["trend_url"] == "/trends?q=%22sparse+autoencoders%22&by=week&view=share"
    assert top["search_url"] == "/search?q=%22sparse+autoencoders%22"
    assert page.status_code == 200 and "Rising topics" in page.text
    assert 'href="/search?q=%22sparse+autoencoders%22"' in page.text


def test_the_command_prints_the_same_numbers(db_url, tmp_path):
    with Store(db_url) as store:
        _fill(store, tmp_path)
    run = Cli(db_url)
    run.env["PAPERFEED_DATA_DIR"] = str(tmp_path / "data")
    answer = run("trends", '"sparse autoencoders"', "graph", "--by", "month", "--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.output.strip().splitlines()[-1])
    assert [s["query"] for s in body["series"]] == ['"sparse autoencoders"', "graph"]
    june = next(p for p in body["series"][0]["points"] if p["period"] == "2026-06")
    assert june["count"] == 14
    table = run("trends", '"sparse autoencoders"', "--by", "month")
    assert table.exit_code == 0
    line = next(row for row in table.output.splitlines() if row.startswith("2026-06"))
    assert line.split()[1:4] == [str(3 * 14), "14", f"{100 * 14 / 42:.2f}%"]
    refused = run("trends", *[f"q{i}" for i in range(7)])
    assert refused.exit_code == 1 and "at most 6 queries" in refused.output
