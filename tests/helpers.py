"""What the tests share besides fixtures: fast HTTP settings, the CLI runner, the site
served over loopback or in-process, a mailbox for the SMTP fixture, a port that refuses
connections. Fixtures live in conftest.py and build on these."""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from paperfeed.cli import cli
from paperfeed.config import HttpSettings, Settings
from paperfeed.sources.http import tls_context
from paperfeed.store import Store
from paperfeed.web.app import create_app, server_config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Sources in tests: no politeness delay, short timeouts, quick retries.
FAST_HTTP = HttpSettings(
    min_interval_s=0, timeout_s=2, max_retries=2, backoff_base_s=0.01, max_retry_after_s=5
)
SERVER_START_TIMEOUT_S = 10
# A site that renders every page afresh: tests that change data between requests.
UNCACHED = Settings(page_cache_s=0)


def needs(what: str) -> pytest.MarkDecorator:
    """The mark of a test left out of the quick loop because it needs `what` (PostgreSQL,
    Chromium, the shared data). Unlike a bare `slow`, it does not make the test count as
    long when tests/parallel.py orders the work."""
    return pytest.mark.slow(needs=what)


class Cli:
    """Runs `paperfeed` in-process against one database, with fast HTTP settings."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.env = {
            "PAPERFEED_HTTP_MIN_INTERVAL": "0",
            "PAPERFEED_HTTP_TIMEOUT": "2",
            "PAPERFEED_HTTP_MAX_RETRIES": "2",
            "PAPERFEED_HTTP_BACKOFF": "0.01",
        }
        if not db_url.startswith("sqlite"):
            # A server store keeps its index in the user's data dir by default: never the
            # tester's own (a demo's index there would answer this test's searches).
            self.env["PAPERFEED_DATA_DIR"] = tempfile.mkdtemp(prefix="paperfeed-cli-")

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(
            cli, ["--db", self.db_url, *args], env=self.env, catch_exceptions=False
        )


def loopback_socket() -> socket.socket:
    """A socket bound to a free loopback port and kept open, so that no one else can take
    the port between choosing it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where connections are refused at once: it is held (bound, never
    listening) for as long as the block runs, so nothing else can start listening there."""
    with loopback_socket() as sock:
        yield sock.getsockname()[1]


def is_address_in_use(error: BaseException) -> bool:
    return "address already in use" in str(error).lower()


@contextmanager
def live_site(
    store: Store, trusted_proxies: tuple[str, ...] = (), **app_options: object
) -> Iterator[httpx.Client]:
    """The site served by uvicorn on a loopback port, configured as `serve` does it; a
    client for it. For what needs real HTTP: proxies, concurrency, the browser."""
    with serve_app(create_app(store, **app_options), trusted_proxies) as client:
        yield client


def loopback_client(base_url: str, **options: Any) -> httpx.Client:
    """An httpx client for a server here, sharing the process's TLS context (a new one
    costs ~30 ms, which hundreds of clients would pay)."""
    return httpx.Client(base_url=base_url, verify=tls_context(), **options)


def another_client(site: httpx.Client) -> httpx.Client:
    """A second browser on the same site (its own cookies), in-process or over loopback as
    `site` is."""
    if isinstance(site, TestClient):
        return in_process_client(site.app)
    return loopback_client(str(site.base_url), timeout=120)


class _StartupLog(logging.Handler):
    """uvicorn's log lines while it starts, to show when it does not."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def serve_app(app: Any, trusted_proxies: tuple[str, ...] = ()) -> Iterator[httpx.Client]:
    """An ASGI app served by uvicorn on a loopback socket bound here; a client for it. A
    server that does not start fails the test at once, with its log."""
    sock = loopback_socket()
    port = sock.getsockname()[1]
    config = server_config(app, "127.0.0.1", port, trusted_proxies, log_level="warning")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:
            failure.append(exc)

    log = _StartupLog()
    uvicorn_logger = logging.getLogger("uvicorn.error")
    uvicorn_logger.addHandler(log)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                reason = f" ({failure[0]!r})" if failure else ""
                raise AssertionError(f"the site did not start{reason}:\n" + "\n".join(log.lines))
            time.sleep(0.005)
    finally:
        uvicorn_logger.removeHandler(log)
    try:
        # Generous: on two busy cores (parallel workers) a page can take seconds; a test
        # about time passes its own timeout.
        with loopback_client(f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


@contextmanager
def site_in_process(store: Store, **app_options: object) -> Iterator[TestClient]:
    """The site run in this process, without a socket: the same app, middleware and
    lifespan (startup and shutdown run around the block), cookies kept, redirects and
    server errors answered as a browser would see them. For tests of what a page says."""
    app = create_app(store, **app_options)
    with in_process_client(app) as client:
        yield client


def in_process_client(app: Any) -> TestClient:
    """A client for `app` in this process that behaves like one over loopback: it does not
    follow redirects, a server error is a 500 (not an exception), and the request comes
    from 127.0.0.1."""
    return TestClient(
        app,
        base_url="http://127.0.0.1",
        raise_server_exceptions=False,
        follow_redirects=False,
        client=("127.0.0.1", 50000),
    )


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Wait for a positive signal (never a fixed sleep): `condition()` true, or fail."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Mailbox:
    """What the smtp_server fixture received (email.message.EmailMessage objects, in
    order), and how it answers: `delay_s` before accepting each message (a slow server),
    `refuse` maps an address to the reply its MAIL FROM or RCPT TO gets (e.g. '550 5.1.1
    no such user')."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list = []
        self.delay_s = 0.0
        self.refuse: dict[str, str] = {}

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} messages arrived, not {count}")
            time.sleep(0.01)
