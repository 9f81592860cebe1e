"""Who is asking, and whether a state-changing request really comes from our own page.

CSRF: every browser gets a random `pf_csrf` cookie (set by BrowserSecurityMiddleware); forms
and scripts send HMAC(site key, that cookie + the session cookie) as the `csrf_token`
field or the `X-CSRF-Token` header. A third-party page can neither read the cookies nor
compute the HMAC; a nonce planted by a sibling domain with a token of the attacker's
own does not fit the victim's session. Requests
whose Origin header names another host are refused outright. Every state-changing route
is a POST that depends on `Security.require_csrf`; no GET changes anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.services.accounts import SESSION_DAYS, User, session_user
from paperfeed.services.community import voted_among
from paperfeed.store import Store

CSRF_COOKIE = "pf_csrf"
SESSION_COOKIE = "pf_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def request_header(scope: Scope, name: bytes) -> str:
    """A request header's value ("" when absent); `name` in lower case."""
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), "")


def request_cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies, parsed as Starlette parses them for `request.cookies` (a
    stricter parser would drop the whole header over one odd cookie)."""
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            return cookie_parser(value.decode("latin-1"))
    return {}


# Scripts, styles and images from this site only, no inline script, no framing: even a
# string that escaped every escaping step could not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def csrf_token_for(key: bytes, nonce: str, session: str) -> str:
    """The token a browser with this nonce cookie and session cookie ("" when signed
    out) must send back."""
    return hmac.new(key, f"{nonce}|{session}".encode(), hashlib.sha256).hexdigest()


class BrowserSecurityMiddleware:
    """Gives each browser its CSRF nonce cookie and every response the headers above
    (pure ASGI: costs microseconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = request_cookies(scope).get(CSRF_COOKIE, "")
        fresh = not _NONCE.fullmatch(nonce)
        if fresh:
            nonce = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend(_HEADERS)
                if fresh:
                    cookie = f"{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Lax"
                    if scope.get("scheme") == "https":
                        cookie += "; Secure"
                    headers.append((b"set-cookie", cookie.encode()))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Security:
    def __init__(
        self,
        store: Store,
        key: bytes,
        base_url: str = "",
        secure_cookies: bool | None = None,
    ) -> None:
        self.store = store
        self.key = key
        # Behind a proxy that rewrites Host, Origin names the public site: accept it too.
        self.public_host = urlsplit(base_url).netloc
        # None: Secure cookies exactly when the request came over https.
        self.secure_cookies = secure_cookies

    def csrf_token(self, request: Request) -> str:
        """HMAC of this browser's nonce and, once signed in, its session: a token taken
        from another browser or session does not fit."""
        return csrf_token_for(
            self.key, request.state.csrf_nonce, request.cookies.get(SESSION_COOKIE, "")
        )

    def user(self, request: Request) -> User | None:
        """The signed-in user, looked up once per request."""
        if not hasattr(request.state, "user"):
            token = request.cookies.get(SESSION_COOKIE)
            user = None
            if token:
                with self.store.engine.connect() as conn:
                    user = session_user(conn, token)
            request.state.user = user
            if user is not None:
                request.state.personal = True  # web/page_cache.py never keeps such a page
        return request.state.user

    def voted_among(self, request: Request, arxiv_ids: list[str]) -> set[str]:
        """Which of these papers the signed-in reader voted for (none when signed out)."""
        user = self.user(request)
        if user is None or not arxiv_ids:
            return set()
        with self.store.engine.connect() as conn:
            return voted_among(conn, user.id, arxiv_ids)

    def require_user(self, request: Request) -> User:
        user = self.user(request)
        if user is None:
            raise HTTPException(401, "log in first")
        return user

    def require_admin(self, request: Request) -> User:
        user = self.require_user(request)
        if not user.is_admin:
            raise HTTPException(403, "only an admin can do that")
        return user

    async def require_csrf(self, request: Request) -> None:
        """A FastAPI dependency for every state-changing route."""
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc not in (
            request.headers.get("host"),
            self.public_host,
        ):
            raise HTTPException(403, "cross-site request refused")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        expected = self.csrf_token(request).encode()
        if not sent or not hmac.compare_digest(sent.encode(), expected):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and retry")

    def _secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return request.url.scheme == "https"

    def set_session_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_DAYS * 86400,
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
        )

    def clear_session_cookie(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="lax", secure=self._secure(request)
        )

    def template_context(self, request: Request) -> dict[str, Any]:
        return {"current_user": self.user(request), "csrf_token": self.csrf_token(request)}
