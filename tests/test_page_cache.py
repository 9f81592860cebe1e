"""The anonymous page cache: reused renderings, emptied by writes, never for sessions."""

import pytest

from paperfeed.config import Settings
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import listing_line, paper
from tests.forms import csrf_token, sign_up
from tests.helpers import UNCACHED, another_client, live_site, loopback_client, site_in_process


def test_anonymous_pages_are_reused_until_a_write(sqlite_db, tmp_path):
    listing = tmp_path / "a.jsonl"
    listing.write_text(listing_line(paper(1), "2026-11-03"))
    run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)
    with live_site(sqlite_db) as reader:
        first = reader.get("/papers/2611.00001.json")
        again = reader.get("/papers/2611.00001.json")
        assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit")
        assert again.json() == first.json()
        with loopback_client(str(reader.base_url)) as newcomer:
            # A cached page still gives a new browser its own CSRF cookie.
            fresh = newcomer.get("/papers/2611.00001.json")
            assert fresh.headers["x-cache"] == "hit" and "pf_csrf=" in fresh.headers["set-cookie"]
        assert reader.get("/papers/2611.99999.json").headers["x-cache"] == "miss"
        assert reader.get("/papers/2611.99999.json").headers["x-cache"] == "miss"  # 404s: never

        with loopback_client(str(reader.base_url)) as voter:
            sign_up(voter, "ada")  # a POST: the cache empties
            assert voter.get("/papers/2611.00001.json").headers.get("x-cache") is None
            voter.post(
                "/papers/2611.00001/vote",
                headers={"X-CSRF-Token": csrf_token(voter), "Accept": "application/json"},
            )
        after = reader.get("/papers/2611.00001.json")
        assert after.headers["x-cache"] == "miss" and after.json()["upvotes"] == 1


def test_the_cache_can_be_turned_off(sqlite_db):
    with live_site(sqlite_db, settings=UNCACHED) as reader:
        reader.get("/")
        assert "x-cache" not in reader.get("/").headers


@pytest.mark.parametrize("seconds, shown_at_once", [("30", {1}), ("0", {1, 2})])
def test_the_setting_keeps_pages_and_day_lists_that_long(
    sqlite_db, tmp_path, monkeypatch, seconds, shown_at_once
):
    """PAPERFEED_PAGE_CACHE_SECONDS: a paper that another process ingests shows on the next
    page at 0, and only once the kept page and day list expire otherwise."""
    monkeypatch.setenv("PAPERFEED_PAGE_CACHE_SECONDS", seconds)

    def ingest(n: int) -> None:
        listing = tmp_path / f"{n}.jsonl"
        listing.write_text(listing_line(paper(n), "2026-11-03"))
        run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)

    def shown(client, path: str) -> set[int]:
        return {int(p["arxiv_id"][-5:]) for p in client.get(path).json()["papers"]}

    day = "/papers/date/2026-11-03.json"
    ingest(1)
    with site_in_process(sqlite_db, settings=Settings.from_env()) as reader:
        assert shown(reader, day) == {1}
        ingest(2)
        assert shown(reader, day) == shown_at_once  # the page
        with another_client(reader) as voter:
            sign_up(voter, "ada")  # a POST empties the page cache; a session skips it
            assert shown(voter, day) == shown_at_once  # the day list


def test_readers_asking_at_once_all_get_the_page(sqlite_db, tmp_path):
    """Twenty readers at once for a page not cached yet (one renders, the others wait for
    it) and for a missing one (never cached: each gets its own 404)."""
    from concurrent.futures import ThreadPoolExecutor

    listing = tmp_path / "a.jsonl"
    listing.write_text(listing_line(paper(1), "2026-11-03"))
    run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)
    with live_site(sqlite_db) as reader:
        base = str(reader.base_url)

        def get(path: str) -> int:
            with loopback_client(base) as client:
                return client.get(path).status_code

        with ThreadPoolExecutor(20) as pool:
            found = list(pool.map(get, ["/papers/2611.00001"] * 20))
            missing = list(pool.map(get, ["/papers/2611.09999"] * 20))
        assert found == [200] * 20 and missing == [404] * 20


def test_no_signed_in_page_is_ever_served_to_others(sqlite_db, tmp_path):
    """However the session cookie is spelled, a page made for a signed-in reader is not
    kept; refused writes do not empty the cache; a Host header cannot poison a feed."""
    listing = tmp_path / "a.jsonl"
    listing.write_text(listing_line(paper(1), "2026-11-03"))
    run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)
    with live_site(sqlite_db) as reader:
        with loopback_client(str(reader.base_url)) as ada:
            sign_up(ada, "ada")
            token = ada.cookies["pf_session"]
        for spelling in (
            f"pf_session={token}",
            f"pf_session ={token}",
            f"x=1; pf_session={token};",
        ):
            page = reader.get("/papers/2611.00001", headers={"Cookie": spelling})
            assert 'href="/users/ada"' in page.text  # the app sees her signed in
        anonymous = reader.get("/papers/2611.00001", headers={"Cookie": ""})
        assert 'href="/users/ada"' not in anonymous.text

        assert reader.get("/papers/2611.00001").headers["x-cache"] == "hit"
        assert reader.post("/login", data={"login": "x"}).status_code == 403
        assert reader.get("/papers/2611.00001").headers["x-cache"] == "hit"  # still there

        poisoned = reader.get("/feeds/daily.atom", headers={"Host": "evil.example"})
        assert "evil.example" not in poisoned.text
        assert "evil.example" not in reader.get("/feeds/daily.atom").text
