"""OAI-PMH ListRecords (arXiv and arXivRaw) against a loopback server."""

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from paperfeed.errors import SourceError
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.http import HttpClient
from paperfeed.sources.oai import OaiSource
from paperfeed.store.schema import papers
from tests.feeds import oai_arxiv_metadata, oai_error, oai_page, oai_raw_metadata, paper
from tests.helpers import FAST_HTTP
from tests.loopback import Reply

V1 = "Mon, 2 Nov 2026 10:00:00 GMT"
V2 = "Thu, 5 Nov 2026 18:30:00 GMT"


def raw(n, versions=(V1,)):
    p = paper(n)
    return p["arxiv_id"], oai_raw_metadata(p, list(versions))


def three_pages(params):
    token = params.get("resumptionToken")
    if token is None:
        assert params["metadataPrefix"] == "arXivRaw" and params["set"] == "cs"
        return Reply(oai_page([raw(1), raw(2, (V1, V2))], token="t1", size=5, cursor=0))
    if token == "t1":
        return Reply(
            oai_page([raw(3), raw(4)], token="t2", size=5, cursor=2, deleted=["2611.09999"])
        )
    return Reply(oai_page([raw(5)], token="", size=5, cursor=4))


def harvest(store, server, prefix="arXivRaw", client_settings=FAST_HTTP, sleep=None):
    kwargs = {"sleep": sleep} if sleep else {}
    with HttpClient(client_settings, **kwargs) as client:
        source = OaiSource(f"{server.url}/oai", "cs", date(2026, 11, 1), None, prefix, client)
        return run_ingest(store, source, show_progress=False)


def test_follows_resumption_tokens_and_reads_versions(fresh_db, http_server):
    http_server.route("/oai", three_pages)
    summary = harvest(fresh_db, http_server)
    assert (summary.added, summary.skipped) == (5, 1)  # the deleted record is skipped
    calls = http_server.calls("/oai")
    assert calls[0] == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "set": "cs",
        "from": "2026-11-01",
    }
    assert calls[1] == {"verb": "ListRecords", "resumptionToken": "t1"}
    with fresh_db.engine.connect() as conn:
        two = conn.execute(sa.select(papers).where(papers.c.arxiv_id == "2611.00002")).one()
    assert two.version == 2
    assert two.published_at == datetime(2026, 11, 2, 10, 0)
    assert two.updated_at == datetime(2026, 11, 5, 18, 30)
    assert two.authors == ["Ada Example2", "Bo Sample"]
    assert two.comment == "12 pages"


def test_arxiv_metadata_format(sqlite_db, http_server):
    p = paper(7)
    http_server.route(
        "/oai", lambda params: Reply(oai_page([(p["arxiv_id"], oai_arxiv_metadata(p))]))
    )
    summary = harvest(sqlite_db, http_server, prefix="arXiv")
    assert summary.added == 1
    with sqlite_db.engine.connect() as conn:
        row = conn.execute(sa.select(papers)).one()
    assert row.authors == ["Ada Example7", "Bo Sample"]
    assert row.license == "http://creativecommons.org/licenses/by/4.0/"
    assert row.published_at == datetime(2026, 11, 2)


def test_503_retry_after_is_honoured(sqlite_db, http_server):
    replies = iter([Reply("slow down", 503, {"Retry-After": "2"})])
    http_server.route("/oai", lambda params: next(replies, None) or three_pages(params))
    slept = []
    summary = harvest(sqlite_db, http_server, sleep=slept.append)
    assert summary.added == 5
    assert 2.0 in slept


def test_retry_after_beyond_the_limit_is_a_clear_error(sqlite_db, http_server):
    http_server.route("/oai", lambda params: Reply("", 503, {"Retry-After": "86400"}))
    with pytest.raises(SourceError, match="asks to wait 86400 s"):
        harvest(sqlite_db, http_server)


def test_no_records_match_is_an_empty_harvest(sqlite_db, http_server):
    http_server.route("/oai", lambda params: Reply(oai_error("noRecordsMatch", "nothing")))
    summary = harvest(sqlite_db, http_server)
    assert summary.processed == 0


def test_other_oai_errors_are_reported(sqlite_db, http_server):
    http_server.route("/oai", lambda params: Reply(oai_error("badArgument", "bad from date")))
    with pytest.raises(SourceError, match="badArgument: bad from date"):
        harvest(sqlite_db, http_server)


def test_expired_token_on_resume_restarts_the_harvest(sqlite_db, http_server):
    # First run: the second page hangs up mid-body on every try, so the run stops
    # with the checkpoint at token t1.
    def broken_second_page(params):
        if params.get("resumptionToken") == "t1":
            return Reply(oai_page([raw(3)], token="t2", size=5), truncate_at=50)
        return three_pages(params)

    http_server.route("/oai", broken_second_page)
    with pytest.raises(SourceError):
        harvest(sqlite_db, http_server)

    refused = []

    def expired_once(params):
        if params.get("resumptionToken") == "t1" and not refused:
            refused.append(True)
            return Reply(oai_error("badResumptionToken", "expired"))
        return three_pages(params)

    http_server.route("/oai", expired_once)
    calls_before = len(http_server.calls("/oai"))
    summary = harvest(sqlite_db, http_server)
    assert summary.resumed_from == "t1"
    assert summary.added == 3  # papers 1 and 2 came in before the interruption
    tokens = [c.get("resumptionToken") for c in http_server.calls("/oai")[calls_before:]]
    assert tokens == ["t1", None, "t1", "t2"]


def test_a_token_refused_after_a_restart_is_an_error_not_a_loop(sqlite_db, http_server):
    def always_refused(params):
        if params.get("resumptionToken"):
            return Reply(oai_error("badResumptionToken", "expired"))
        return three_pages(params)

    http_server.route("/oai", always_refused)
    with pytest.raises(SourceError, match="badResumptionToken"):
        harvest(sqlite_db, http_server)
    with HttpClient(FAST_HTTP) as client:
        source = OaiSource(
            f"{http_server.url}/oai", "cs", date(2026, 11, 1), None, "arXivRaw", client
        )
        with pytest.raises(SourceError, match="badResumptionToken"):
            list(source.items("stale-token"))
    # Each run: at most one restart (first page, refused token, first page, refused token).
    assert len(http_server.calls("/oai")) == 4 + 3


def test_record_without_metadata_is_rejected(sqlite_db, http_server):
    http_server.route("/oai", lambda params: Reply(oai_page([("2611.00001", "<other/>")])))
    summary = harvest(sqlite_db, http_server)
    assert summary.rejected == 1
    assert "no arXivRaw metadata" in summary.rejections[0].reason


def test_unknown_format_is_refused():
    with HttpClient(FAST_HTTP) as client, pytest.raises(SourceError, match="unknown metadata"):
        OaiSource("http://127.0.0.1:9/oai", "cs", None, None, "oai_dc", client)
