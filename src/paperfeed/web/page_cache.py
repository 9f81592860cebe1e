"""A response cache for what anonymous readers GET: every route that declares itself
`CACHEABLE` (the feed, trending, paper pages, searches, feeds and their JSON twins).

Such a page is the same for every visitor without a session (pages show no per-visitor
form to them), so one rendering can answer them all. An entry lives `ttl_s` seconds, and
every successful write through this process empties the cache, so a reader sees their
own vote at once. Writes elsewhere (another worker, `paperfeed ingest`, the background
indexer) show within `ttl_s`. Signed-in readers always get fresh pages, and a page that
looked up a signed-in user (`request.state.personal`, set by web/security.py) is never
kept, whatever the cookies looked like; nor is a reader who wrote a moment ago answered
from it (web/routing.py's FRESH_COOKIE).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.web.routing import reads_own_writes
from paperfeed.web.security import request_header


def cacheable(request: Request) -> None:
    """Declares that a GET route answers every reader without a session alike."""
    request.state.cacheable = True


# A route's `dependencies=[CACHEABLE]` lets this cache keep its answers; the answers of
# every other route pass through untouched.
CACHEABLE = Depends(cacheable)


class PageCache:
    def __init__(
        self,
        app: ASGIApp,
        ttl_s: float = 30.0,
        max_bytes: int = 256_000_000,
        max_body: int = 2_000_000,
    ) -> None:
        self.app = app
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.max_body = max_body
        # key -> (kept at, response start, body, the route that rendered it)
        self.entries: OrderedDict[str, tuple[float, Message, bytes, object]] = OrderedDict()
        self.size = 0
        # Bumped by every write: a page rendered across a write is not kept.
        self.generation = 0
        # Pages being rendered now: others asking for one wait for it instead of
        # rendering it again (when a popular entry expires, 50 readers ask at once).
        self.rendering: dict[str, asyncio.Event] = {}

    def _may_answer(self, scope: Scope) -> bool:
        """Whether the cache may answer; what it keeps is decided once the route ran."""
        return scope["method"] in ("GET", "HEAD") and not reads_own_writes(scope)

    def clear(self) -> None:
        self.generation += 1
        self.entries.clear()
        self.size = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            await self._write(scope, receive, send)
            return
        if not self._may_answer(scope):
            await self.app(scope, receive, send)
            return
        # The host is part of the key: a page's absolute links may name it.
        key = (
            f"{scope['method']} {request_header(scope, b'host')} {scope['path']}"
            f"?{scope['query_string'].decode('latin-1')}"
        )
        if await self._answer_from_cache(key, scope, send):
            return
        if key in self.rendering:
            await self.rendering[key].wait()
            if await self._answer_from_cache(key, scope, send):
                return
            # Not kept (not cacheable, or not a 200): render it alongside the others.
            await self._render_and_keep(key, asyncio.Event(), scope, receive, send)
            return
        self.rendering[key] = rendered = asyncio.Event()
        try:
            await self._render_and_keep(key, rendered, scope, receive, send)
        finally:
            if self.rendering.get(key) is rendered:
                del self.rendering[key]
            rendered.set()

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST: the cache empties once it succeeds (a refused one changes nothing)."""
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status < 400:
                self.clear()

    async def _answer_from_cache(self, key: str, scope: Scope, send: Send) -> bool:
        hit = self.entries.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.ttl_s:
            return False
        self.entries.move_to_end(key)
        _, start, body, route = hit
        scope["route"] = route  # the log line and metrics name the route, as when rendered
        await send({**start, "headers": [*start["headers"], (b"x-cache", b"hit")]})
        await send({"type": "http.response.body", "body": body})
        return True

    def _keep(self, key: str, start: Message, body: bytes, route: object) -> None:
        if key in self.entries:
            self.size -= len(self.entries.pop(key)[2])
        self.entries[key] = (time.monotonic(), start, body, route)
        self.size += len(body)
        while self.size > self.max_bytes:
            self.size -= len(self.entries.popitem(last=False)[1][2])

    async def _render_and_keep(
        self, key: str, rendered: asyncio.Event, scope: Scope, receive: Receive, send: Send
    ) -> None:
        generation = self.generation
        state = scope.setdefault("state", {})  # where the route's CACHEABLE marks it
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                start = {
                    **message,
                    "headers": [
                        (k, v) for k, v in message.get("headers", []) if k != b"set-cookie"
                    ],
                }
                if state.get("cacheable"):  # known now: the route has run
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"x-cache", b"miss")],
                    }
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size <= self.max_body:
                    chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Kept before this reader's (maybe slow) client gets the last bytes, so
                    # the readers waiting for it are answered at once.
                    if (
                        start is not None
                        and start["status"] == 200
                        and size <= self.max_body
                        and generation == self.generation
                        and state.get("cacheable")
                        and not state.get("personal")
                    ):
                        self._keep(key, start, b"".join(chunks), scope.get("route"))
                    rendered.set()
            await send(message)

        await self.app(scope, receive, capture)
