"""Data that rendered pages keep between readers (services/read_cache.py): a day's list
and a search's results are kept, their counts are not, on both engines; a search answered
while the keyword index is being built is kept by no cache."""

from __future__ import annotations

import pytest

from paperfeed.index import lexical
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
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


def _search(client, **params: str) -> dict:
    reply = client.get(
        "/search.json", params={"q": "sparse attention", "mode": "keyword", **params}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _ingest(store, tmp_path, numbers: tuple[int, ...]) -> None:
    listing = tmp_path / f"more{numbers[0]}.jsonl"
    listing.write_text("\n".join(listing_line(paper(n), "2026-11-04") for n in numbers))
    run_ingest(store, JsonlSource(listing), show_progress=False)


def test_a_kept_search_shows_each_new_vote_at_once(fresh_db, tmp_path) -> None:
    _ingest(fresh_db, tmp_path, (1, 2, 3))
    search = SearchEngine(fresh_db, None)
    search.keyword.catch_up(fresh_db)
    with site_in_process(fresh_db, search=search) as site:
        sign_up(site, "ada")
        assert {h["arxiv_id"]: h["upvotes"] for h in _search(site)["hits"]} == {
            "2611.00001": 0,
            "2611.00002": 0,
            "2611.00003": 0,
        }
        _vote(site, "2611.00002")
        upvotes = {h["arxiv_id"]: h["upvotes"] for h in _search(site)["hits"]}
        assert upvotes["2611.00002"] == 1
        # The results themselves are kept: a paper indexed since is not in them yet...
        _ingest(fresh_db, tmp_path, (4,))
        search.keyword.catch_up(fresh_db)
        assert len(_search(site)["hits"]) == 3
        # ...but it is in a search whose order moves with the votes (not kept).
        assert len(_search(site, sort="votes")["hits"]) == 4


def test_a_search_while_the_keyword_index_is_built_says_so_and_is_not_kept(
    fresh_db, tmp_path, monkeypatch
) -> None:
    _ingest(fresh_db, tmp_path, (1, 2, 3))
    monkeypatch.setattr(lexical, "SYNC_BATCH", 1)
    search = SearchEngine(fresh_db, None)
    with site_in_process(fresh_db, search=search) as anonymous:
        sync = search.keyword.sync(fresh_db)
        assert next(sync) == 1  # one paper of three indexed, the rest still to come
        building = _search(anonymous)
        assert building["keyword_index_behind"] == 2
        assert len(building["hits"]) < 3
        page = anonymous.get("/search", params={"q": "sparse attention", "mode": "keyword"})
        assert "The keyword index is being built: 2 papers are still to be added" in page.text
        for _ in sync:
            pass
        built = _search(anonymous)  # not the answer kept from the moment before
        assert built["keyword_index_behind"] == 0
        assert len(built["hits"]) == 3
        assert "being built" not in anonymous.get("/search", params={"q": "attention"}).text
