"""Signed, expiring tokens for links in emails.

A token is `payload.expiry.signature`, base64url, signed with HMAC-SHA256 over the purpose
too, so a token made for one purpose never works for another. Every link is signed with
the `email-links` key that all workers share:

| link | purpose | lifetime | bound to | made in |
|---|---|---|---|---|
| confirm a subscription | subscribe-confirm | 3 days | the subscription and its newest request | subscriptions |
| unsubscribe | unsubscribe | 400 days | the subscription id and its address | subscriptions |
| reset a password | password-reset | 1 hour | the user and their current password hash | accounts |
| finish a sign-up | signup | 1 day | the username and address asked for | accounts |
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from paperfeed.errors import PaperfeedError
from paperfeed.store import Store
from paperfeed.store.secrets import get_or_create_secret

LINK_KEY = "email-links"


class TokenError(PaperfeedError):
    """A token that is malformed, forged, for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, purpose: str, body: str) -> str:
    return _b64(hmac.new(key, f"{purpose}\n{body}".encode(), hashlib.sha256).digest())


def sign(key: bytes, purpose: str, payload: str, max_age_s: int, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + max_age_s)
    body = f"{_b64(payload.encode())}.{expires}"
    return f"{body}.{_signature(key, purpose, body)}"


def verify(key: bytes, purpose: str, token: str, now: float | None = None) -> str:
    """The payload of a valid token; TokenError otherwise."""
    try:
        encoded, expires, signature = token.split(".")
        body = f"{encoded}.{expires}"
        valid = hmac.compare_digest(signature.encode(), _signature(key, purpose, body).encode())
        payload = _unb64(encoded).decode() if valid else ""
        expiry = int(expires)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("this link is malformed") from exc
    if not valid:
        raise TokenError("this link is not valid")
    if (time.time() if now is None else now) > expiry:
        raise TokenError("this link has expired")
    return payload


def link_key(store: Store) -> bytes:
    return get_or_create_secret(store.engine, LINK_KEY)
