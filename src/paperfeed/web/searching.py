"""Search for the web interfaces: the service's errors as HTTP answers."""

from __future__ import annotations

from fastapi import HTTPException

from paperfeed.query import QueryError
from paperfeed.services.search import SearchEngine, SearchResults


def search_or_http_error(
    search: SearchEngine | None,
    q: str,
    mode: str,
    limit: int,
    offset: int = 0,
    sort: str = "relevance",
    among: list[int] | None = None,
) -> SearchResults:
    """503 when this server has no search, 400 for a query the service refuses.
    `among`: search only these papers (a reader's library)."""
    if search is None:
        raise HTTPException(503, "search is not enabled on this server")
    try:
        return search.search(q, mode=mode, limit=limit, offset=offset, sort=sort, among=among)
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from exc
