"""The map of papers in a real Chromium: /map draws every point of a small real slice, a
click on any point opens its paper (checked for every point, at desktop and phone
widths), a search's papers are highlighted, and a paper page's neighbourhood links on.
Screenshots go to test-artifacts/screenshots/map-*.png."""

from __future__ import annotations

import pytest

from paperfeed.services.indexer import update_indexes
from paperfeed.services.paper_map import build_map
from paperfeed.services.search import SearchEngine
from tests.helpers import ARTIFACTS, live_site
from tests.map_slice import TOKENS, first_records, ingest, store_vectors, vectors_of

SLICE = 120
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# Every point's screen position, and what a click there opens (window.paperMap, map.js).
EVERY_POINT = """() => {
  const canvas = document.querySelector("#paper-map canvas").getBoundingClientRect();
  const out = [];
  for (let i = 0; i < window.paperMap.count(); i++) {
    const [x, y] = window.paperMap.screenOf(i);
    const inside = x >= canvas.left && x <= canvas.right && y >= canvas.top && y <= canvas.bottom;
    out.push({id: window.paperMap.idOf(i), x, y, inside, opens: window.paperMap.linkAt(x, y)});
  }
  return out;
}"""


@pytest.fixture(scope="module")
def site(shared_data, load_embedder, tmp_path_factory):
    from paperfeed.store import Store

    folder = tmp_path_factory.mktemp("map-browser")
    records = first_records(shared_data, SLICE)
    embedder = load_embedder(TOKENS)
    with Store(f"sqlite:///{folder / 'paperfeed.db'}") as store:
        ingest(store, folder, records, "slice")
        store_vectors(store, vectors_of(records, embedder), embedder.model_id)
        engine = SearchEngine(store, folder / "data", embedder=embedder)
        update_indexes(engine)
        build_map(store, embedder.model_id)
        with live_site(store, search=engine) as client:
            yield str(client.base_url).rstrip("/"), records


def test_every_point_on_the_map_opens_its_paper(chromium, site):
    base, records = site
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = chromium.new_page(viewport=SIZES["desktop"])
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))

    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        page.goto(base + "/map")
        page.wait_for_selector("#paper-map[data-state=complete]")
        assert page.locator(".map-fallback").count() == 0  # the canvas took its place
        points = page.evaluate(EVERY_POINT)
        assert sorted(p["id"] for p in points) == sorted(r["arxiv_id"] for r in records)
        assert all(p["inside"] for p in points), "a point is off the canvas"
        wrong = [p for p in points if p["opens"] != f"/papers/{p['id']}"]
        assert not wrong, f"{len(wrong)} points open another paper or none: {wrong[:3]}"
        page.screenshot(path=shots / f"map-{size_name}.png", full_page=True)

    # A real click on a point opens its paper; its neighbourhood links on without script.
    page.set_viewport_size(SIZES["desktop"])
    page.goto(base + "/map")
    page.wait_for_selector("#paper-map[data-state=complete]")
    target = page.evaluate(EVERY_POINT)[17]
    page.mouse.click(target["x"], target["y"])
    page.wait_for_url(f"**/papers/{target['id']}")
    hood = page.locator(".map-hood")
    assert hood.locator("svg a").count() == 40
    assert hood.locator(f'a[href="/papers/{target["id"]}"] circle.here').count() == 1
    hood.screenshot(path=shots / "map-neighbourhood.png")
    neighbour = hood.locator("svg a:not(:has(circle.here))").first
    href = neighbour.get_attribute("href")
    neighbour.click()
    page.wait_for_url(f"**{href}")

    # Dragging pans the map, the wheel zooms: the same point then sits elsewhere.
    page.goto(base + "/map")
    page.wait_for_selector("#paper-map[data-state=complete]")
    before = page.evaluate("() => window.paperMap.screenOf(0)")
    box = page.locator("#paper-map canvas").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 130, steps=5)
    page.mouse.up()
    moved = page.evaluate("() => window.paperMap.screenOf(0)")
    assert moved[0] - before[0] == pytest.approx(60, abs=1)
    assert moved[1] - before[1] == pytest.approx(30, abs=1)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(100)
    zoomed = page.evaluate(EVERY_POINT)
    assert zoomed[0]["x"] != pytest.approx(moved[0], abs=1)
    assert all(p["opens"] == f"/papers/{p['id']}" for p in zoomed if p["inside"])

    # A search's best matches are highlighted (and listed for readers without the canvas).
    title = records[5]["title"]
    page.goto(base + "/map?" + f"q={title}")
    page.wait_for_selector("#paper-map[data-state=complete]")
    assert page.locator(".map-matches a").first.get_attribute("href") == (
        f"/papers/{records[5]['arxiv_id']}"
    )
    page.screenshot(path=shots / "map-search-desktop.png", full_page=True)

    assert not problems, problems
    assert not outside, outside
    page.close()
