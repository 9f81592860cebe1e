"""The map of papers on a small real slice (the first 160 papers of arxiv-cs-daily, embedded
once at 128 tokens and written to both engines): layout, regions and labels, a new paper
placed beside its neighbours, /map and /map.json, a paper's neighbourhood, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from paperfeed.index.embedder import Embedder
from paperfeed.query import words_of
from paperfeed.services.indexer import update_indexes
from paperfeed.services.paper_map import (
    MAP_SIZE,
    build_map,
    embedded_vectors,
    region_count,
)
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.store.schema import map_points, map_regions, papers
from tests.helpers import UNCACHED, Cli, site_in_process
from tests.map_slice import TOKENS, first_records, ingest, store_vectors, vectors_of

SLICE = 160


@pytest.fixture(scope="module")
def records(shared_data: Path) -> list[dict]:
    """The slice, and one more paper (the last) that arrives after the layout."""
    return first_records(shared_data, SLICE + 1)


@pytest.fixture(scope="module")
def slice_vectors(records: list[dict], load_embedder) -> dict[str, np.ndarray]:
    """Each paper's vector, computed once for both engines."""
    return vectors_of(records, load_embedder(TOKENS))


@pytest.fixture(scope="module")
def laid_out(
    module_db_url: str, records, slice_vectors, load_embedder, tmp_path_factory
) -> Iterator[SearchEngine]:
    """The slice ingested, embedded and laid out (the last record held back)."""
    folder = tmp_path_factory.mktemp("map")
    embedder = load_embedder(TOKENS)
    with Store(module_db_url) as store:
        ingest(store, folder, records[:SLICE], "slice")
        store_vectors(store, slice_vectors, embedder.model_id)
        engine = SearchEngine(store, folder / "data", embedder=embedder)
        update_indexes(engine)
        build_map(store, embedder.model_id)
        yield engine


def _points(store: Store) -> dict[int, tuple[float, float, int, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(map_points)).all()
    return {r.paper_id: (r.x, r.y, r.region, r.placed_by) for r in rows}


def test_every_embedded_paper_is_on_the_map_within_bounds(laid_out):
    points = _points(laid_out.store)
    ids, _ = embedded_vectors(laid_out.store, laid_out.embedder.model_id)
    assert sorted(points) == sorted(int(i) for i in ids)
    assert len(points) == SLICE
    xy = np.array([p[:2] for p in points.values()])
    assert xy.min() >= 0 and xy.max() <= MAP_SIZE + 1e-6
    assert xy.max() > MAP_SIZE - 1  # the longer side spans the map
    assert {p[3] for p in points.values()} == {"layout"}


def test_layout_keeps_neighbours_together(laid_out):
    """Of each paper's 10 nearest in embedding space, how many stay among its 10 nearest
    on the map: random placement keeps 10/159 (6%); the layout must keep far more."""
    ids, vectors = embedded_vectors(laid_out.store, laid_out.embedder.model_id)
    points = _points(laid_out.store)
    xy = np.array([points[int(i)][:2] for i in ids])
    similar = vectors @ vectors.T
    np.fill_diagonal(similar, -np.inf)
    near_2d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(near_2d, np.inf)
    top_embedding = np.argsort(-similar, axis=1)[:, :10]
    top_map = np.argsort(near_2d, axis=1)[:, :10]
    kept = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_embedding, top_map, strict=True)])
    assert kept > 0.3


def test_regions_are_labelled_with_their_own_title_words(laid_out):
    store = laid_out.store
    with store.engine.connect() as conn:
        regions = conn.execute(sa.select(map_regions)).all()
        titles = conn.execute(
            sa.select(map_points.c.region, papers.c.title).join(
                papers, papers.c.id == map_points.c.paper_id
            )
        ).all()
    assert len(regions) == region_count(SLICE) >= 2
    assert sum(r.size for r in regions) == SLICE
    for region in regions:
        words = region.label.split(" · ")
        assert 1 <= len(words) <= 3
        members = [t.lower() for r, t in titles if r == region.id]
        for word in words:
            holding = sum(word in {w.lower() for w in words_of(t)} for t in members)
            assert holding >= 2, (region.label, word)
        mine = np.array(
            [points[:2] for points in _points(store).values() if points[2] == region.id]
        )
        assert np.allclose(mine.mean(axis=0), (region.x, region.y), atol=1e-3)


@pytest.fixture(scope="module")
def site(laid_out):
    with site_in_process(laid_out.store, search=laid_out, settings=UNCACHED) as client:
        yield client


def test_map_json_has_every_point_in_bounds_with_regions(site, laid_out):
    answer = site.get("/map.json")
    assert answer.status_code == 200
    data = answer.json()
    assert data["total_points"] == SLICE and data["pages"] == 1 and data["page"] == 1
    columns = data["points"]
    assert {len(v) for v in columns.values()} == {SLICE}
    assert all(0 <= x <= data["width"] for x in columns["x"])
    assert all(0 <= y <= data["height"] for y in columns["y"])
    assert max(data["width"], data["height"]) == MAP_SIZE
    region_ids = {r["id"] for r in data["regions"]}
    assert set(columns["region"]) == region_ids
    with laid_out.store.engine.connect() as conn:
        ids = set(conn.execute(sa.select(papers.c.arxiv_id)).scalars())
    assert set(columns["arxiv_id"]) == ids
    assert data["today"] and set(data["today"]) <= ids  # the latest announced day's papers
    assert data["matches"] == [] and data["query"] == ""
    assert site.get("/map.json?page=2").json()["points"]["arxiv_id"] == []


