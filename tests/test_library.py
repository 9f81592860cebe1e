"""Reading state, hide read, private notes and /library, on both engines, driven as a
browser without JavaScript drives them: plain form posts that redirect back."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.services import community
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.store import Store
from paperfeed.store.db import _sqlalchemy_url
from paperfeed.store.migrations import LATEST_VERSION, MIGRATIONS, current_version
from paperfeed.store.schema import metadata, schema_migrations
from tests.feeds import hf_api_entry, paper
from tests.forms import new_reader, sent_to_log_in
from tests.helpers import UNCACHED, site_in_process

DAY = "2026-11-04"
TITLES = [
    "Sparse attention for long documents",
    "Reward models for step-by-step reasoning",
    "Tactile grasping of fragile objects",
    "Speech recognition with tiny transducers",
    "Diffusion models for protein design",
    "Sparse mixtures of experts at scale",
]
IDS = [f"2611.{n:05d}" for n in range(1, len(TITLES) + 1)]


@pytest.fixture(scope="module")
def site(module_db_url, tmp_path_factory, load_embedder):
    folder = tmp_path_factory.mktemp("library")
    with Store(module_db_url) as store:
        daily = folder / f"{DAY}.json"
        entries = [
            hf_api_entry(paper(n, title=t, abstract=f"About {t.lower()}."), upvotes=n, day=DAY)
            for n, t in enumerate(TITLES, start=1)
        ]
        daily.write_text(json.dumps(entries))
        run_ingest(store, HfDailyFileSource(daily), show_progress=False)
        search = SearchEngine(store, folder / "data", embedder=load_embedder())
        update_indexes(search)
        with site_in_process(store, search=search, settings=UNCACHED) as client:
            yield store, client


def reader(site):
    """A new signed-in reader: (client, csrf token, user id)."""
    return new_reader(*site)


def form(client, csrf, path, **fields):
    """A plain form post, as a browser without JavaScript sends it."""
    return client.post(path, data={"csrf_token": csrf, **fields})


def item(html: str, arxiv_id: str) -> str:
    """The list item of one paper on a page ("" when it is not listed)."""
    found = re.search(rf'<li class="paper" id="paper-{re.escape(arxiv_id)}">.*?</li>', html, re.S)
    return found.group(0) if found else ""


def test_mark_read_and_read_later_from_a_list_without_javascript(site):
    client, csrf, _ = reader(site)
    day_page = f"/papers/date/{DAY}"
    listed = item(client.get(day_page).text, IDS[0])
    assert f'action="/papers/{IDS[0]}/reading"' in listed and "Mark read" in listed
    answer = form(client, csrf, f"/papers/{IDS[0]}/reading", state="read", next=day_page)
    assert answer.status_code == 303 and answer.headers["location"] == day_page
    form(client, csrf, f"/papers/{IDS[1]}/reading", state="later", next=day_page)
    html = client.get(day_page).text
    assert "✓ Read" in item(html, IDS[0]) and 'aria-pressed="true"' in item(html, IDS[0])
    assert "✓ Read later" in item(html, IDS[1]) and "Mark read" in item(html, IDS[1])
    assert "Mark read" in item(html, IDS[2])
    # The pressed button takes the mark back; "later" replaces "read" and the other way.
    form(client, csrf, f"/papers/{IDS[0]}/reading", state="none", next=day_page)
    form(client, csrf, f"/papers/{IDS[1]}/reading", state="read", next=day_page)
    html = client.get(day_page).text
    assert "Mark read" in item(html, IDS[0]) and "✓" not in item(html, IDS[0])
    assert "✓ Read" in item(html, IDS[1]) and "✓ Read later" not in item(html, IDS[1])
    # The paper page has the same buttons; scripts get JSON.
    assert "✓ Read" in client.get(f"/papers/{IDS[1]}").text
    as_script = client.post(
        f"/papers/{IDS[2]}/reading",
        data={"state": "later"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert as_script.json() == {"paper": IDS[2], "state": "later"}


def test_signed_out_lists_have_no_reading_buttons(site):
    _, anon = site
    assert "/reading" not in anon.get(f"/papers/date/{DAY}").text
    assert anon.post(f"/papers/{IDS[0]}/reading", data={"state": "read"}).status_code == 403


def test_hide_read_on_the_day_page_and_for_you(site):
    client, csrf, _ = reader(site)
    day_page = f"/papers/date/{DAY}"
    form(client, csrf, f"/papers/{IDS[0]}/reading", state="read", next=day_page)
    form(client, csrf, f"/papers/{IDS[1]}/reading", state="later", next=day_page)
    shown = client.get(day_page).text
    assert item(shown, IDS[0]) and "Hide read papers" in shown
    hidden = client.get(day_page, params={"hide": "read"}).text
    assert not item(hidden, IDS[0]) and item(hidden, IDS[1]) and item(hidden, IDS[2])
    assert "Show read papers" in hidden
    # A button pressed on the filtered list comes back to it.
    assert f'name="next" value="{day_page}?hide=read"' in hidden
    # For you: vote for one paper, mark one of its recommendations read.
    form(client, csrf, f"/papers/{IDS[5]}/vote", state="on")
    recommended = [p["arxiv_id"] for p in client.get("/for-you.json").json()["papers"]]
    target = next(r for r in recommended if r != IDS[0])
    form(client, csrf, f"/papers/{target}/reading", state="read", next="/for-you")
    assert item(client.get("/for-you").text, target)
    assert not item(client.get("/for-you", params={"hide": "read"}).text, target)


def test_notes_are_private_sanitized_markdown(site):
    client, csrf, _ = reader(site)
    other, _, _ = reader(site)
    _, anon = site
    hostile = (
        "**key idea** <script>window.__x=1</script> [link](javascript:alert(1)) "
        '<img src=x onerror="alert(2)"> $x^2$'
    )
    answer = form(client, csrf, f"/papers/{IDS[2]}/note", body=hostile)
    assert answer.status_code == 303 and answer.headers["location"] == f"/papers/{IDS[2]}#note"
    page = client.get(f"/papers/{IDS[2]}").text
    section = page[page.index('id="note"') :]
    shown = re.search(r'<div class="comment-body">(.*?)</div>', section, re.S).group(1)
    assert "<strong>key idea</strong>" in shown and "<math" in shown
    # Raw HTML and a javascript: link stay text: no element, no attribute, no href.
    assert "<script" not in shown and "<img" not in shown and "href" not in shown
    assert "&lt;script&gt;" in shown
    # The form keeps the Markdown to edit, escaped.
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", section, re.S).group(1)
    assert textarea.startswith("**key idea** &lt;script&gt;")
    assert "key idea" not in other.get(f"/papers/{IDS[2]}").text
    assert "key idea" not in anon.get(f"/papers/{IDS[2]}").text
    # An empty note removes it; an overlong one is refused.
    form(client, csrf, f"/papers/{IDS[2]}/note", body="   ")
    assert "key idea" not in client.get(f"/papers/{IDS[2]}").text
    assert form(client, csrf, f"/papers/{IDS[2]}/note", body="x" * 20_001).status_code == 400
    assert form(client, csrf, "/papers/9999.99999/note", body="hi").status_code == 404


def test_library_lists_shelves_and_searches_inside(site):
    store, anon = site
    client, csrf, user_id = reader(site)
    form(client, csrf, f"/papers/{IDS[0]}/reading", state="later")
    form(client, csrf, f"/papers/{IDS[2]}/reading", state="read")
    form(client, csrf, f"/papers/{IDS[3]}/note", body="Check the *decoder* size.")
    with store.write() as conn:
        community.set_vote(conn, user_id, IDS[4], True)
    data = client.get("/library.json").json()
    assert [p["arxiv_id"] for p in data["papers"]] == [IDS[4], IDS[3], IDS[2], IDS[0]]
    by_id = {p["arxiv_id"]: p for p in data["papers"]}
    assert by_id[IDS[0]]["reading_state"] == "later" and by_id[IDS[4]]["voted"] is True
    assert by_id[IDS[3]]["note"] == "Check the *decoder* size."

    def shelf(name: str, q: str = "") -> list[str]:
        found = client.get("/library.json", params={"shelf": name, "q": q}).json()["papers"]
        return [p["arxiv_id"] for p in found]

    assert shelf("later") == [IDS[0]] and shelf("read") == [IDS[2]]
    assert shelf("noted") == [IDS[3]] and shelf("voted") == [IDS[4]]
    # "sparse" matches papers 1 and 6; only paper 1 is in this library.
    assert shelf("all", "sparse") == [IDS[0]]
    assert shelf("read", "sparse") == [] and shelf("all", "speech") == [IDS[3]]
    assert shelf("all", "author:example3 fragile") == [IDS[2]]
    html = client.get("/library", params={"q": "speech"}).text
    assert item(html, IDS[3]) and "<em>decoder</em>" in html and not item(html, IDS[0])
    assert "Nothing in your library matches" in client.get("/library?q=zebra").text
    assert sent_to_log_in(anon.get("/library?shelf=later"), "/library?shelf=later")
    assert anon.get("/library.json").status_code == 401
    assert client.get("/library.json", params={"shelf": "bogus"}).status_code == 400
    assert client.get("/library.json", params={"q": "x" * 2_001}).status_code == 400


def test_migration_14_adds_the_library_tables_to_a_version_8_store(empty_db_url):
    """A store stamped 1..8 (the versions before this branch, with 9..13 not there):
    migrate() runs step 14 alone and the tables work."""
    mine = {"reading_states", "paper_notes"}
    engine = sa.create_engine(_sqlalchemy_url(empty_db_url))
    with engine.begin() as conn:
        metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name not in mine])
        conn.execute(
            schema_migrations.insert(),
            [{"version": v, "name": n, "applied_at": utcnow()} for v, n, _ in MIGRATIONS if v <= 8],
        )
    engine.dispose()
    with Store(empty_db_url) as store, store.engine.connect() as conn:
        assert mine <= set(sa.inspect(conn).get_table_names())
        assert current_version(conn) == LATEST_VERSION
        assert 14 in set(conn.execute(sa.select(schema_migrations.c.version)).scalars())
