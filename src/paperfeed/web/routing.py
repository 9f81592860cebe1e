"""Which requests may read from a read replica (PAPERFEED_DATABASE_REPLICA_URL): the one
place that decides it.

A replica replays the primary's changes a little late (milliseconds, or more under load),
so a reader must never be sent to one right after their own write. The rule:

- a GET or HEAD without a session cookie (anonymous pages, feeds, search, the API) reads
  from a replica;
- a signed-in reader reads from the primary (their votes, collections and comments show
  at once);
- after any write that succeeded (a POST that answered below 400), the browser carries
  FRESH_COOKIE for READ_YOUR_WRITES_S seconds and reads from the primary meanwhile: a
  reader who subscribed, signed out or did anything else anonymous still sees it.

Writes always go to the primary (`Store.engine`, `Store.write()`); only `Store.read()`
follows this rule, and falls back to the primary when a replica does not answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.store.db import replica_reads
from paperfeed.web.security import SESSION_COOKIE, request_cookies

FRESH_COOKIE = "pf_fresh"
# Longer than a healthy replica's lag by far; /metrics-style lag checks belong to the
# operator (docs/scaling.md).
READ_YOUR_WRITES_S = 60
_FRESH_HEADER = (
    b"set-cookie",
    f"{FRESH_COOKIE}=1; Max-Age={READ_YOUR_WRITES_S}; Path=/; HttpOnly; SameSite=Lax".encode(),
)


def reads_own_writes(scope: Scope) -> bool:
    """Whether this request must see the primary: signed in, or a write of its own lately."""
    cookies = request_cookies(scope)
    return SESSION_COOKIE in cookies or FRESH_COOKIE in cookies


class ReplicaRouting:
    """Lets Store.read() use a replica for the requests the rule above allows, and marks
    the browsers that just wrote."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method in ("GET", "HEAD"):
            if reads_own_writes(scope):
                await self.app(scope, receive, send)
                return
            with replica_reads():
                await self.app(scope, receive, send)
            return
        if method == "OPTIONS":
            await self.app(scope, receive, send)
            return

        async def mark_fresh(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                message = {**message, "headers": [*message.get("headers", []), _FRESH_HEADER]}
            await send(message)

        await self.app(scope, receive, mark_fresh)