def test_a_search_highlights_its_papers(site, records):
    title = records[7]["title"]
    data = site.get("/map.json", params={"q": title}).json()
    assert data["query"] == title
    assert data["matches"][0] == records[7]["arxiv_id"]
    page = site.get("/map", params={"q": title})
    assert page.status_code == 200
    assert f'href="/papers/{records[7]["arxiv_id"]}"' in page.text  # in the SVG and the list
    assert 'data-source="/map.json?q=' in page.text


@pytest.mark.parametrize("query", ["page=0", "page=1001", "page=x", "q=" + "a" * 2001])
def test_map_json_refuses_parameters_out_of_bounds(site, query):
    answer = site.get(f"/map.json?{query}")
    assert answer.status_code == 400
    assert "error" in answer.json()


@pytest.mark.parametrize("q", ['"unclosed author:', "-", "cat:", "since:2026-13"])
def test_a_hostile_query_is_an_answer_or_a_400(site, q):
    for path in ("/map.json", "/map"):
        assert site.get(path, params={"q": q}).status_code in (200, 400)


def test_map_page_without_script_shows_regions_as_links(site, laid_out):
    page = site.get("/map")
    assert page.status_code == 200
    assert '<script src="/static/map.js" defer></script>' in page.text
    with laid_out.store.engine.connect() as conn:
        labels = conn.execute(sa.select(map_regions.c.label)).scalars().all()
    for label in labels:
        assert f"/search?q={label.replace(' · ', '+')}" in page.text.replace("%20", "+")
    assert site.get("/static/map.js").status_code == 200


def test_paper_page_shows_its_neighbourhood(site, laid_out, records):
    arxiv_id = records[3]["arxiv_id"]
    page = site.get(f"/papers/{arxiv_id}")
    assert page.status_code == 200
    hood = page.text[page.text.index('class="map-hood"') :]
    links = hood[: hood.index("</section>")].count('<a href="/papers/')
    assert links == 40
    assert f'<a href="/papers/{arxiv_id}"><circle class="here"' in hood


def test_a_new_paper_is_placed_beside_its_neighbours(laid_out, records, slice_vectors, tmp_path):
    store, engine = laid_out.store, laid_out
    before = _points(store)
    new = records[SLICE]
    ingest(store, tmp_path, [new], "new")
    store_vectors(store, slice_vectors, engine.embedder.model_id)
    update_indexes(engine)  # the indexing job places it
    after = _points(store)
    with store.engine.connect() as conn:
        new_id = conn.execute(
            sa.select(papers.c.id).where(papers.c.arxiv_id == new["arxiv_id"])
        ).scalar_one()
    assert {k: v for k, v in after.items() if k != new_id} == before  # nothing else moved
    x, y, region, placed_by = after[new_id]
    assert placed_by == "neighbours"
    ids, vectors = embedded_vectors(store, engine.embedder.model_id)
    others = ids != new_id
    cosine = vectors[others] @ slice_vectors[new["arxiv_id"]]
    nearest = ids[others][np.argsort(-cosine)[:10]]
    spots = np.array([before[int(pid)][:2] for pid in nearest])
    assert spots[:, 0].min() <= x <= spots[:, 0].max()
    assert spots[:, 1].min() <= y <= spots[:, 1].max()
    assert region in {before[int(pid)][2] for pid in nearest}
    update_indexes(engine)
    assert _points(store) == after  # placed once


def test_cli_lays_out_the_map_with_a_progress_bar(sqlite_url, records, slice_vectors, tmp_path):
    cli = Cli(sqlite_url)
    cli.env["PAPERFEED_EMBED_MAX_TOKENS"] = str(TOKENS)
    model = Embedder(max_tokens=TOKENS).model_id
    with Store(sqlite_url) as store:
        ingest(store, tmp_path, records[:120], "cli")
        store_vectors(store, slice_vectors, model)
    result = cli("index", "--map")
    assert result.exit_code == 0, result.output
    assert "map: 120 papers in 2 regions" in result.output
    with Store(sqlite_url) as store:
        first = _points(store)
        assert len(first) == 120
        # The job's progress, as the CLI's bar shows it: stages in order, up to 100%.
        seen: list[tuple[str, float]] = []
        build_map(store, model, lambda stage, done: seen.append((stage, done)))
        assert [stage for stage, _ in seen][:3] == ["vectors", "PCA", "neighbours"]
        assert "layout" in dict(seen) and seen[-1] == ("done", 1.0)
        assert [done for _, done in seen] == sorted(done for _, done in seen)
        again = _points(store)
    assert {k: v[:3] for k, v in again.items()} == {k: v[:3] for k, v in first.items()}


def test_no_map_yet(fresh_db):
    with site_in_process(fresh_db, settings=UNCACHED) as client:
        assert "No map yet" in client.get("/map").text
        data = client.get("/map.json").json()
        assert data["total_points"] == 0 and data["regions"] == []
