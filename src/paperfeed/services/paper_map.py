"""A map of papers: every embedded paper at a point in 2D, grouped into labelled regions.

The layout (`paperfeed index --map`, `build_map`) reduces the embeddings with PCA to 50
dimensions, then lays them out with openTSNE (Barnes-Hut-free FFT gradients, cosine
neighbours), chosen over UMAP by measurement (docs/map.md, benchmarks/map.py). k-means
on the 2D points makes the regions; each region is labelled with the title words most
distinctive of it (how much more often a word is in the region's titles than in all). Coordinates are scaled to 0..MAP_SIZE on the longer side.

Between layouts, `place_new_papers` (run by the indexing job) puts each newly embedded
paper at the similarity-weighted mean position of its nearest already placed papers in
embedding space, in the region most of them are in: no paper waits for a relayout, and
no placed paper moves.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from paperfeed.index.embedder import DIM
from paperfeed.query import STOPWORDS, words_of
from paperfeed.records import utcnow
from paperfeed.store import Store
from paperfeed.store.schema import map_points, map_regions, paper_embeddings, papers

MAP_SIZE = 1000.0
PCA_DIMS = 50
PERPLEXITY = 30
# Iterations of t-SNE's two phases (early exaggeration, then the free run).
EARLY_ITERATIONS = 250
FREE_ITERATIONS = 500
# Neighbours a new paper is placed among, and how many words a region's label has.
PLACE_NEIGHBOURS = 10
LABEL_WORDS = 3
# Title words too generic to tell one region of an ML corpus from another.
GENERIC_WORDS = frozenset(
    {"towards", "toward", "based", "through", "new", "approach", "study", "via", "beyond"}
)

# progress(stage, fraction of the whole job done)
Progress = Callable[[str, float], None]


def _quiet(_stage: str, _fraction: float) -> None:
    pass


def embedded_vectors(store: Store, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(paper ids, unit vectors) of every paper embedded by `model`, ordered by id. The
    map's one read of the vectors: another vector backend changes this function only."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(paper_embeddings.c.paper_id, paper_embeddings.c.vector)
            .where(paper_embeddings.c.model == model)
            .order_by(paper_embeddings.c.paper_id)
        ).all()
    ids = np.fromiter((r.paper_id for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(r.vector for r in rows), dtype=np.float32)
    return ids, vectors.reshape(len(rows), DIM)


def layout_2d(vectors: np.ndarray, progress: Progress = _quiet, seed: int = 7) -> np.ndarray:
    """2D positions of `vectors` (PCA to 50 dimensions, then openTSNE), scaled so that
    the longer side spans 0..MAP_SIZE. Reports progress from 0.05 to 0.85."""
    from openTSNE import TSNEEmbedding, affinity, initialization
    from sklearn.decomposition import PCA

    count = len(vectors)
    if count < 4:  # too few for neighbours: a line is as good as any layout
        return _scaled(np.column_stack([np.arange(count, dtype=float), np.zeros(count)]))
    progress("PCA", 0.05)
    dims = min(PCA_DIMS, count - 1, vectors.shape[1])
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(vectors)
    progress("neighbours", 0.1)
    perplexity = min(PERPLEXITY, (count - 1) / 3)
    # Threads pay off on a large map only; on a small one their start-up costs more.
    large = count >= 10_000
    threads = -1 if large else 1
    affinities = affinity.PerplexityBasedNN(
        reduced, perplexity=perplexity, metric="cosine", n_jobs=threads, random_state=seed
    )
    start = initialization.pca(reduced, random_state=seed)
    total = EARLY_ITERATIONS + FREE_ITERATIONS
    done = 0

    def optimizing(iteration: int, _error: float, _embedding: np.ndarray) -> None:
        progress("layout", 0.25 + 0.6 * (done + iteration) / total)

    embedding = TSNEEmbedding(
        start,
        affinities,
        n_jobs=threads,
        random_state=seed,
        # FFT-interpolated gradients pay a fixed grid cost per iteration: the faster
        # above ~10k points, slower than Barnes-Hut below.
        negative_gradient_method="fft" if large else "bh",
        callbacks=optimizing,
        callbacks_every_iters=25,
    )
    progress("layout", 0.25)
    embedding = embedding.optimize(n_iter=EARLY_ITERATIONS, exaggeration=12, momentum=0.5)
    done = EARLY_ITERATIONS
    embedding = embedding.optimize(n_iter=FREE_ITERATIONS, momentum=0.8)
    return _scaled(np.asarray(embedding))


def _scaled(xy: np.ndarray) -> np.ndarray:
    low = xy.min(axis=0)
    extent = float((xy.max(axis=0) - low).max()) or 1.0
    return (xy - low) * (MAP_SIZE / extent)


def region_count(points: int) -> int:
    """About one region per 30^2 papers: 2 for a small slice, 59 at 104k, never over 60."""
    return max(1, min(60, round(math.sqrt(points / 30)), points))


def cluster(xy: np.ndarray, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(region of each point, centroid of each region) by k-means on the 2D layout: the
    regions are what the eye sees as groups."""
    from sklearn.cluster import KMeans

    k = region_count(len(xy))
    model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(xy)
    return model.labels_.astype(np.int64), model.cluster_centers_


