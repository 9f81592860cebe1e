"""Search and similar papers: keyword (BM25), semantic (embeddings) and the two fused.

Fusion is weighted reciprocal rank fusion: score = sum over legs of weight / (k + rank).
Ranks, not raw scores, are fused because BM25 and cosine scores live on unrelated scales:
a weighted sum of normalized scores reached 0.729 nDCG@10 on SciFact but stayed below
keyword alone on the topic phrases at every weight tried (0.3-0.8; best 0.427 vs 0.436).
The weights depend on the query, through the coverage of the best keyword hit (the share
of the query's content words it contains):
- keyword weight = max(COVERAGE_FLOOR, coverage) ** COVERAGE_POWER. A paraphrase shares few
  words with the right paper and its keyword ranking is mostly noise: the semantic list
  leads (plain RRF let that noise push the paraphrased abstracts of
  tests/test_search_real.py down to rank 2-8).
- semantic weight = SEMANTIC_WEIGHT * (1 - COVERED_DISCOUNT * coverage ** COVERED_POWER):
  a query found word for word is the keyword list's strength.
- k, the rank constant, is small (10: the top of each list counts) except for the
  semantic list of a short query (at most SHORT_QUERY_WORDS content words: "sample
  efficiency"), where a few words give the embedding little to go on and its list only
  breaks ties (k 60). On the HF topic phrases the semantic list alone scores under half the
  keyword list; on SciFact's one-sentence claims the two are close.
The settings compared, and their numbers: benchmarks/results/search_quality.json.

Names. Query words that name an author in the index (KeywordIndex.names_in: "hinton",
"geoffrey hinton") bring that author's papers first, in keyword and hybrid mode: the
papers whose author lists hold the name form a third list in the fusion (ranked by the
rest of the query, an exact name above a longer one that contains it), and each gets
NAME_BONUS, more than any fused score, so they lead. The other two lists see the query
without the name: "li" in an abstract says nothing of Feng Li, nor does the name's
embedding.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from paperfeed.config import HNSW_EF_SEARCH, Settings
from paperfeed.index.backend import EVERYTHING, VectorBackend, VectorFilter
from paperfeed.index.embedder import Embedder, paper_text
from paperfeed.index.lexical import KeywordIndex
from paperfeed.index.similar import NEIGHBOURS_KEPT, similar_from_store
from paperfeed.index.vectors import Coverage, open_vector_backend
from paperfeed.query import STOPWORDS, ParsedQuery, QueryError, parse_query, words_of
from paperfeed.services.paper_views import PaperView, papers_by_id, with_fresh_counts
from paperfeed.store import Store
from paperfeed.store.schema import paper_links, papers

MODES = ("hybrid", "keyword", "semantic")
SORTS = ("relevance", "date", "votes")
# Sorted by date or votes: the best SORTED_POOL matches, reordered (deeper in a fused list
# come the semantic leg's nearest papers, which need not match at all).
SORTED_POOL = 100
RRF_K = 10
SHORT_QUERY_SEMANTIC_RRF_K = 60
SHORT_QUERY_WORDS = 4
SEMANTIC_WEIGHT = 0.5
COVERAGE_POWER = 1.0
COVERAGE_FLOOR = 0.3
COVERED_DISCOUNT = 0.5
COVERED_POWER = 2.0
CANDIDATES = 100  # per leg, before fusion
NAME_BONUS = 1.0  # above any fused score: sum of weights (at most 1.5) / (k + 1)
# Constraints matching at most this many papers are applied before the semantic scan;
# broader ones after it, on the OVERFETCH nearest papers.
NARROW_FILTER = 20_000
OVERFETCH = 5_000
MAX_LIMIT = 100
# No ranking is served deeper than this: offset + limit is clamped to it, so no caller can
# make an engine collect (and allocate for) an unbounded number of results.
MAX_RESULTS_DEPTH = 1_000
SNIPPET_CHARS = 300


@dataclass
class SearchHit:
    paper: PaperView
    score: float
    keyword_rank: int | None = None
    semantic_rank: int | None = None
    snippet_html: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.paper.to_json(),
            "score": round(self.score, 6),
            "keyword_rank": self.keyword_rank,
            "semantic_rank": self.semantic_rank,
            "snippet_html": self.snippet_html,
        }


@dataclass
class SearchResults:
    query: ParsedQuery
    mode: str
    hits: list[SearchHit] = field(default_factory=list)
    semantic_available: bool = True
    total: int = 0  # how many papers the ranking holds (at most MAX_RESULTS_DEPTH)
    did_you_mean: str | None = None  # the query with misspelled words corrected
    sort: str = "relevance"


def with_fresh_hit_counts(conn: sa.Connection, results: SearchResults) -> SearchResults:
    """Kept results (web/pages.py) with their papers' vote and comment counts read now."""
    views = with_fresh_counts(conn, [hit.paper for hit in results.hits])
    hits = [replace(hit, paper=view) for hit, view in zip(results.hits, views, strict=True)]
    return replace(results, hits=hits)


