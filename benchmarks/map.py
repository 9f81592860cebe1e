"""The map of papers: which layout method, how long a layout takes at 104k papers, and what
/map weighs and how fast it draws in Chromium.

    .venv/bin/python benchmarks/map.py [--work-dir /tmp/pf-map] [--sample 2000]

1. Methods, on the first `--sample` papers of arxiv-cs-daily embedded for real: openTSNE
   (PCA to 50 dims, services/paper_map.layout_2d), UMAP (umap-learn, 15 neighbours,
   cosine) and PCA to 2 dims as a floor. Quality: kNN preservation, the share of each
   paper's 10 nearest neighbours in embedding space that are among its 10 nearest on the
   map. Time: the same run, and again at 20,000 papers (UMAP's first run includes numba
   compiling it; the second does not).
2. The whole job (`build_map`) at all 104,235 papers. Embedding them all takes hours on two
   cores, so (as benchmarks/search_speed.py does) the `--sample` real vectors stand for
   the rest with small noise (benchmarks.common.fill_vectors): the layout costs the same
   whatever the values, but its quality is measured in step 1, not here. Then placing
   500 new papers beside their neighbours (place_new_papers), the indexing job's step.
3. /map served over loopback to Chromium (1280 x 800, 3 loads, median): bytes transferred
   (HTML, script, styles, every page of /map.json, gzipped as served) and the time from
   navigation to the first points drawn (performance mark `map-first-render`) and to all
   104k drawn (`map-complete`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import ARXIV_CS_DAILY, fill_vectors, machine, write_result  # noqa: E402
from paperfeed.index.embedder import Embedder  # noqa: E402
from paperfeed.services.ingest import run_ingest  # noqa: E402
from paperfeed.services.paper_map import (  # noqa: E402
    build_map,
    embedded_vectors,
    layout_2d,
    place_new_papers,
)
from paperfeed.sources.jsonl import JsonlSource  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import map_points, papers  # noqa: E402
from paperfeed.web.app import create_app  # noqa: E402
from tests.helpers import UNCACHED, serve_app  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "map.json"


def knn_preservation(vectors: np.ndarray, xy: np.ndarray, k: int = 10) -> float:
    """Mean share of each point's k nearest (cosine) that are among its k nearest in 2D."""
    from sklearn.neighbors import NearestNeighbors

    high = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(vectors)
    low = NearestNeighbors(n_neighbors=k + 1).fit(xy)
    a = high.kneighbors(return_distance=False)[:, :k]
    b = low.kneighbors(return_distance=False)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)]))


def umap_layout(vectors: np.ndarray) -> np.ndarray:
    import umap

    return umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", n_jobs=-1).fit_transform(
        vectors
    )


def pca_layout(vectors: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=7).fit_transform(vectors)


METHODS = {"openTSNE (PCA 50)": layout_2d, "UMAP": umap_layout, "PCA 2D": pca_layout}


def compare_methods(real: np.ndarray, larger: np.ndarray | None) -> list[dict]:
    rows = []
    for name, method in METHODS.items():
        row: dict = {"method": name, "sample": len(real)}
        started = time.perf_counter()
        xy = method(real)
        row["sample_seconds"] = round(time.perf_counter() - started, 1)
        row["knn10_preserved"] = round(knn_preservation(real, xy), 3)
        if larger is not None:
            started = time.perf_counter()
            method(larger)
            row["larger"] = len(larger)
            row["larger_seconds"] = round(time.perf_counter() - started, 1)
        print(row, flush=True)
        rows.append(row)
    return rows


def load_store(store: Store, embedder: Embedder) -> None:
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar()
    if count < 100_000:
        run_ingest(store, JsonlSource(ARXIV_CS_DAILY), show_progress=True)
    fill_vectors(store, embedder)