def _title_words(title: str) -> set[str]:
    return {
        w
        for w in (word.lower() for word in words_of(title))
        if len(w) > 2 and not w.isdigit() and w not in STOPWORDS and w not in GENERIC_WORDS
    }


def region_labels(titles: list[str], regions: np.ndarray, count: int) -> list[str]:
    """Each region's LABEL_WORDS most distinctive title words, by how much the word's
    share of the region's titles exceeds its share of all titles: share_here x
    log(share_here / share_everywhere). A word common everywhere ("models") scores about
    nothing even where it is frequent; one frequent only here scores high. A word must be
    in 1% of the region's titles (and in 2 at least) to name it, so that chance does not."""
    words = [_title_words(t) for t in titles]
    everywhere = Counter(w for ws in words for w in ws)
    total = len(titles)
    labels = []
    for region in range(count):
        members = [words[i] for i in np.flatnonzero(regions == region)]
        here = Counter(w for ws in members for w in ws)
        floor = min(max(2, math.ceil(len(members) / 100)), len(members))
        scored = []
        for word, n in here.items():
            if n >= floor:
                share = n / len(members)
                scored.append((-share * math.log(share / (everywhere[word] / total)), word))
        scored.sort()
        labels.append(" · ".join(w for _, w in scored[:LABEL_WORDS]) or f"region {region + 1}")
    return labels


@dataclass(frozen=True)
class MapSummary:
    points: int
    regions: int
    seconds: float

    def to_json(self) -> dict[str, int | float]:
        return {"points": self.points, "regions": self.regions, "seconds": round(self.seconds, 1)}


def _titles_of(store: Store, ids: np.ndarray) -> list[str]:
    with store.engine.connect() as conn:
        found = dict(conn.execute(sa.select(papers.c.id, papers.c.title)).all())
    return [found.get(int(i), "") for i in ids]


def build_map(store: Store, model: str, progress: Progress = _quiet) -> MapSummary:
    """Lay out every paper `model` embedded, cluster and label the regions, and replace
    the stored map with the result in one transaction (readers see the old map or the
    new one). A kill before the end leaves the old map as it was."""
    import time

    started = time.perf_counter()
    progress("vectors", 0.0)
    ids, vectors = embedded_vectors(store, model)
    xy = layout_2d(vectors, progress)
    progress("regions", 0.85)
    regions, centroids = cluster(xy) if len(ids) else (np.zeros(0, np.int64), np.zeros((0, 2)))
    labels = region_labels(_titles_of(store, ids), regions, len(centroids))
    sizes = np.bincount(regions, minlength=len(centroids))
    progress("writing", 0.9)
    now = utcnow()
    with store.write() as conn:
        conn.execute(map_points.delete())
        conn.execute(map_regions.delete())
        if len(centroids):
            conn.execute(
                map_regions.insert(),
                [
                    {
                        "id": r,
                        "label": labels[r],
                        "x": float(centroids[r, 0]),
                        "y": float(centroids[r, 1]),
                        "size": int(sizes[r]),
                        "laid_out_at": now,
                    }
                    for r in range(len(centroids))
                ],
            )
        for start in range(0, len(ids), 10_000):
            chunk = slice(start, start + 10_000)
            _insert_points(conn, ids[chunk], xy[chunk], regions[chunk], "layout", now)
    progress("done", 1.0)
    return MapSummary(len(ids), len(centroids), time.perf_counter() - started)


