"""Signed, expiring tokens for links in emails (confirm, unsubscribe, password reset).

A token is `payload.expiry.signature`, base64url, signed with HMAC-SHA256 over the purpose
too, so a token made for one purpose never works for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from paperfeed.errors import PaperfeedError


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
