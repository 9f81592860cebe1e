"""Hostile input at the web edge, over real HTTP, on SQLite and PostgreSQL (issue 10,
classes 1, 2, 3 and 9): unbounded pages, out-of-range numbers and dates, characters no
text column holds, and 405s with their Allow header. Each answer is a clear 4xx, never a
5xx, and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute

from paperfeed.records import has_forbidden_chars
from paperfeed.services.search import MAX_RESULTS_DEPTH, MODES
from paperfeed.store.schema import collections, comments, interest_seeds, users
from paperfeed.web.app import create_app
from paperfeed.web.edge import MAX_API_PAGE, MAX_ROW_ID, MAX_SEARCH_PAGE, refuse_forbidden_chars
from tests.forms import csrf_token
from tests.sites import Site

HUGE = [10**30, 2**63, 2**31, -1, 0]


@pytest.fixture
def site(hostile_web_site: Site) -> Site:
    return hostile_web_site


def still_serving(site: Site) -> None:
    assert site.anon.get("/index.json").status_code == 200
    assert site.anon.get("/search.json", params={"q": "attention"}).json()["hits"]


def is_json(reply: httpx.Response) -> bool:
    return reply.headers["content-type"].startswith("application/json")


def is_html(reply: httpx.Response) -> bool:
    return reply.headers["content-type"].startswith("text/html")


# --- class 1: unbounded paging -------------------------------------------------------


def test_search_pages_are_bounded_in_every_mode(site):
    for mode in MODES:
        for page in [10**12, 10**30, MAX_SEARCH_PAGE + 1, 0, -5, "x"]:
            for path in ("/search", "/search.json"):
                params = {"q": "attention", "mode": mode, "page": page}
                reply = site.anon.get(path, params=params)
                assert reply.status_code == 400, (path, params, reply.text[:200])
                assert "page" in reply.text
        deepest = site.anon.get(
            "/search.json", params={"q": "attention", "mode": mode, "page": MAX_SEARCH_PAGE}
        )
        assert deepest.status_code == 200 and deepest.json()["hits"] == []
        html = site.anon.get("/search", params={"q": "attention", "mode": mode, "page": 2})
        assert html.status_code == 200 and is_html(html)
    still_serving(site)


def test_search_engine_clamps_the_depth_any_caller_asks_for(site):
    for mode in MODES:
        assert site.search.search("attention", mode=mode, limit=100, offset=10**15).hits == []
        deep = MAX_RESULTS_DEPTH - 1
        assert len(site.search.search("attention", mode=mode, limit=100, offset=deep).hits) <= 1
        assert site.search.search("attention", mode=mode, limit=20).hits


def test_api_pages_and_limits_are_bounded(site):
    for path in ("/api/papers", "/api/daily_papers"):
        for p in [10**12, 10**30, MAX_API_PAGE + 1, -1]:
            reply = site.anon.get(path, params={"p": p})
            assert reply.status_code == 400 and is_json(reply), (path, p)
            assert reply.json()["error"].startswith("p:")
        for limit in [0, 101, 10**12]:
            assert site.anon.get(path, params={"limit": limit}).status_code == 400
        past_the_end = site.anon.get(path, params={"p": MAX_API_PAGE, "limit": 100})
        assert past_the_end.status_code == 200 and past_the_end.json() == []
    for limit in [0, 101, 10**30]:
        reply = site.anon.get("/api/papers/search", params={"q": "attention", "limit": limit})
        assert reply.status_code == 400
    still_serving(site)


# --- class 2: out-of-range numbers and dates -----------------------------------------


def test_out_of_range_ids_in_paths_are_404(site):
    for n in [*HUGE, MAX_ROW_ID + 1, "1e9", "٣"]:
        for path in (
            f"/collections/{n}",
            f"/collections/{n}.json",
            f"/collections/{n}.bib",
            f"/feeds/collections/{n}.atom",
        ):
            reply = site.anon.get(path)
            assert reply.status_code == 404, (path, reply.text[:200])
        for path in (
            f"/comments/{n}/hide",
            f"/for-you/interests/{n}/remove",
            f"/collections/{n}/edit",
            f"/collections/{n}/delete",
            f"/collections/{n}/items/remove",
        ):
            reply = site.act(path, {"paper": "2611.00001", "name": "x"})
            assert reply.status_code == 404 and is_json(reply), (path, reply.text[:200])
    # The largest id that can exist is a plain "no such thing".
    assert site.anon.get(f"/collections/{MAX_ROW_ID}.json").status_code == 404
    assert site.act(f"/collections/{MAX_ROW_ID}/delete").status_code == 404
    assert site.anon.get(f"/collections/{site.collection_id}.json").status_code == 200
    still_serving(site)


def test_out_of_range_ids_in_forms_are_400(site):
    for n in [*HUGE, MAX_ROW_ID + 1]:
        reply = site.act("/papers/2611.00001/comments", {"body": "a reply", "parent_id": n})
        assert reply.status_code == 400 and "parent_id" in reply.json()["error"]
        reply = site.act("/collections/items", {"collection": n, "paper": "2611.00002"})
        assert reply.status_code == 400 and "collection" in reply.json()["error"]
    # A parent that could exist but does not: the service's own refusal.
    reply = site.act("/papers/2611.00001/comments", {"body": "x", "parent_id": MAX_ROW_ID})
    assert reply.status_code == 400 and "parent comment" in reply.json()["error"]
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(comments)).scalar() == 1


FAR_DATES = [
    ("/", {"week": "9999-W52"}, 400),  # ends in the year 10000
    ("/index.json", {"week": "0000-W01"}, 400),
    ("/index.json", {"week": "2026-W60"}, 400),
    ("/index.json", {"week": "99999-W01"}, 400),
    ("/index.json", {"month": "9999-12"}, 200),
    ("/index.json", {"month": "0000-01"}, 400),
    ("/index.json", {"month": "2026-1"}, 400),
    ("/index.json", {"sort": "sideways"}, 400),
    ("/papers/date/9999-12-31.json", {}, 200),
    ("/papers/date/0001-01-01", {}, 200),
    ("/papers/date/0000-01-01.json", {}, 400),
    ("/papers/date/99999-01-01.json", {}, 404),
    ("/papers/date/2026-11-04T00:00.json", {}, 404),
    ("/api/daily_papers", {"date": "9999-12-31"}, 200),
    ("/api/daily_papers", {"week": "9999-W52"}, 400),
    ("/api/daily_papers", {"month": "9999-12", "sort": "trending"}, 200),
    ("/api/daily_papers", {"date": "2026-02-30"}, 400),
    ("/api/daily_papers", {"date": "١٢٣٤-01-01"}, 400),  # not ASCII digits
    ("/api/daily_papers", {"sort": "random"}, 400),
    ("/search.json", {"q": "since:9999 until:9999-12"}, 200),
    ("/search.json", {"q": "until:0001-01-01"}, 200),
    ("/search.json", {"q": "since:99999"}, 400),
    ("/search.json", {"q": "since:0000-01"}, 400),
    ("/feeds/search.atom", {"q": "since:9999-12-31"}, 200),
]


def test_far_dates_are_a_clear_answer(site):
    for path, params, status in FAR_DATES:
        reply = site.anon.get(path, params=params)
        assert reply.status_code == status, (path, params, reply.text[:300])
        if status == 200 and path.endswith(".json"):
            body = reply.json()
            found = body if isinstance(body, list) else body.get("papers", body.get("hits"))
            assert found == [], (path, params)
    still_serving(site)


# --- class 3: characters PostgreSQL refuses -------------------------------------------


def test_has_forbidden_chars():
    assert (
        has_forbidden_chars("a\x00b")
        and has_forbidden_chars("\ud800")
        and has_forbidden_chars("name\udcff")
    )
    assert not has_forbidden_chars("") and not has_forbidden_chars("Ünïcödé 中文 😀 \t\n")


def test_every_route_of_the_site_refuses_forbidden_characters(sqlite_db):
    """The refusal rides on each route (web/edge.site_router), not on the app: a router
    made some other way would take a NUL to the database."""
    routes = [r for r in create_app(sqlite_db).routes if isinstance(r, APIRoute)]
    lacking = [
        route.path
        for route in routes
        if not any(d.call is refuse_forbidden_chars for d in route.dependant.dependencies)
    ]
    assert len(routes) > 80 and not lacking


def test_nul_in_queries_and_paths_is_400_html_or_json_per_route(site):
    cases = [
        ("/search", {"q": "att\x00ention"}, is_html),
        ("/search.json", {"q": "\x00"}, is_json),
        ("/search.json", {"q": "x", "mode\x00": "keyword"}, is_json),
        ("/api/papers/search", {"q": "a\x00"}, is_json),
        ("/api/daily_papers", {"submitter": "reader\x00"}, is_json),
        ("/feeds/search.atom", {"q": "\x00"}, lambda r: True),
        ("/feeds/category/cs%00CL.atom", {}, lambda r: True),
        ("/users/reader%00.json", {}, is_json),
        ("/users/reader%00", {}, is_html),
        ("/papers/2611.00001%00", {}, is_html),
        ("/papers/2611.00001%00.json", {}, is_json),
        ("/api/papers/2611.00001%00", {}, is_json),
        ("/collections/1%00.json", {}, is_json),
    ]
    for path, params, kind in cases:
        for client in (site.anon, site.reader):
            reply = client.get(path, params=params)
            assert reply.status_code == 400, (path, params, reply.text[:200])
            assert kind(reply), (path, reply.headers["content-type"])
    still_serving(site)


def test_nul_in_forms_is_400_and_nothing_is_written(site):
    actions = [
        ("/papers/2611.00001/comments", {"body": "nice\x00"}),
        ("/collections", {"name": "bad\x00name"}),
        ("/collections/{cid}/edit", {"name": "Reading", "description": "\x00"}),
        ("/for-you/interests", {"kind": "text", "value": "tactile\x00"}),
        ("/for-you/interests", {"kind": "author", "value": "\x00"}),
        ("/papers/2611.00001/vote", {"state": "on", "next": "/\x00"}),
        ("/submit", {"paper": "2611.00003\x00"}),
        ("/collections/items", {"collection": "{cid}", "paper": "2611.00002\x00"}),
    ]
    for path, data in actions:
        path = path.format(cid=site.collection_id)
        data = {k: v.format(cid=site.collection_id) for k, v in data.items()}
        reply = site.act(path, data)
        assert reply.status_code == 400 and is_json(reply), (path, reply.text[:200])
        # The same field sent as multipart/form-data.
        files = {name: (None, value) for name, value in data.items()}
        assert site.act(path, files=files).status_code == 400, path
    assert site.act("/collections", {"name\x00": "x"}).status_code == 400
    with site.store.engine.connect() as conn:
        count = lambda table: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()  # noqa: E731
        assert (count(comments), count(collections), count(interest_seeds)) == (1, 1, 1)
        assert conn.execute(sa.select(collections.c.description)).scalar() == ""
    still_serving(site)


def test_nul_in_account_and_subscription_forms_is_a_400_page(site):
    forms = [
        ("/login", {"login": "reader\x00", "password": "correct horse"}),
        ("/signup", {"username": "eve\x00", "email": "eve@example.org", "password": "x" * 9}),
        ("/signup", {"username": "eve", "email": "eve\x00@example.org", "password": "x" * 9}),
        ("/subscribe", {"email": "a\x00@example.org", "queries": "attention"}),
        ("/subscribe", {"email": "a@example.org", "authors": "Wei\x00"}),
        ("/account/reset", {"email": "reader@example.org\x00"}),
        ("/unsubscribe", {"token": "\x00"}),
    ]

    def accounts() -> int:
        with site.store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(users)).scalar()

    before = accounts()
    for path, data in forms:
        reply = site.anon.post(path, data={"csrf_token": csrf_token(site.anon), **data})
        assert reply.status_code == 400 and is_html(reply), (path, reply.text[:200])
    assert accounts() == before


def test_undecodable_bytes_never_reach_the_database(site):
    """Bytes that are not UTF-8 (here, a surrogate's encoding) are decoded by the server
    as U+FFFD, never as a lone surrogate: they are stored or refused, never a 5xx."""
    raw = "%ED%A0%80%FF"
    for path in (
        f"/search.json?q={raw}",
        f"/api/papers/search?q={raw}",
        f"/users/{raw}.json",
        f"/papers/{raw}.json",
        f"/feeds/category/{raw}.atom",
        f"/api/daily_papers?submitter={raw}",
    ):
        assert site.anon.get(path).status_code < 500, path
    headers = {
        "X-CSRF-Token": site.csrf,
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    reply = site.reader.post("/collections", content=f"name={raw}", headers=headers)
    assert reply.status_code == 200
    with site.store.engine.connect() as conn:
        names = conn.execute(sa.select(collections.c.name)).scalars().all()
    assert all(not has_forbidden_chars(name) for name in names)


# --- class 9: what the server answers agrees with what it says -----------------------


def test_405_names_the_allowed_methods(site):
    for method, path, allowed in [
        ("PUT", "/api/papers", "GET"),
        ("DELETE", "/index.json", "GET"),
        ("PATCH", "/collections", "POST"),
        ("PUT", "/for-you/interests", "POST"),
    ]:
        reply = site.anon.request(method, path)
        assert reply.status_code == 405, (method, path)
        assert allowed in reply.headers["allow"]


def test_the_cli_refuses_what_the_web_refuses(run_cli):
    for args in (
        ["users", "add", "eve\x00", "--email", "eve@example.org"],
        ["users", "add", "eve\udcff", "--email", "eve@example.org"],  # argv not UTF-8
        ["subscribers", "add", "a\x00@example.org"],
        ["search", "attention\x00"],
    ):
        result = run_cli(*args)
        assert result.exit_code == 2 and "NUL" in result.output, args
    for limit in ("0", "101", str(10**30)):
        assert run_cli("search", "attention", "--limit", limit).exit_code == 2
        assert run_cli("similar", "2611.00001", "--limit", limit).exit_code == 2
    for day in ("0001-01-01", "9999-12-31"):
        result = run_cli("digest", "send", "--date", day, "--dry-run")
        assert result.exit_code == 2 and "between 1900-01-01 and 9998-12-31" in result.output
    assert run_cli("digest", "send", "--date", "9998-12-31", "--dry-run").exit_code == 0