def _insert_points(
    conn: sa.Connection,
    ids: Iterable[int],
    xy: np.ndarray,
    regions: Iterable[int],
    placed_by: str,
    now: object,
) -> None:
    rows = [
        {
            "paper_id": int(pid),
            "x": float(x),
            "y": float(y),
            "region": int(region),
            "placed_by": placed_by,
            "placed_at": now,
        }
        for pid, (x, y), region in zip(ids, xy, regions, strict=True)
    ]
    if rows:
        conn.execute(map_points.insert(), rows)


def place_new_papers(store: Store, model: str) -> int:
    """Place every paper `model` embedded that has no point yet, once a layout exists: at
    the similarity-weighted mean position of its PLACE_NEIGHBOURS nearest placed papers
    (cosine of the stored vectors, read through embedded_vectors, whatever backend serves
    search), in the region most of their weight is in. Returns how many."""
    with store.engine.connect() as conn:
        has_map = conn.execute(sa.select(sa.exists(sa.select(map_points.c.paper_id)))).scalar()
        if not has_map:
            return 0  # no layout yet: `paperfeed index --map` makes the first one
        waiting = conn.execute(
            sa.select(sa.func.count())
            .select_from(paper_embeddings)
            .where(paper_embeddings.c.model == model)
            .where(
                ~sa.exists(
                    sa.select(map_points.c.paper_id).where(
                        map_points.c.paper_id == paper_embeddings.c.paper_id
                    )
                )
            )
        ).scalar_one()
        if not waiting:
            return 0
        placed = conn.execute(
            sa.select(
                map_points.c.paper_id, map_points.c.x, map_points.c.y, map_points.c.region
            ).order_by(map_points.c.paper_id)
        ).all()
    ids, vectors = embedded_vectors(store, model)
    placed_ids = np.array([r.paper_id for r in placed], dtype=np.int64)
    is_placed = np.isin(ids, placed_ids)
    new_ids, new_vectors = ids[~is_placed], vectors[~is_placed]
    # Rows of the placed papers' vectors, aligned with `placed` (both in paper id order).
    placed_vectors = vectors[is_placed]
    spots = np.array([(r.x, r.y) for r in placed])[np.isin(placed_ids, ids[is_placed])]
    spot_regions = np.array([r.region for r in placed])[np.isin(placed_ids, ids[is_placed])]
    xy = np.zeros((len(new_ids), 2))
    regions = np.zeros(len(new_ids), dtype=np.int64)
    k = min(PLACE_NEIGHBOURS, len(placed_vectors))
    for start in range(0, len(new_ids), 256):  # 256 x 100k scores at a time: ~100 MB
        scores = new_vectors[start : start + 256] @ placed_vectors.T
        nearest = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, columns in enumerate(nearest, start=start):
            weights = np.maximum(scores[row - start, columns], 0.0) + 1e-6
            xy[row] = weights @ spots[columns] / weights.sum()
            votes: Counter[int] = Counter()
            for region, weight in zip(spot_regions[columns], weights, strict=True):
                votes[int(region)] += float(weight)
            regions[row] = votes.most_common(1)[0][0]
    with store.write() as conn:
        # Another worker may have placed some meanwhile: those keep their point.
        taken = np.fromiter(conn.execute(sa.select(map_points.c.paper_id)).scalars(), np.int64)
        keep = ~np.isin(new_ids, taken)
        _insert_points(conn, new_ids[keep], xy[keep], regions[keep], "neighbours", utcnow())
    return int(keep.sum())


# --- Reading the map (the /map page, its points, a paper's neighbourhood) ---

POINTS_PAGE = 20_000  # points in one page of /map.json: ~0.6 MB of JSON, ~0.25 MB gzipped


@dataclass(frozen=True)
class Region:
    id: int
    label: str
    x: float
    y: float
    size: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "x": round(self.x, 1),
            "y": round(self.y, 1),
            "size": self.size,
        }


