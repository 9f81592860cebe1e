"""A small site with every kind of content, served over loopback, for the hostile-input
and OpenAPI tests: papers on an arXiv day and a community day, a comment, a public
collection, a stated interest, keyword and semantic search, a reader signed in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from paperfeed.config import Settings
from paperfeed.index.embedder import Embedder
from paperfeed.services import collections, community, interests
from paperfeed.services.accounts import create_user
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import run_ingest
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from tests.feeds import hf_api_entry, listing_line, paper
from tests.forms import session_client
from tests.helpers import FAST_HTTP, live_site, refused_port

TOPICS = [
    ("Sparse attention for long context transformers", "Attention made sparse."),
    ("Process reward models for step-by-step reasoning", "A reward for every step."),
    ("Grasping fragile objects with tactile feedback", "A robot hand senses touch."),
]


@dataclass
class Site:
    store: Store
    search: SearchEngine
    anon: httpx.Client  # signed out
    reader: httpx.Client  # signed in as "reader"
    csrf: str  # the reader's CSRF token (X-CSRF-Token header)
    collection_id: int
    comment_id: int
    seed_id: int

    def act(self, path: str, data: dict | None = None, **options: object) -> httpx.Response:
        """A POST action as a script makes it: CSRF header, JSON answer."""
        headers = {"X-CSRF-Token": self.csrf, "Accept": "application/json"}
        return self.reader.post(path, data=data, headers=headers, **options)


def _fill(store: Store, folder: Path, embedder: Embedder) -> SearchEngine:
    listing = folder / "listing.jsonl"
    listing.write_text(
        "\n".join(
            listing_line(paper(n, title=title, abstract=abstract), "2026-11-03")
            for n, (title, abstract) in enumerate(TOPICS, start=1)
        )
    )
    run_ingest(store, JsonlSource(listing), show_progress=False)
    daily = folder / "2026-11-04.json"
    daily.write_text(json.dumps([hf_api_entry(paper(2, title=TOPICS[1][0]))]))
    run_ingest(store, HfDailyFileSource(daily), show_progress=False)
    search = SearchEngine(store, folder / "data", embedder=embedder)
    update_indexes(search)  # keywords, every paper embedded, vectors loaded
    return search


@contextmanager
def hostile_site(store: Store, folder: Path, embedder: Embedder) -> Iterator[Site]:
    search = _fill(store, folder, embedder)
    with store.write() as conn:
        reader = create_user(conn, "reader", "reader@example.org", "correct horse")
        comment_id = community.add_comment(conn, reader.id, "2611.00001", "First!")
        collection_id = collections.create_collection(conn, reader.id, "Reading", "", True)
        collections.add_paper(conn, collection_id, reader.id, "2611.00001")
        interests.add_seed(conn, reader.id, "category", "cs.CL")
        seed_id = interests.seeds_of(conn, reader.id)[0].id
    # Submissions ask an arXiv that refuses connections at once: a quick, clear 502.
    with refused_port() as arxiv_port:
        arxiv_api_url = f"http://127.0.0.1:{arxiv_port}/api/query"
        settings = Settings(arxiv_api_url=arxiv_api_url, http=FAST_HTTP, page_cache_s=0)
        with live_site(store, search=search, settings=settings) as anon:
            client, csrf = session_client(store, anon, reader.id)
            with client:
                yield Site(store, search, anon, client, csrf, collection_id, comment_id, seed_id)
