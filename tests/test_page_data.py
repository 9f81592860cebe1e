"""Data that rendered pages keep between readers (services/read_cache.py): a day's list
is kept, its counts are not, on both engines."""

from __future__ import annotations

import pytest

from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import listing_line, paper
from tests.forms import csrf_token, sign_up
from tests.helpers import another_client, site_in_process


@pytest.fixture
def site(fresh_db, tmp_path):
    listing = tmp_path / "a.jsonl"
    listing.write_text("\n".join(listing_line(paper(n), "2026-11-03") for n in (1, 2, 3)))
    run_ingest(fresh_db, JsonlSource(listing), show_progress=False)
    with site_in_process(fresh_db) as client:
        yield client


def _counts(client) -> dict[str, int]:
    return {
        p["arxiv_id"]: p["upvotes"]
        for p in client.get("/papers/date/2026-11-03.json").json()["papers"]
    }


def _vote(client, arxiv_id: str) -> None:
    token = csrf_token(client, "/login")
    reply = client.post(
        f"/papers/{arxiv_id}/vote",
        data={"state": "on"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert reply.status_code == 200, reply.text


def test_a_kept_day_list_shows_each_new_vote_at_once(site) -> None:
    sign_up(site, "ada")
    assert _counts(site) == {"2611.00001": 0, "2611.00002": 0, "2611.00003": 0}  # now kept
    _vote(site, "2611.00002")
    assert _counts(site)["2611.00002"] == 1
    assert 'aria-pressed="true"' in site.get("/papers/date/2026-11-03").text
    with another_client(site) as other:
        sign_up(other, "bo")
        _vote(other, "2611.00002")
        _vote(other, "2611.00003")
        assert _counts(other) == {"2611.00001": 0, "2611.00002": 2, "2611.00003": 1}
    # Signed in too: the kept list, its counts read again.
    assert _counts(site)["2611.00002"] == 2
