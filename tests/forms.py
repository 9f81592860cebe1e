"""Acting on the site as a browser does: read the CSRF token from a page, post its form."""

from __future__ import annotations

import re

import httpx

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