def map_regions_of(conn: sa.Connection) -> list[Region]:
    """The regions of the current layout, largest first."""
    rows = conn.execute(
        sa.select(map_regions).order_by(map_regions.c.size.desc(), map_regions.c.id)
    )
    return [Region(r.id, r.label, r.x, r.y, r.size) for r in rows]


def point_count(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(map_points)).scalar_one()


def points_page(conn: sa.Connection, page: int, size: int = POINTS_PAGE) -> dict[str, list]:
    """One page of points, in paper id order, as columns (a third of the bytes of one
    object per point): arxiv_id, x, y (0..MAP_SIZE, 0.1 apart), region."""
    rows = conn.execute(
        sa.select(papers.c.arxiv_id, map_points.c.x, map_points.c.y, map_points.c.region)
        .join(papers, papers.c.id == map_points.c.paper_id)
        .order_by(map_points.c.paper_id)
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return {
        "arxiv_id": [r.arxiv_id for r in rows],
        "x": [round(r.x, 1) for r in rows],
        "y": [round(r.y, 1) for r in rows],
        "region": [r.region for r in rows],
    }


@dataclass(frozen=True)
class NearbyPoint:
    arxiv_id: str
    title: str
    # Position within the neighbourhood's square, 0..1 from its top-left corner.
    left: float
    top: float
    is_center: bool


@dataclass(frozen=True)
class Neighbourhood:
    region: str
    points: list[NearbyPoint]


def neighbourhood(conn: sa.Connection, paper_id: int, count: int = 40) -> Neighbourhood | None:
    """The `count` points nearest the paper's on the map (itself included), in a square
    around it; None when the paper has no point."""
    center = conn.execute(
        sa.select(map_points.c.x, map_points.c.y, map_regions.c.label)
        .outerjoin(map_regions, map_regions.c.id == map_points.c.region)
        .where(map_points.c.paper_id == paper_id)
    ).first()
    if center is None:
        return None
    half = MAP_SIZE / 64
    while True:  # widen the box until it holds `count` points or the whole map
        rows = conn.execute(
            sa.select(
                papers.c.id, papers.c.arxiv_id, papers.c.title, map_points.c.x, map_points.c.y
            )
            .join(papers, papers.c.id == map_points.c.paper_id)
            .where(map_points.c.x.between(center.x - half, center.x + half))
            .where(map_points.c.y.between(center.y - half, center.y + half))
        ).all()
        if len(rows) >= count or half >= MAP_SIZE:
            break
        half *= 2
    rows.sort(key=lambda r: (r.x - center.x) ** 2 + (r.y - center.y) ** 2)
    rows = rows[:count]
    reach = max(max(abs(r.x - center.x), abs(r.y - center.y)) for r in rows) or 1.0
    return Neighbourhood(
        region=center.label or "",
        points=[
            NearbyPoint(
                r.arxiv_id,
                r.title,
                0.5 + (r.x - center.x) / (2 * reach),
                0.5 + (r.y - center.y) / (2 * reach),
                r.id == paper_id,
            )
            for r in rows
        ],
    )


@dataclass(frozen=True)
class MarkedPoint:
    arxiv_id: str
    title: str
    x: float
    y: float


def marked_points(conn: sa.Connection, arxiv_ids: list[str]) -> list[MarkedPoint]:
    """The points of these papers (those on the map), in the order given."""
    if not arxiv_ids:
        return []
    rows = conn.execute(
        sa.select(papers.c.arxiv_id, papers.c.title, map_points.c.x, map_points.c.y)
        .join(map_points, map_points.c.paper_id == papers.c.id)
        .where(papers.c.arxiv_id.in_(arxiv_ids))
    ).all()
    found = {r.arxiv_id: MarkedPoint(r.arxiv_id, r.title, r.x, r.y) for r in rows}
    return [found[a] for a in arxiv_ids if a in found]


def map_extent(conn: sa.Connection) -> tuple[float, float]:
    """(width, height) of the layout: points lie in 0..width x 0..height."""
    width, height = conn.execute(
        sa.select(sa.func.max(map_points.c.x), sa.func.max(map_points.c.y))
    ).one()
    return (width or MAP_SIZE, height or MAP_SIZE)
