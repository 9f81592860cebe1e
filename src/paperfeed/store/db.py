"""Opening a store: one SQLAlchemy engine for SQLite or PostgreSQL, migrated on open."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from paperfeed.errors import PaperfeedError, first_line
from paperfeed.store.migrations import LATEST_VERSION, current_version, migrate

log = logging.getLogger("paperfeed.store")

# The web server answers from a pool of 40 threads; each needs a connection at once.
POOL_SIZE, POOL_OVERFLOW = 10, 40
# A replica that does not answer within this many seconds is passed over for the primary.
REPLICA_CONNECT_TIMEOUT_S = 3
# How long a replica's schema version is trusted before it is asked again: a replica that
# has not replayed the newest migration lacks its tables, and is passed over until it has.
REPLICA_SCHEMA_CHECK_S = 10.0

# Whether Store.read() may answer from a replica here: set by replica_reads() around the
# work of one request that needs no read of its own writes (web/routing.py decides which).
_REPLICA_ALLOWED: ContextVar[bool] = ContextVar("paperfeed_replica_allowed", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within this block (and the threads it hands work to with the context copied, as
    Starlette does), Store.read() may read from a replica, which may lag the primary."""
    token = _REPLICA_ALLOWED.set(True)
    try:
        yield
    finally:
        _REPLICA_ALLOWED.reset(token)


def _sqlalchemy_url(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise PaperfeedError(
            f"bad database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        return parsed
    raise PaperfeedError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch a new database file to WAL. The switch needs the file to itself and SQLite
    answers 'locked' at once (no busy wait) while another connection is in it, as happens
    when several workers open a new store together: retry for a while."""
    for attempt in range(200):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 199:
                raise
            time.sleep(0.05)


def _configure_sqlite(dbapi_connection, _record) -> None:
    # Python's sqlite3 starts transactions on its own and runs DDL outside them; hand
    # that to SQLAlchemy (_begin_sqlite), so that a migration is one transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL sync is safe with WAL (a power cut
    # may lose the last commits, never corrupts). busy_timeout lets writers queue.
    cursor.execute("PRAGMA busy_timeout=30000")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite(conn: sa.Connection) -> None:
    """BEGIN, or BEGIN IMMEDIATE (take the write lock first) when the connection asks for
    it with execution_options(sqlite_begin="IMMEDIATE"), as migrations do."""
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def insert_unless_present(conn: sa.Connection, statement: sa.Insert) -> bool:
    """Runs an INSERT; False when a unique key says the row is there already, as when the
    same click arrives twice at once (PostgreSQL runs both; SQLite's write lock queues
    them). A savepoint keeps the caller's transaction usable."""
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except sa.exc.IntegrityError:
        return False
    return True


def insert_or_replace(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert these rows, each replacing the row with its primary key if there is one. Not
    a delete then an insert: on PostgreSQL, when another transaction writes the same keys
    at once, the delete does not see its uncommitted rows and the insert then collides
    with them."""
    if not rows:
        return
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    keys = list(table.primary_key.columns)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: insert.excluded[c.name] for c in table.columns if c not in keys},
        ),
        rows,
    )


def _replica_engine(url: str) -> sa.Engine:
    """A replica is read, never migrated (it replays the primary's schema)."""
    sa_url = _sqlalchemy_url(url)
    if sa_url.drivername == "sqlite":
        raise PaperfeedError("a read replica must be PostgreSQL (SQLite has none)")
    return sa.create_engine(
        sa_url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        connect_args={"connect_timeout": REPLICA_CONNECT_TIMEOUT_S},
    )


def _display(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


class Store:
    """A database: the engine plus what the rest of paperfeed needs to know about it.
    `replica_urls`: PostgreSQL streaming replicas of it, read by `read()` where allowed."""

    def __init__(self, url: str, replica_urls: Sequence[str] = ()) -> None:
        self.url = url
        sa_url = _sqlalchemy_url(url)
        if sa_url.drivername == "sqlite":
            if sa_url.database and sa_url.database != ":memory:":
                Path(sa_url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                sa_url,
                connect_args={"timeout": 30},
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
            )
            sa.event.listen(self.engine, "connect", _configure_sqlite)
            sa.event.listen(self.engine, "begin", _begin_sqlite)
        else:
            self.engine = sa.create_engine(
                sa_url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
            )
        try:
            migrate(self.engine)
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise PaperfeedError(
                f"cannot open database {self.display_url}: {first_line(exc)}"
            ) from exc
        self.replicas = [_replica_engine(u) for u in replica_urls]
        # Per replica: when its schema version was last read, and whether it was current.
        self._replica_schema: dict[sa.URL, tuple[float, bool]] = {}

    def read(self) -> sa.Connection:
        """A connection for reads that may lag a little: a replica's, chosen at random,
        inside replica_reads(); the primary's otherwise, and when the replica chosen does
        not answer or has not yet replayed the newest migration. Writes go through
        `engine` or `write()`, always the primary."""
        if self.replicas and _REPLICA_ALLOWED.get():
            replica = random.choice(self.replicas)
            try:
                conn = replica.connect()
            except sa.exc.OperationalError as exc:
                log.warning("replica %s passed over: %s", _display(replica.url), first_line(exc))
            else:
                if self._has_our_schema(replica, conn):
                    return conn
                conn.close()
        return self.engine.connect()

    def _has_our_schema(self, replica: sa.Engine, conn: sa.Connection) -> bool:
        """Whether the replica has replayed every migration this paperfeed knows, asked at
        most every REPLICA_SCHEMA_CHECK_S (a rolling upgrade migrates the primary first)."""
        now = time.monotonic()
        last = self._replica_schema.get(replica.url)
        if last is not None and now - last[0] < REPLICA_SCHEMA_CHECK_S:
            return last[1]
        version = current_version(conn)
        conn.rollback()  # end the check's transaction: the caller may begin its own
        current = version >= LATEST_VERSION
        if not current and (last is None or last[1]):  # said once, not every check
            log.warning(
                "replica %s passed over: its schema is at version %d, this paperfeed needs %d",
                _display(replica.url),
                version,
                LATEST_VERSION,
            )
        self._replica_schema[replica.url] = (now, current)
        return current

    def write(self) -> AbstractContextManager[sa.Connection]:
        """A transaction that reads before it writes. On SQLite it takes the write lock
        first (BEGIN IMMEDIATE), so concurrent writers queue on busy_timeout instead of
        failing to upgrade a read lock; PostgreSQL ignores the option."""
        return self.engine.execution_options(sqlite_begin="IMMEDIATE").begin()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return _display(_sqlalchemy_url(self.url))

    def close(self) -> None:
        self.engine.dispose()
        for replica in self.replicas:
            replica.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
