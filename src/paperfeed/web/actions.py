"""What every action route does alike: run the service call in a write transaction, turn
its refusal into an HTTP error, and answer JSON to scripts or a redirect to browsers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from paperfeed.errors import ActionError
from paperfeed.store import Store
from paperfeed.web.accounts import local_path

T = TypeVar("T")


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def run_action(store: Store, action: Callable[[sa.Connection], T]) -> T:
    """`action(conn)` in a write transaction; its ActionError becomes an HTTP error."""
    try:
        with store.write() as conn:
            return action(conn)
    except ActionError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


def done(request: Request, back: str, payload: dict[str, Any]) -> Response:
    """JSON for a script; for a browser, back to the page (a local path only)."""
    if wants_json(request):
        return JSONResponse(payload)
    return RedirectResponse(local_path(back), status_code=303)
