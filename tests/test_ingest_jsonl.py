"""JSON Lines snapshots: both layouts, gzip, malformed lines, truncation, resume."""

import gzip
import json
import threading
from datetime import date

import pytest
import sqlalchemy as sa

from paperfeed.errors import SourceError
from paperfeed.records import utcnow
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store, checkpoints
from paperfeed.store.schema import ingest_checkpoints, job_leases, papers
from tests.feeds import listing_line, paper


def write_lines(path, lines, gz=False):
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def count_papers(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar()


KAGGLE = {
    "id": "0704.0001",
    "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections\n  at Tevatron",
    "comments": "37 pages, 15 figures",
    "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009",
    "report-no": None,
    "categories": "hep-ph cs.LG",
    "license": None,
    "abstract": "  A fully differential calculation in perturbative QCD.\n",
    "versions": [
        {"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
        {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"},
    ],
    "update_date": "2008-11-13",
    "authors_parsed": [
        ["Balázs", "C.", ""],
        ["Berger", "E. L.", ""],
        ["Nadolsky", "P. M.", ""],
        ["Yuan", "C. -P.", ""],
    ],
}


@pytest.mark.parametrize("gz", [False, True])
def test_listing_layout_plain_and_gzip(fresh_db, tmp_path, gz):
    path = write_lines(
        tmp_path / ("a.jsonl.gz" if gz else "a.jsonl"),
        [listing_line(paper(n)) for n in range(1, 6)],
        gz=gz,
    )
    summary = run_ingest(fresh_db, JsonlSource(path), show_progress=False)
    assert (summary.added, summary.rejected) == (5, 0)
    again = run_ingest(fresh_db, JsonlSource(path), show_progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    with fresh_db.engine.connect() as conn:
        stored = conn.execute(sa.select(papers).where(papers.c.arxiv_id == "2611.00003")).one()
    assert stored.announced_date == date(2026, 11, 3)
    assert stored.categories == ["cs.CL", "cs.LG"]


def test_kaggle_snapshot_layout(sqlite_db, tmp_path):
    path = write_lines(tmp_path / "kaggle.json", [json.dumps(KAGGLE)])
    summary = run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    assert summary.added == 1
    with sqlite_db.engine.connect() as conn:
        stored = conn.execute(sa.select(papers)).one()
    assert stored.title == "Calculation of prompt diphoton production cross sections at Tevatron"
    assert stored.authors[:2] == ["C. Balázs", "E. L. Berger"]
    assert stored.version == 2
    assert stored.primary_category == "hep-ph"
    assert stored.published_at.isoformat() == "2007-04-02T19:18:42"
    assert stored.updated_at.isoformat() == "2007-07-24T20:10:27"
    assert stored.doi == "10.1103/PhysRevD.76.013009"


def test_malformed_lines_are_rejected_with_file_and_line_and_the_rest_goes_in(sqlite_db, tmp_path):
    lines = [
        listing_line(paper(1)),
        "{not json",
        json.dumps({"arxiv_id": "2611.00002", "title": "", "abstract": "x", "authors": ["A"]}),
        json.dumps(["a", "list"]),
        json.dumps({"daily_date": "2026-01-01", "arxiv_id": "2611.00003"}),
        json.dumps({"arxiv_id": "bogus", "title": "t", "abstract": "a", "authors": ["A"]}),
        "",
        listing_line(paper(4)),
    ]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    path.write_bytes(path.read_bytes() + b"\xff\xfe not utf-8\n")
    summary = run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    assert (summary.added, summary.rejected) == (2, 6)
    reasons = {r.where.rsplit(":", 1)[1]: r.reason for r in summary.rejections}
    assert "invalid JSON" in reasons["2"]
    assert "empty title" in reasons["3"]
    assert "not a JSON object" in reasons["4"]
    assert "ingest hf-daily" in reasons["5"]
    assert "not an arXiv id" in reasons["6"]
    assert "invalid JSON" in reasons["9"]
    assert all(r.where.startswith(str(path)) for r in summary.rejections)


def test_truncated_gzip_keeps_what_was_read_and_says_so(sqlite_db, tmp_path):
    lines = [listing_line(paper(n)) for n in range(1, 3001)]
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path.write_bytes(whole[: len(whole) * 3 // 4])
    with pytest.raises(SourceError, match="unreadable after line"):
        run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    kept = count_papers(sqlite_db)
    assert 2000 <= kept < 3000


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        JsonlSource(tmp_path / "nope.jsonl")


def test_since_filter_skips_older_listings(sqlite_db, tmp_path):
    path = write_lines(
        tmp_path / "a.jsonl",
        [listing_line(paper(1), "2026-10-01"), listing_line(paper(2), "2026-11-05")],
    )
    summary = run_ingest(sqlite_db, JsonlSource(path, since=date(2026, 11, 1)), show_progress=False)
    assert (summary.added, summary.skipped) == (1, 1)


class Interrupt(KeyboardInterrupt):
    pass


def test_interrupted_run_keeps_committed_batches_and_resumes(fresh_db, tmp_path, monkeypatch):
    path = write_lines(tmp_path / "big.jsonl", [listing_line(paper(n)) for n in range(1, 5001)])
    source = JsonlSource(path)
    real_items = source.items
    yielded = [0]

    def items_then_ctrl_c(resume_from):
        for item in real_items(resume_from):
            yield item
            yielded[0] += 1
            if yielded[0] == 4500:  # after the checkpoints at lines 2000 and 4000
                raise Interrupt

    monkeypatch.setattr(source, "items", items_then_ctrl_c)
    with pytest.raises(Interrupt):
        run_ingest(fresh_db, source, show_progress=False)
    assert count_papers(fresh_db) >= 4000  # the records read before Ctrl-C were committed
    with fresh_db.engine.connect() as conn:
        assert checkpoints.load(conn, source.job) == "4000"

    resumed = run_ingest(fresh_db, JsonlSource(path), show_progress=False)
    assert resumed.resumed_from == "4000"
    assert resumed.processed == 1000  # lines 4001..5000 only
    assert count_papers(fresh_db) == 5000
    with fresh_db.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(ingest_checkpoints)).scalar() == 0
        )


def test_a_commit_by_another_writer_between_a_batchs_reads_and_writes_waits(db_url, tmp_path):
    """A batch reads what is stored, then writes. Another writer (the update job's lease
    renewal, a vote) committing in between must wait for the batch, not fail it: on
    SQLite a read transaction that then writes fails at once ('database is locked') when
    someone else committed since it read. The other write is made, from a thread, just
    before the batch's first insert."""
    listing = write_lines(
        tmp_path / "listing.jsonl", [listing_line(paper(n), "2026-11-03") for n in range(1, 4)]
    )
    other: list[threading.Thread] = []

    def renew_a_lease() -> None:
        with Store(db_url) as elsewhere, elsewhere.write() as conn:
            conn.execute(
                job_leases.insert().values(
                    name="elsewhere",
                    holder="another process",
                    acquired_at=utcnow(),
                    heartbeat=utcnow(),
                    expires_at=utcnow(),
                )
            )

    def before_insert(conn, cursor, statement, *_):
        if statement.startswith("INSERT INTO papers") and not other:
            other.append(threading.Thread(target=renew_a_lease))
            other[0].start()
            other[0].join(1)  # done at once where the batch holds no write lock yet

    with Store(db_url) as store:
        sa.event.listen(store.engine, "before_cursor_execute", before_insert)
        summary = run_ingest(store, JsonlSource(listing), show_progress=False)
        other[0].join(30)
        assert (summary.added, summary.rejected) == (3, 0)
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(job_leases.c.holder)).scalars().all() == [
                "another process"
            ]
        assert count_papers(store) == 3
