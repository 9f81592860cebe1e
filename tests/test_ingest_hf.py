"""Hugging Face daily papers: API files, folders, the flat export, and the live API."""

import gzip
import json
from datetime import date

import pytest
import sqlalchemy as sa

from paperfeed.errors import SourceError
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.hf_daily import HfDailyApiSource, HfDailyFileSource
from paperfeed.sources.http import HttpClient
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store.schema import daily_entries, imported_submitters, paper_links, papers
from tests.feeds import hf_api_entry, hf_flat_line, listing_line, paper
from tests.helpers import FAST_HTTP
from tests.loopback import Reply


def counts(store):
    with store.engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (papers, daily_entries, imported_submitters)
        )


def test_api_answer_files_in_a_folder(fresh_db, tmp_path):
    folder = tmp_path / "daily"
    folder.mkdir()
    (folder / "2026-11-03.json").write_text(
        json.dumps(
            [
                hf_api_entry(paper(1), upvotes=12, github="https://github.com/ex/one"),
                hf_api_entry(paper(2), submitter=None),
            ]
        )
    )
    (folder / "2026-11-04.json").write_text(
        json.dumps([hf_api_entry(paper(3), day="2026-11-04", submitter="carol")])
    )
    summary = run_ingest(fresh_db, HfDailyFileSource(folder), show_progress=False)
    assert (summary.added, summary.papers_added, summary.rejected) == (3, 3, 0)
    assert counts(fresh_db) == (3, 3, 2)
    with fresh_db.engine.connect() as conn:
        entry = conn.execute(
            sa.select(
                daily_entries.c.day,
                daily_entries.c.imported_upvotes,
                daily_entries.c.imported_comments,
                imported_submitters.c.name,
            )
            .join(papers, papers.c.id == daily_entries.c.paper_id)
            .join(
                imported_submitters,
                imported_submitters.c.id == daily_entries.c.imported_submitter_id,
            )
            .where(papers.c.arxiv_id == "2611.00001")
        ).one()
        link = conn.execute(sa.select(paper_links.c.github_repo, paper_links.c.github_stars)).one()
    assert tuple(entry) == (date(2026, 11, 3), 12, 1, "alice")
    assert tuple(link) == ("https://github.com/ex/one", 42)
    again = run_ingest(fresh_db, HfDailyFileSource(folder), show_progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_flat_export_gzip_and_merge_with_arxiv_in_either_order(fresh_db, tmp_path):
    hf = tmp_path / "hf.jsonl.gz"
    hf.write_bytes(
        gzip.compress(
            "\n".join(hf_flat_line(paper(n), "2026-11-05", upvotes=n) for n in (1, 2, 3)).encode()
        )
    )
    arxiv = tmp_path / "arxiv.jsonl"
    arxiv.write_text("\n".join(listing_line(paper(n)) for n in (2, 3, 4)))
    run_ingest(fresh_db, HfDailyFileSource(hf), show_progress=False)
    summary = run_ingest(fresh_db, JsonlSource(arxiv), show_progress=False)
    assert (summary.added, summary.updated) == (1, 2)  # 2 and 3 gain categories
    assert counts(fresh_db)[:2] == (4, 3)
    with fresh_db.engine.connect() as conn:
        up = conn.execute(sa.select(sa.func.sum(daily_entries.c.imported_upvotes))).scalar()
        cats = conn.execute(
            sa.select(papers.c.categories).where(papers.c.arxiv_id == "2611.00003")
        ).scalar()
    assert up == 6 and cats == ["cs.CL", "cs.LG"]


def test_bad_entries_are_rejected_with_where(sqlite_db, tmp_path):
    path = tmp_path / "2026-11-03.json"
    good = hf_api_entry(paper(1))
    no_paper = {"title": "x"}
    bad_votes = hf_api_entry(paper(2), upvotes=-4)
    bad_id = hf_api_entry(paper(3, arxiv_id="nope"))
    path.write_text(json.dumps([good, no_paper, bad_votes, bad_id]))
    summary = run_ingest(sqlite_db, HfDailyFileSource(path), show_progress=False)
    assert (summary.added, summary.rejected) == (1, 3)
    assert [r.where.rsplit(" ", 1)[1] for r in summary.rejections] == ["1", "2", "3"]
    assert "bad upvotes" in summary.rejections[1].reason


def test_malformed_file_is_a_clear_error_and_changes_nothing(sqlite_db, tmp_path):
    path = tmp_path / "2026-11-03.json"
    path.write_text('[{"paper": ')
    with pytest.raises(SourceError, match="invalid JSON"):
        run_ingest(sqlite_db, HfDailyFileSource(path), show_progress=False)
    path.write_text('{"papers": 3}')
    with pytest.raises(SourceError, match="expected a JSON list"):
        run_ingest(sqlite_db, HfDailyFileSource(path), show_progress=False)
    assert counts(sqlite_db) == (0, 0, 0)
    with pytest.raises(SourceError, match="no such file"):
        HfDailyFileSource(tmp_path / "missing")


def test_live_api_by_date_with_paging(fresh_db, http_server):
    day_one = [hf_api_entry(paper(n)) for n in range(1, 101)]  # a full page: ask for the next
    day_two = [hf_api_entry(paper(n), day="2026-11-04") for n in range(101, 104)]

    def handler(params):
        page = int(params.get("p", 0))
        if params["date"] == "2026-11-03":
            return Reply(json.dumps(day_one if page == 0 else [hf_api_entry(paper(101))]))
        return Reply(json.dumps(day_two if page == 0 else []))

    http_server.route("/api/daily_papers", handler)
    with HttpClient(FAST_HTTP) as client:
        source = HfDailyApiSource(
            f"{http_server.url}/api", [date(2026, 11, 4), date(2026, 11, 3)], client
        )
        summary = run_ingest(fresh_db, source, show_progress=False)
    assert summary.added == 104  # 101 on the 3rd, 3 on the 4th
    assert counts(fresh_db)[:2] == (103, 104)
    dates = [c["date"] for c in http_server.calls("/api/daily_papers")]
    assert dates == ["2026-11-03", "2026-11-03", "2026-11-04"]


def test_live_api_that_ignores_paging_does_not_loop(sqlite_db, http_server):
    full_page = json.dumps([hf_api_entry(paper(n)) for n in range(1, 101)])
    http_server.route("/api/daily_papers", lambda params: Reply(full_page))
    with HttpClient(FAST_HTTP) as client:
        source = HfDailyApiSource(f"{http_server.url}/api", [date(2026, 11, 3)], client)
        summary = run_ingest(sqlite_db, source, show_progress=False)
    assert summary.added == 100
    assert len(http_server.calls("/api/daily_papers")) == 2


def test_live_api_non_json_answer(sqlite_db, http_server):
    http_server.route("/api/daily_papers", lambda params: Reply("<html>maintenance</html>"))
    with HttpClient(FAST_HTTP) as client, pytest.raises(SourceError, match="not JSON"):
        source = HfDailyApiSource(f"{http_server.url}/api", [date(2026, 11, 3)], client)
        run_ingest(sqlite_db, source, show_progress=False)
