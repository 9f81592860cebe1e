"""Atom feeds (RFC 4287) of the daily list, trending, a search, a category and a public
collection."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from paperfeed.errors import ActionError
from paperfeed.records import utcnow
from paperfeed.services.collections import get_collection
from paperfeed.services.paper_views import PaperView, day_listing, papers_in_category
from paperfeed.services.search import SearchEngine
from paperfeed.services.trending import trending_papers
from paperfeed.store import Store
from paperfeed.web.edge import Category, RowId, SearchMode, SearchText, errors, site_router
from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.searching import search_or_http_error

ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 cannot carry at all: dropped, so a hostile title cannot break a feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FEED_SIZE = 50
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
# How the OpenAPI description declares a feed: Atom, not the default JSON.
AS_ATOM: dict[int | str, dict[str, Any]] = {
    200: {"content": {ATOM_MEDIA_TYPE: {}}, "description": "An Atom feed"}
}


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _stamp(moment: datetime | date | None) -> str:
    if moment is None:
        moment = utcnow()
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0))
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")


def atom(title: str, self_url: str, site_url: str, found: list[PaperView]) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = _text(title)
    ET.SubElement(feed, f"{{{ATOM}}}id").text = self_url
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=site_url)
    stamps = [_stamp(p.published_at or p.announced_date) for p in found]
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = max(stamps) if stamps else _stamp(None)
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "paperfeed"
    for paper, stamp in zip(found, stamps, strict=True):
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = paper.abs_url
        ET.SubElement(entry, f"{{{ATOM}}}title").text = _text(paper.title)
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = stamp
        ET.SubElement(
            entry,
            f"{{{ATOM}}}link",
            rel="alternate",
            href=f"{site_url.rstrip('/')}/papers/{paper.arxiv_id}",
        )
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="related", href=paper.abs_url)
        for name in paper.authors or ["Unknown"]:
            author = ET.SubElement(entry, f"{{{ATOM}}}author")
            ET.SubElement(author, f"{{{ATOM}}}name").text = _text(name)
        for category in paper.categories:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=_text(category))
        # The one-line TL;DR as the summary readers list; the whole abstract as content.
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = _text(paper.tldr or paper.abstract)
        ET.SubElement(entry, f"{{{ATOM}}}content", type="text").text = _text(paper.abstract)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def create_feeds_router(store: Store, search: SearchEngine | None, base_url: str) -> APIRouter:
    """Links in feeds start with `base_url` (PAPERFEED_BASE_URL), never with the Host the
    request named: a cached feed must not carry a link a client chose."""
    router = site_router(
        prefix="/feeds",
        tags=["feeds"],
        default_response_class=Response,
        responses=AS_ATOM,
        dependencies=[CACHEABLE],
    )

    def answer(request: Request, title: str, found: list[PaperView]) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        body = atom(title, f"{base_url}{request.url.path}{query}", f"{base_url}/", found)
        return Response(body, media_type=ATOM_MEDIA_TYPE)

    @router.get("/daily.atom")
    def daily(request: Request) -> Response:
        with store.read() as conn:
            listing = day_listing(conn)
        return answer(request, f"paperfeed: papers of {listing.day}", listing.papers[:FEED_SIZE])

    @router.get("/trending.atom")
    def trending_feed(request: Request) -> Response:
        with store.read() as conn:
            found = [paper for paper, _ in trending_papers(conn, FEED_SIZE)]
        return answer(request, "paperfeed: trending papers", found)

    @router.get("/search.atom", responses=errors(503))
    def search_feed(request: Request, q: SearchText = "", mode: SearchMode = "hybrid") -> Response:
        results = search_or_http_error(search, q, mode, FEED_SIZE)
        return answer(request, f"paperfeed: {q}", [h.paper for h in results.hits])

    @router.get("/category/{category}.atom", responses=errors(404))
    def category_feed(request: Request, category: Category) -> Response:
        with store.read() as conn:
            found = papers_in_category(conn, category, FEED_SIZE)
        return answer(request, f"paperfeed: {category}", found)

    @router.get("/collections/{collection_id}.atom", responses=errors(404))
    def collection_feed(request: Request, collection_id: RowId) -> Response:
        """A public collection's papers, latest added first (private ones: 404)."""
        try:
            with store.read() as conn:
                shown = get_collection(conn, collection_id, viewer_id=None)
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        return answer(request, f"paperfeed: {shown.name}", shown.papers[:FEED_SIZE])

    return router