def full_layout(store: Store, model: str) -> dict:
    stages: dict[str, float] = {}
    started = time.perf_counter()

    def on_progress(stage: str, _fraction: float) -> None:
        stages.setdefault(stage, time.perf_counter() - started)
        print(f"  {stage} at {time.perf_counter() - started:.0f} s", flush=True)

    summary = build_map(store, model, on_progress)
    marks = sorted(stages.items(), key=lambda kv: kv[1])
    phases = {
        stage: round(marks[i + 1][1] - at, 1) if i + 1 < len(marks) else 0.0
        for i, (stage, at) in enumerate(marks)
    }
    return {**summary.to_json(), "phases_s": phases}


def placing(store: Store, model: str, count: int = 500) -> dict:
    """Take `count` papers off the map, then time putting them back beside neighbours."""
    with store.engine.begin() as conn:
        taken = conn.execute(
            sa.select(map_points.c.paper_id).order_by(map_points.c.paper_id.desc()).limit(count)
        ).scalars()
        conn.execute(map_points.delete().where(map_points.c.paper_id.in_(list(taken))))
    started = time.perf_counter()
    placed = place_new_papers(store, model)
    return {"papers": placed, "seconds": round(time.perf_counter() - started, 2)}


def in_chromium(store: Store, loads: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    app = create_app(store, settings=UNCACHED)
    samples = []
    with serve_app(app) as site, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{site.base_url}/map")
            page.wait_for_selector("#paper-map[data-state=complete]", timeout=120_000)
            samples.append(
                page.evaluate(
                    """() => {
                      const mark = (n) => performance.getEntriesByName(n)[0].startTime;
                      const nav = performance.getEntriesByType("navigation")[0];
                      const res = performance.getEntriesByType("resource");
                      const json = res.filter((r) => r.name.includes("/map.json"));
                      const sum = (rs, f) => rs.reduce((s, r) => s + r[f], 0);
                      return {
                        first_render_ms: mark("map-first-render"),
                        complete_ms: mark("map-complete"),
                        html_bytes: nav.transferSize,
                        static_bytes: sum(res.filter((r) => r.name.includes("/static/")), "transferSize"),
                        json_bytes: sum(json, "transferSize"),
                        json_decoded_bytes: sum(json, "decodedBodySize"),
                        json_requests: json.length,
                        points: window.paperMap.count(),
                      };
                    }"""
                )
            )
            page.close()
        browser.close()
    out = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    out["total_bytes"] = out["html_bytes"] + out["static_bytes"] + out["json_bytes"]
    return {k: round(v) if isinstance(v, float) else v for k, v in out.items()}


PARTS = ("layout", "placing", "browser", "methods")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pf-map"))
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--larger", type=int, default=20_000, help="0: time the sample only")
    parser.add_argument(
        "--part", choices=PARTS, action="append", help="run only these (default: all)"
    )
    args = parser.parse_args()
    parts = args.part or PARTS
    args.work_dir.mkdir(parents=True, exist_ok=True)
    embedder = Embedder()
    # Parts run apart (each takes minutes on a loaded machine) add to the same result.
    result = json.loads(RESULT.read_text()) if RESULT.exists() and args.part else {}
    with Store(f"sqlite:///{args.work_dir / 'bench.db'}") as store:
        load_store(store, embedder)
        if "layout" in parts:
            result["layout"] = full_layout(store, embedder.model_id)
            print("layout", result["layout"], flush=True)
        if "placing" in parts:
            result["placing"] = placing(store, embedder.model_id)
            print("placing", result["placing"], flush=True)
        if "browser" in parts:
            result["chromium"] = in_chromium(store)
            print("chromium", result["chromium"], flush=True)
        if "methods" in parts:
            _, vectors = embedded_vectors(store, embedder.model_id)
            larger = vectors[: args.larger] if args.larger else None
            result["methods"] = compare_methods(vectors[: args.sample], larger)
        with store.engine.connect() as conn:
            result["papers"] = conn.execute(
                sa.select(sa.func.count()).select_from(map_points)
            ).scalar()
    result.update(
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine(),
        command="python benchmarks/map.py",
        load_average=round(os.getloadavg()[0], 1),
    )
    write_result(RESULT, result)


if __name__ == "__main__":
    main()
