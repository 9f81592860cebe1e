"""A response cache for what anonymous readers GET: the feed, trending, paper pages,
searches, feeds and their JSON twins.

Such a page is the same for every visitor without a session (pages show no per-visitor
form to them), so one rendering can answer them all. An entry lives `ttl_s` seconds, and
every write through this process (any POST) empties the cache, so a reader sees their own
vote at once. Writes elsewhere (another worker, `paperfeed ingest`, the background
indexer) show within `ttl_s`. Signed-in readers always get fresh pages.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from paperfeed.web.security import SESSION_COOKIE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CACHED_PREFIXES = (
    "/index.json", "/trending", "/papers/", "/search", "/feeds/", "/api/", "/about",
    "/collections/", "/users/",
)  # fmt: skip


def _has_session(scope: Scope) -> bool:
    marker = f"{SESSION_COOKIE}=".encode()
    return any(name == b"cookie" and marker in value for name, value in scope["headers"])


class PageCache:
    def __init__(
        self, app: App, ttl_s: float = 30.0, max_entries: int = 2_000, max_body: int = 2_000_000
    ) -> None:
        self.app = app
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_body = max_body
        self.entries: OrderedDict[str, tuple[float, Message, bytes]] = OrderedDict()
        # Bumped by every write: a page rendered across a write is not kept.
        self.generation = 0
        # Pages being rendered now: others asking for one wait for it instead of
        # rendering it again (when a popular entry expires, 50 readers ask at once).
        self.rendering: dict[str, asyncio.Event] = {}

    def _cacheable(self, scope: Scope) -> bool:
        path = scope["path"]
        return (
            scope["method"] in ("GET", "HEAD")
            and (path == "/" or path.startswith(CACHED_PREFIXES))
            and not _has_session(scope)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            try:
                await self.app(scope, receive, send)
            finally:
                self.generation += 1
                self.entries.clear()
            return
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        key = f"{scope['method']} {scope['path']}?{scope['query_string'].decode('latin-1')}"
        if await self._answer_from_cache(key, send):
            return
        if key in self.rendering:
            await self.rendering[key].wait()
            if await self._answer_from_cache(key, send):
                return
        self.rendering[key] = done = asyncio.Event()
        try:
            await self._render_and_keep(key, time.monotonic(), scope, receive, send)
        finally:
            if self.rendering.get(key) is done:
                del self.rendering[key]
            done.set()

    async def _answer_from_cache(self, key: str, send: Send) -> bool:
        hit = self.entries.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.ttl_s:
            return False
        self.entries.move_to_end(key)
        _, start, body = hit
        await send({**start, "headers": [*start["headers"], (b"x-cache", b"hit")]})
        await send({"type": "http.response.body", "body": body})
        return True

    async def _render_and_keep(
        self, key: str, now: float, scope: Scope, receive: Receive, send: Send
    ) -> None:
        generation = self.generation
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
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-cache", b"miss")],
                }
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size <= self.max_body:
                    chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if (
            start is not None
            and start["status"] == 200
            and size <= self.max_body
            and generation == self.generation
        ):
            self.entries[key] = (now, start, b"".join(chunks))
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
