"""HTTP for sources: polite spacing between requests, retries with backoff, Retry-After."""

from __future__ import annotations

import email.utils
import functools
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import httpx

from paperfeed.config import HttpSettings
from paperfeed.errors import SourceError

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# The largest answer a source needs is an arXiv page of 2,000 entries (under 10 MB). The
# bound is on the decoded body, so a small gzip bomb is caught too.
MAX_BODY_BYTES = 128 * 1024 * 1024
# Headers that described the body as it travelled, not the decoded body kept.
_TRANSFER_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not '²', which isdigit() accepts
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for the process, as httpx makes it by default (certifi's CA
    certificates): loading them costs ~30 ms, which each new client would pay again."""
    return httpx.create_ssl_context()


class HttpClient:
    def __init__(
        self,
        settings: HttpSettings,
        sleep: Callable[[float], None] = time.sleep,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self.max_body_bytes = max_body_bytes
        self._last_request: float | None = None
        # Made at the first request: most holders (the site, for submissions) never send one.
        self._client: httpx.Client | None = None
        self._making = threading.Lock()

    def _session(self) -> httpx.Client:
        with self._making:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.settings.timeout_s,
                    headers={"User-Agent": self.settings.user_agent},
                    follow_redirects=True,
                    verify=tls_context(),
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_turn(self) -> None:
        if self._last_request is not None:
            remaining = self.settings.min_interval_s - (time.monotonic() - self._last_request)
            if remaining > 0:
                self._sleep(remaining)
        self._last_request = time.monotonic()

    def get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        """GET with retries; raises SourceError with one clear line when it cannot."""
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"not an http(s) URL: {url!r}")
        attempts = self.settings.max_retries + 1
        reason = ""
        for attempt in range(attempts):
            self._wait_turn()
            wait = self.settings.backoff_base_s * (2**attempt)
            try:
                # Reading the body here turns a truncated transfer into a retryable error.
                response = self._fetch(url, params)
            except httpx.TimeoutException:
                reason = f"timed out after {self.settings.timeout_s:g} s"
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 400:
                    return response
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                if response.status_code not in RETRYABLE_STATUS:
                    raise SourceError(f"GET {response.url}: {reason}")
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None:
                    if asked > self.settings.max_retry_after_s:
                        raise SourceError(
                            f"GET {url}: {reason}, server asks to wait {asked:.0f} s; try later"
                        )
                    wait = asked
            if attempt + 1 < attempts:
                self._sleep(wait)
        raise SourceError(f"GET {url}: {reason} (gave up after {attempts} attempts)")

    def _fetch(self, url: str, params: dict[str, str] | None) -> httpx.Response:
        """One GET, its body read in chunks up to max_body_bytes (a SourceError past it:
        a server that sends without end is not waited out)."""
        with self._session().stream("GET", url, params=params) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_body_bytes:
                    raise SourceError(
                        f"GET {response.url}: answer larger than {self.max_body_bytes:,} bytes"
                    )
        headers = [h for h in response.headers.multi_items() if h[0] not in _TRANSFER_HEADERS]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=response.request
        )


def interactive(settings: HttpSettings) -> HttpSettings:
    """For a request a reader waits on (a submission): one retry and short timeouts, so
    that an unreachable server is said within seconds, not after minutes of backoff."""
    return replace(
        settings,
        timeout_s=min(settings.timeout_s, 8.0),
        max_retries=min(settings.max_retries, 1),
        backoff_base_s=min(settings.backoff_base_s, 0.5),
        max_retry_after_s=min(settings.max_retry_after_s, 3.0),
    )
