"""Acting on the site as a browser does: read the CSRF token from a page, post its form."""

from __future__ import annotations

import itertools
import re
import secrets
from urllib.parse import urlencode

import httpx

from paperfeed.services.accounts import create_user, start_session
from paperfeed.store import Store
from paperfeed.store.secrets import get_or_create_secret
from paperfeed.web.security import csrf_token_for
from tests.helpers import another_client

_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_token(client: httpx.Client, page: str = "/login") -> str:
    found = _TOKEN.search(client.get(page).text)
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def post_form(
    client: httpx.Client, path: str, data: dict[str, str] | None = None, page: str = "/login"
) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})})


def sign_up(client: httpx.Client, username: str, password: str = "correct horse") -> None:
    reply = post_form(
        client,
        "/signup",
        {"username": username, "email": f"{username}@example.org", "password": password},
    )
    assert reply.status_code == 303, reply.text[:300]


def session_client(store: Store, site: httpx.Client, user_id: int) -> tuple[httpx.Client, str]:
    """A new client for `site`'s server, already signed in as `user_id`, and the CSRF token
    that goes with its cookie (what a browser would have after logging in and loading a
    page)."""
    with store.engine.begin() as conn:
        token = start_session(conn, user_id)
    nonce = secrets.token_urlsafe(24)
    csrf = csrf_token_for(get_or_create_secret(store.engine, "site"), nonce, token)
    client = another_client(site)
    client.cookies.update({"pf_session": token, "pf_csrf": nonce})
    return client, csrf


def sent_to_log_in(answer: httpx.Response, page: str) -> bool:
    """A signed-out browser asking for a page of an account is sent to log in, and back."""
    return answer.status_code == 303 and answer.headers["location"] == (
        f"/login?{urlencode({'next': page})}"
    )


_readers = itertools.count()


def new_reader(store: Store, site: httpx.Client) -> tuple[httpx.Client, str, int]:
    """A new account, signed in on its own client of `site`: (client, CSRF token, user id)."""
    name = f"reader{next(_readers)}"
    with store.write() as conn:
        user = create_user(conn, name, f"{name}@example.org", "correct horse")
    client, csrf = session_client(store, site, user.id)
    return client, csrf, user.id
