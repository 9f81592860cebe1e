"""Versioned schema migrations.

A fresh database is created from `schema.metadata` and stamped with the latest version; an
existing one gets each step above its version, in order, each in its own transaction.
To change the schema: edit schema.py, then append a step here that brings an existing
database to the same shape (and bump nothing else).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.store.schema import metadata, schema_migrations

Step = Callable[[sa.Connection], None]


def _create_tables(*names: str) -> Step:
    def step(conn: sa.Connection) -> None:
        metadata.create_all(conn, tables=[metadata.tables[n] for n in names])

    return step


def _create_index(table: str, name: str) -> Step:
    def step(conn: sa.Connection) -> None:
        next(i for i in metadata.tables[table].indexes if i.name == name).create(conn)

    return step


# (version, name, step). Version 1 is the initial schema, created by create_all.
MIGRATIONS: list[tuple[int, str, Step | None]] = [
    (1, "initial schema: papers, categories, users, daily entries, votes, comments, links", None),
    (2, "paper embeddings", _create_tables("paper_embeddings")),
    (3, "index papers by ingestion time", _create_index("papers", "ix_papers_ingested_at")),
    (
        4,
        "accounts: sessions, secrets, rate limits, collections, recommendation feedback",
        _create_tables(
            "sessions",
            "app_secrets",
            "auth_attempts",
            "collections",
            "collection_items",
            "not_interested",
            "interest_seeds",
        ),
    ),
    (
        5,
        "email digests: subscriptions and the digest outbox",
        _create_tables("subscriptions", "digest_outbox"),
    ),
    (7, "the update job: job leases and update runs", _create_tables("job_leases", "update_runs")),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def _lock(conn: sa.Connection) -> None:
    """Serialize migrations when several app workers start against one database. On
    SQLite the transaction itself holds the write lock (BEGIN IMMEDIATE, store/db.py)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262771)"))


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_migrations"):
        return 0
    return conn.execute(sa.select(sa.func.max(schema_migrations.c.version))).scalar() or 0


def _applied(conn: sa.Connection) -> set[int]:
    return set(conn.execute(sa.select(schema_migrations.c.version)).scalars())


def migrate(engine: sa.Engine) -> int:
    """Bring the database to LATEST_VERSION; returns the version it was at before.
    Each step missing from schema_migrations runs, not only those above the highest:
    branches number their steps ahead of each other, so a database may have 7 before 6."""
    engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    with engine.begin() as conn:
        _lock(conn)
        before = current_version(conn)
        if before == 0:
            metadata.create_all(conn)
            conn.execute(
                schema_migrations.insert(),
                [{"version": v, "name": name, "applied_at": utcnow()} for v, name, _ in MIGRATIONS],
            )
            return 0
        applied = _applied(conn)
    if before > LATEST_VERSION:
        raise RuntimeError(
            f"database schema version {before} is newer than this paperfeed ({LATEST_VERSION})"
        )
    for version, name, step in MIGRATIONS:
        if version in applied or step is None:
            continue
        with engine.begin() as conn:
            _lock(conn)
            if version in _applied(conn):  # another worker got here first
                continue
            step(conn)
            conn.execute(
                schema_migrations.insert(),
                {"version": version, "name": name, "applied_at": utcnow()},
            )
    return before