def fuse(rankings: list[tuple[list[int], float, float]]) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of (ranked ids, weight, k) lists; best first."""
    scores: dict[int, float] = {}
    for ids, weight, k in rankings:
        for rank, paper_id in enumerate(ids, start=1):
            scores[paper_id] = scores.get(paper_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _without_names(query: ParsedQuery, names: list[list[str]]) -> ParsedQuery:
    """The query with the words of `names` taken out of its plain words."""
    if not names:
        return query
    named = {word for name in names for word in name}

    def is_named(word: str) -> bool:  # jean-pierre is named by jean, pierre
        return all(part in named for part in re.split(r"[.\-']", word.lower()) if part)

    return replace(query, words=[w for w in query.words if not is_named(w)])


def _stem(word: str) -> str:
    word = word.lower()
    return word[: max(4, len(word) - 2)]


def coverage(terms: list[str], text: str) -> float:
    """Share of the query's content words that occur in `text` (prefix-stemmed)."""
    wanted = {_stem(t) for t in terms if t.lower() not in STOPWORDS}
    if not wanted:
        return 1.0
    present = {_stem(w) for w in words_of(text)}
    found = sum(1 for stem in wanted if stem in present or any(p.startswith(stem) for p in present))
    return found / len(wanted)


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """HTML-escaped excerpt around the first matched term, matches wrapped in <mark>.
    A term matches a word that starts with it (cheap stemming: step -> steps)."""
    stems = sorted(
        {t.lower()[: max(4, len(t) - 2)] for t in terms if len(t) > 1}, key=len, reverse=True
    )
    pattern = (
        re.compile(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", re.I)
        if stems
        else None
    )
    first = pattern.search(text) if pattern else None
    start = max(0, (first.start() if first else 0) - width // 3)
    if start:
        start = text.find(" ", start) + 1 or start
    excerpt = text[start : start + width]
    out, last = [], 0
    for match in pattern.finditer(excerpt) if pattern else []:
        out += [
            html.escape(excerpt[last : match.start()]),
            "<mark>",
            html.escape(match.group(0)),
            "</mark>",
        ]
        last = match.end()
    out.append(html.escape(excerpt[last:]))
    prefix = "… " if start else ""
    suffix = " …" if start + width < len(text) else ""
    return prefix + "".join(out) + suffix


class SearchEngine:
    """Holds the indexes for one store; one per process, shared by requests."""

    def __init__(
        self,
        store: Store,
        data_dir: Path | None,
        embedder: Embedder | None = None,
        vectors: str | None = None,
        hnsw_ef_search: int = HNSW_EF_SEARCH,
    ) -> None:
        """`data_dir` None: the keyword index is held in memory (see KeywordIndex).
        `vectors`: the vector backend (PAPERFEED_VECTORS; None: open_vector_backend's
        default), `hnsw_ef_search` its HNSW setting when it is pgvector."""
        self.store = store
        self.vector_backend = vectors
        self.hnsw_ef_search = hnsw_ef_search
        # Fusion settings; benchmarks/search_quality.py varies them.
        self.rrf_k = RRF_K
        self.short_query_semantic_rrf_k = SHORT_QUERY_SEMANTIC_RRF_K
        self.semantic_weight = SEMANTIC_WEIGHT
        self.coverage_power = COVERAGE_POWER
        self.coverage_floor = COVERAGE_FLOOR
        self.covered_discount = COVERED_DISCOUNT
        self.covered_power = COVERED_POWER
        self.narrow_filter = NARROW_FILTER
        self.keyword = KeywordIndex(data_dir / "index" / "keyword" if data_dir else None)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="paperfeed-keyword")
        # Embedding and vector scans use every core already (onnxruntime, BLAS): run as
        # many at once as there are cores, and queue the rest, rather than let dozens of
        # request threads fight over two cores.
        self.cpu = threading.BoundedSemaphore(os.cpu_count() or 2)
        self._embedder = embedder
        # None until the first load is whole (refresh_vectors): /readyz waits for it.
        self.vectors: VectorBackend | None = None
        self._vectors_lock = threading.Lock()
        self.similar_due = True  # the indexer's: stored similar papers to check (indexer.py)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def refresh(self) -> None:
        """Catch the indexes up with the store (keyword: sync; vectors: load new ones)."""
        self.keyword.catch_up(self.store)
        self.refresh_vectors()

    def refresh_vectors(self) -> VectorBackend:
        """Take in vectors added since the last call (all of them the first time). One
        call at a time: the indexer's round and a request that finds nothing loaded yet
        would otherwise both read every vector into the same index. The backend is
        published only once its first load is whole, so that searches and /readyz never
        see a part of it (a million vectors load in 50,000-row parts)."""
        with self._vectors_lock:
            vectors = self.vectors
            if vectors is None:
                vectors = open_vector_backend(
                    self.store, self.embedder.model_id, self.vector_backend, self.hnsw_ef_search
                )
            vectors.refresh()
            self.vectors = vectors
            return vectors

    def loaded_vectors(self) -> VectorBackend:
        """The vector backend, opened and refreshed on first use (refresh_vectors takes
        in new vectors); a request during the first load waits for it."""
        vectors = self.vectors
        return vectors if vectors is not None else self.refresh_vectors()

    def _has_code_ids(self) -> set[int]:
        with self.store.read() as conn:
            return set(
                conn.execute(
                    sa.select(paper_links.c.paper_id).where(paper_links.c.github_repo.is_not(None))
                ).scalars()
            )

    def _keyword(
        self, query: ParsedQuery, depth: int, among: Sequence[int] | None = None
    ) -> tuple[list[int], float]:
        """The keyword list, and how much of the query its best hit covers."""
        hits = self.keyword.search(query, limit=depth * (3 if query.has_code else 1), among=among)
        if query.has_code:
            code = self._has_code_ids()
            hits = [h for h in hits if h.paper_id in code]
        covered = coverage(query.terms, hits[0].text) if hits and query.words else 1.0
        return [h.paper_id for h in hits], covered

    def _corrected(self, query: ParsedQuery) -> str | None:
        """The query's text with its misspelled words corrected (KeywordIndex.corrections),
        or None when none is."""
        fixed = self.keyword.corrections(query.words)
        if not fixed:
            return None

        def replace_word(match: re.Match[str]) -> str:
            return fixed.get(match.group(0).lower(), match.group(0))

        return re.sub(r"[^\W_]+", replace_word, query.text)

    def _by_names(
        self,
        query: ParsedQuery,
        topic: ParsedQuery,
        names: list[list[str]],
        depth: int,
        among: Sequence[int] | None,
    ) -> list[int]:
        """Papers by any of `names` that pass the query's constraints, ranked by the rest
        of the query; depth papers per name at most."""
        found: list[int] = []
        for name in names:
            by_name = replace(topic, authors=[*query.authors, name])
            found += self._keyword(by_name, depth, among)[0]
        return list(dict.fromkeys(found))

    def _semantic(
        self,
        query: ParsedQuery,
        vectors: VectorBackend,
        depth: int,
        among: Sequence[int] | None = None,
    ) -> list[int]:
        """The semantic list, restricted to papers that pass the query's constraints.

        Categories and dates are the vector backend's own filter (rows narrowed in
        memory; a WHERE clause for pgvector). Authors and exclusions only the keyword
        index can judge: when few papers pass them all (an author), only those are
        scored; when many do (-survey), the nearest OVERFETCH papers are scored and
        those that pass are kept, which avoids listing a large share of the corpus."""
        with self.cpu:
            return self._semantic_list(query, vectors, depth, among)

    def _semantic_list(
        self,
        query: ParsedQuery,
        vectors: VectorBackend,
        depth: int,
        among: Sequence[int] | None,
    ) -> list[int]:
        vector = self.embedder.embed_query(query.semantic_text)
        # Categories and dates: the backend's own filter (pgvector: in the SQL).
        where = VectorFilter(
            categories=tuple(query.categories), since=query.since, until=query.until
        )
        # What only the keyword index can judge: authors and exclusions.
        rest = ParsedQuery(
            text="",
            excluded_words=query.excluded_words,
            excluded_phrases=query.excluded_phrases,
            authors=query.authors,
        )
        code = np.array(sorted(self._has_code_ids()), dtype=np.int64) if query.has_code else None

        def nearest(count: int, among: np.ndarray | None) -> list[int]:
            if code is not None:
                among = code if among is None else np.intersect1d(among, code)
            return [pid for pid, _ in vectors.search(vector, count, replace(where, among=among))]

        if among is not None:  # a given set of papers: score only those that pass
            return nearest(
                depth, np.array(sorted(self.keyword.keep_matching(rest, among)), np.int64)
            )
        if not (rest.authors or rest.excluded_words or rest.excluded_phrases):
            return nearest(depth, None)
        constraints = replace(
            rest, categories=query.categories, since=query.since, until=query.until
        )
        if self.keyword.count(constraints) <= self.narrow_filter:
            return nearest(depth, self.keyword.matching_ids(constraints))
        found = nearest(OVERFETCH, None)
        passing = self.keyword.keep_matching(rest, found)
        return [pid for pid in found if pid in passing][:depth]

    def search(
        self,
        text: str,
        mode: str = "hybrid",
        limit: int = 20,
        offset: int = 0,
        among: Sequence[int] | None = None,
        sort: str = "relevance",
    ) -> SearchResults:
        """`among`: search only these papers (a digest's period), as if the index held
        no others. `sort` date or votes: the best SORTED_POOL matches, newest or most
        upvoted first."""
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}: use {', '.join(MODES)}")
        if sort not in SORTS:
            raise QueryError(f"unknown sort {sort!r}: use {', '.join(SORTS)}")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise QueryError(f"limit must be 1..{MAX_LIMIT} and offset >= 0")
        query = parse_query(text)
        results = SearchResults(query=query, mode=mode, sort=sort)
        limit = min(limit, MAX_RESULTS_DEPTH - offset)
        if limit <= 0:  # past the deepest result served: an empty page
            return results
        if query.arxiv_id:
            with self.store.read() as conn:
                paper_id = conn.execute(
                    sa.select(papers.c.id).where(papers.c.arxiv_id == query.arxiv_id)
                ).scalar()
            found = paper_id is not None and (among is None or paper_id in set(among))
            ids = [(paper_id, 1.0)] if found else []
            return self._materialize(results, ids, {}, {}, offset, limit)
        depth = max(CANDIDATES, offset + limit)
        names = self.keyword.names_in(query.words) if mode != "semantic" else []
        # The query without its names: what the embedding reads, what coverage counts.
        topic = _without_names(query, names)
        results.did_you_mean = self._corrected(topic)
        name_leg = (
            self._pool.submit(self._by_names, query, topic, names, depth, among) if names else None
        )
        semantic_ids: list[int] = []
        # The keyword leg runs in a worker thread while this one embeds the query and
        # scans the vectors (tantivy, onnxruntime and numpy release the GIL).
        keyword_leg = (
            self._pool.submit(self._keyword, topic, depth, among)
            # A name and filters only: the name's papers, not every paper the filters pass.
            if mode in ("keyword", "hybrid") and (topic.terms or not names)
            else None
        )
        if mode in ("semantic", "hybrid") and topic.semantic_text:
            vectors = self.loaded_vectors()
            if len(vectors):
                semantic_ids = self._semantic(topic, vectors, depth, among)
            else:
                results.semantic_available = False
        keyword_ids, keyword_coverage = keyword_leg.result() if keyword_leg else ([], 1.0)
        name_ids = name_leg.result() if name_leg else []
        if mode == "semantic":
            ranked = [(pid, 1.0 / (RRF_K + r)) for r, pid in enumerate(semantic_ids, 1)]
        elif mode == "keyword" or not semantic_ids:
            ranked = fuse([(keyword_ids, 1.0, self.rrf_k), (name_ids, 1.0, self.rrf_k)])
        else:
            keyword_weight = max(self.coverage_floor, keyword_coverage) ** self.coverage_power
            semantic_weight = self.semantic_weight * (
                1 - self.covered_discount * keyword_coverage**self.covered_power
            )
            content_words = [t for t in topic.terms if t.lower() not in STOPWORDS]
            semantic_k = (
                self.short_query_semantic_rrf_k
                if len(content_words) <= SHORT_QUERY_WORDS
                else self.rrf_k
            )
            ranked = fuse(
                [
                    (keyword_ids, keyword_weight, self.rrf_k),
                    (semantic_ids, semantic_weight, semantic_k),
                    (name_ids, 1.0, self.rrf_k),
                ]
            )
        if name_ids:
            named = set(name_ids)
            ranked = sorted(
                ((pid, score + NAME_BONUS * (pid in named)) for pid, score in ranked),
                key=lambda item: (-item[1], item[0]),
            )
        if sort != "relevance":
            ranked = self._sorted(ranked[:SORTED_POOL], sort)
        keyword_rank = {pid: r for r, pid in enumerate(keyword_ids, 1)}
        semantic_rank = {pid: r for r, pid in enumerate(semantic_ids, 1)}
        return self._materialize(results, ranked, keyword_rank, semantic_rank, offset, limit)

    def _materialize(
        self,
        results: SearchResults,
        ranked: list[tuple[int, float]],
        keyword_rank: dict[int, int],
        semantic_rank: dict[int, int],
        offset: int,
        limit: int,
    ) -> SearchResults:
        results.total = min(len(ranked), MAX_RESULTS_DEPTH)
        page = ranked[offset : offset + limit]
        with self.store.read() as conn:
            views = papers_by_id(conn, [pid for pid, _ in page])
        terms = results.query.terms
        for paper_id, score in page:
            view = views.get(paper_id)
            if view is None:  # deleted since it was indexed
                continue
            results.hits.append(
                SearchHit(
                    paper=view,
                    score=score,
                    keyword_rank=keyword_rank.get(paper_id),
                    semantic_rank=semantic_rank.get(paper_id),
                    snippet_html=snippet(view.abstract, terms),
                )
            )
        return results

    def _sorted(self, ranked: list[tuple[int, float]], sort: str) -> list[tuple[int, float]]:
        """`ranked` newest first (sort "date") or most upvoted first ("votes"); ties keep
        their relevance order."""
        with self.store.read() as conn:
            views = papers_by_id(conn, [pid for pid, _ in ranked])

        def key(item: tuple[int, float]) -> tuple:
            view = views.get(item[0])
            if view is None:
                return (1, 0)
            if sort == "votes":
                return (0, -view.upvotes)
            day = view.announced_date or (view.published_at.date() if view.published_at else None)
            return (0, -day.toordinal()) if day else (1, 0)

        return sorted(ranked, key=key)

    def matching_days(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(paper ids, days as yyyymmdd) of every paper the query matches as a count
        counts it (services/trends.py): the query's filters and exclusions as search
        applies them, and every content word required (search ranks by any word; a
        count of "diffusion model" must not count every paper saying "model")."""
        query = parse_query(text)
        if query.arxiv_id:
            raise QueryError("an arXiv id names one paper: count words, phrases or filters")
        required = [[w] for w in query.words if w.lower() not in STOPWORDS]
        counted = replace(query, words=[], phrases=[*required, *query.phrases])
        ids, days = self.keyword.matching_days(counted)
        if query.has_code and len(ids):
            keep = np.isin(ids, np.fromiter(self._has_code_ids(), dtype=np.int64))
            ids, days = ids[keep], days[keep]
        return ids, days

    def keyword_backlog(self) -> int:
        """Papers this process's keyword index is adding now (0 once it has them all): until
        then searches miss them."""
        return self.keyword.behind

    def semantic_coverage(self) -> Coverage:
        """How many of the indexed papers this process's semantic results can include."""
        total = self.keyword.num_docs()
        return Coverage(embedded=min(len(self.loaded_vectors()), total), total=total)

    def similar(self, arxiv_id: str, limit: int = 10) -> list[SearchHit]:
        """Nearest papers by embedding: the paper's stored list merged with the papers
        embedded since (index/similar.py), else a search of every vector; a paper without
        a vector yet is embedded now."""
        vectors = self.loaded_vectors()
        limit = max(1, min(limit, MAX_LIMIT))
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(papers.c.id, papers.c.title, papers.c.abstract).where(
                    papers.c.arxiv_id == arxiv_id
                )
            ).first()
            if row is None:
                return []
            found = None
            if vectors.scans_every_vector and limit <= NEIGHBOURS_KEPT:
                with self.cpu:
                    found = similar_from_store(conn, vectors, row.id)
        if found is not None:
            hits = self._hits(found[:limit])
            if len(hits) < limit:  # papers deleted since the list was stored: the next ones
                hits = self._hits(found)[:limit]
            return hits
        vector = vectors.vectors_of([row.id]).get(row.id)
        if vector is None:
            vector = self.embedder.embed([paper_text(row.title, row.abstract)])[0]
        return self.by_vector(vector, limit, exclude=row.id)

    def by_abstract(self, text: str, limit: int = 10) -> list[SearchHit]:
        """Search by pasting an abstract (or any passage)."""
        if not words_of(text):
            raise QueryError("paste some text to search by")
        return self.by_vector(self.embedder.embed([text])[0], limit)

    def by_vector(
        self, vector: np.ndarray, limit: int, exclude: int | None = None
    ) -> list[SearchHit]:
        limit = max(1, min(limit, MAX_LIMIT))
        with self.cpu:
            found = self.loaded_vectors().search(
                vector, limit, EVERYTHING if exclude is None else VectorFilter(exclude=exclude)
            )
        return self._hits(found)

    def _hits(self, found: list[tuple[int, float]]) -> list[SearchHit]:
        with self.store.read() as conn:
            views = papers_by_id(conn, [pid for pid, _ in found])
        return [
            SearchHit(paper=views[pid], score=score, semantic_rank=rank)
            for rank, (pid, score) in enumerate(found, 1)
            if pid in views
        ]


def engine_from_settings(
    store: Store,
    settings: Settings,
    device: str = "cpu",
    bulk: bool = False,
    folder: str | None = None,
    threads: int | None = None,
) -> SearchEngine:
    """The engine the CLI and each `serve` worker use. `bulk`: the embedder tuned for
    many papers rather than queries. `folder`: a subfolder of the data dir for the keyword
    index, when it must not be the one `serve` uses (a tantivy index takes one writer).
    `threads`: the embedder's (None: one per core)."""
    embedder = Embedder(
        max_tokens=settings.embed_max_tokens, device=device, bulk=bulk, threads=threads
    )
    data_dir = settings.resolved_data_dir
    return SearchEngine(
        store,
        data_dir / folder if folder else data_dir,
        embedder=embedder,
        vectors=settings.vectors,
        hnsw_ef_search=settings.hnsw_ef_search,
    )
