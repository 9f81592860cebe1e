"""Keeping the search indexes up with the store: on demand (`paperfeed index`) or in the
background of `paperfeed serve`. Keywords first (seconds), then embeddings (slow on a
CPU), so that keyword search works as soon as papers are ingested and semantic search
joins as their vectors land."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date

from paperfeed.errors import PaperfeedError
from paperfeed.index.similar import ROUND_LIMIT, store_similar
from paperfeed.index.vectors import count_stale, embed_pending
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.paper_map import place_new_papers
from paperfeed.services.rising import refresh_rising
from paperfeed.services.search import SearchEngine
from paperfeed.services.tldr import summarize_pending
from paperfeed.store import Store, pgvector

log = logging.getLogger("paperfeed.indexer")
_ONE_AT_A_TIME = threading.Lock()


def update_indexes(
    engine: SearchEngine,
    on_keyword: Callable[[int, int], None] | None = None,
    on_embedded: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    on_tldr: Callable[[int], None] | None = None,
    today: date | None = None,
) -> tuple[int, int]:
    """Sync the keyword index, summarize (TL;DR) stale papers, recompute the rising topics
    when papers changed (`today`: their clock, see services/rising.py), embed stale papers,
    load new vectors, store the similar papers of those that lack them (index/similar.py).
    Returns how many papers were (keyword-indexed, embedded). Callbacks get progress;
    `stop` ends early between batches (what was committed stays). One call at a time per
    process: the background indexer and the updater of `serve` share an engine, and a
    tantivy index takes one writer at a time."""
    with _ONE_AT_A_TIME:
        return _update_indexes(engine, on_keyword, on_embedded, stop, on_tldr, today)


def _update_indexes(
    engine: SearchEngine,
    on_keyword: Callable[[int, int], None] | None,
    on_embedded: Callable[[int], None] | None,
    stop: threading.Event | None,
    on_tldr: Callable[[int], None] | None,
    today: date | None,
) -> tuple[int, int]:
    store = engine.store
    keyword_total = engine.keyword.pending(store)
    keyword_done = 0
    if keyword_total:
        for keyword_done in engine.keyword.sync(store, keyword_total):
            if on_keyword:
                on_keyword(keyword_done, keyword_total)
    # TL;DRs next: thousands a second, so they are on the pages long before the vectors.
    for _ in summarize_pending(store, on_progress=on_tldr):
        if stop is not None and stop.is_set():
            break
    # Not while another process is still ingesting: a later round, once it is done.
    if not engine.keyword.pending(store):
        refresh_rising(store, today)
    embedded = 0
    stopped = stop.is_set if stop is not None else lambda: False
    if count_stale(store, engine.embedder.model_id):
        for count in embed_pending(store, engine.embedder, on_progress=on_embedded):
            embedded = count
            engine.refresh_vectors()  # searchable batch by batch
            if stopped():
                break
    vectors = engine.refresh_vectors()
    # Once per process, then when vectors were added or the last round left lists to do.
    if vectors.scans_every_vector and (embedded or engine.similar_due) and not stopped():
        stored = store_similar(store, vectors, stopped)
        engine.similar_due = stored >= ROUND_LIMIT
        if stored:
            log.info("stored the similar papers of %d papers", stored)
    # On the map, beside their neighbours (once a layout exists).
    place_new_papers(store, engine.embedder.model_id)
    return keyword_done, embedded


def follow_indexes(engine: SearchEngine) -> None:
    """For a worker that shares the keyword index folder with the one that writes it
    (`serve --workers`): open the index's latest commit and load the new vectors."""
    engine.keyword.reload()
    engine.refresh_vectors()


def switch_vectors(store: Store, backend: str) -> bool:
    """`paperfeed index --vectors`: "pgvector" makes the pgvector copy of the vectors (or
    catches it up), "memory" drops it (the vectors stay in paper_embeddings). Returns
    whether anything was there to drop or is now there; pgvector that cannot be used is
    a PaperfeedError saying why."""
    with store.engine.begin() as conn:
        if backend == "memory":
            return pgvector.disable(conn)
        problem = pgvector.enable(conn, catch_up=True)
    if problem is not None:
        raise PaperfeedError(f"--vectors pgvector: {problem}")
    return True


class BackgroundIndexer(PeriodicJob):
    """Runs update_indexes every `interval_s` seconds in a daemon thread (`paperfeed
    serve`). Also how a worker learns of papers another process committed: each round
    syncs the keyword index by `papers.ingested_at` and loads new vectors. Every 15 s by
    default (PAPERFEED_INDEX_EVERY): with the page cache's 30 s, other workers show a new
    paper within a minute. `writes` False: a follower (follow_indexes), for the workers
    of `serve --workers` beside the one that writes the index (a tantivy index takes one
    writer) and embeds."""

    def __init__(
        self,
        engine: SearchEngine,
        interval_s: float,
        today: date | None = None,
        writes: bool = True,
    ) -> None:
        self.engine = engine
        self.today = today  # the rising topics' clock (PAPERFEED_TODAY)
        self.writes = writes
        super().__init__("indexer", interval_s, self._round)

    def _round(self, stop: threading.Event) -> None:
        if not self.writes:
            follow_indexes(self.engine)
            return
        keyword, embedded = update_indexes(self.engine, stop=stop, today=self.today)
        if keyword or embedded:
            log.info("indexed %d papers for keywords, embedded %d", keyword, embedded)
