"""Versioned schema migrations.

A fresh database is created from `schema.metadata` and stamped with the latest version; an
existing one gets each step above its version, in order, each in its own transaction.
To change the schema: edit schema.py, then append a step here that brings an existing
database to the same shape (and bump nothing else).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from paperfeed.records import identity_key, utcnow
from paperfeed.store import pgvector
from paperfeed.store.authors import backfill_paper_authors
from paperfeed.store.schema import (
    daily_entries,
    imported_submitters,
    metadata,
    schema_migrations,
    subscriptions,
    users,
)

log = logging.getLogger(__name__)

Step = Callable[[sa.Connection], None]


def _create_tables(*names: str) -> Step:
    def step(conn: sa.Connection) -> None:
        metadata.create_all(conn, tables=[metadata.tables[n] for n in names])

    return step


def _create_index(table: str, name: str) -> Step:
    def step(conn: sa.Connection) -> None:
        next(i for i in metadata.tables[table].indexes if i.name == name).create(conn)

    return step


def _add_column(conn: sa.Connection, table: sa.Table, name: str) -> None:
    """ALTER TABLE ... ADD COLUMN, as schema.py declares the column (type, reference),
    unless the table has it already."""
    if name in {c["name"] for c in sa.inspect(conn).get_columns(table.name)}:
        return
    column = table.c[name]
    ddl = f"ALTER TABLE {table.name} ADD COLUMN {name} {column.type.compile(conn.dialect)}"
    for fk in column.foreign_keys:
        target = fk.column
        ddl += f" REFERENCES {target.table.name} ({target.name})"
        if fk.ondelete:
            ddl += f" ON DELETE {fk.ondelete}"
    conn.execute(sa.text(ddl))


def _create_indexes(conn: sa.Connection, table: sa.Table, *names: str) -> None:
    for index in table.indexes:
        if index.name in names:
            index.create(conn, checkfirst=True)


def _fill_keys(conn: sa.Connection, table: sa.Table, source: str, key: str) -> None:
    """Set table.key = identity_key(table.source) on every row, oldest row first. A row
    whose key an older row already holds gets '<key>#dup<id>' instead: no input folds to
    that, so the newer account cannot be reached by that name (the older one keeps it),
    and the marker says which rows an operator should look at."""
    rows = conn.execute(
        sa.select(table.c.id, table.c[source])
        .where(table.c[source].is_not(None))
        .order_by(table.c.created_at, table.c.id)
    ).all()
    held: set[str] = set()
    values = []
    for row_id, text in rows:
        folded = identity_key(text)
        if folded in held:
            log.warning(
                "%s %s: %s %r collides with an older row's once case-folded; it keeps the "
                "value but can no longer be found by it (key %s#dup%s)",
                table.name, row_id, source, text, folded, row_id,
            )  # fmt: skip
            folded = f"{folded}#dup{row_id}"
        held.add(folded)
        values.append({"v_id": row_id, "v_key": folded})
    if values:
        conn.execute(
            table.update()
            .where(table.c.id == sa.bindparam("v_id"))
            .values({key: sa.bindparam("v_key")}),
            values,
        )


def _separate_identities(conn: sa.Connection) -> None:
    """Version 6: case-folded unique identity keys, and imported submitters apart from
    local accounts.

    Before, a Hugging Face submitter was a login-less `users` row and matched a local
    account of the same name, which then got the credit. Every submitter of an imported
    daily entry (whichever `users` row it points at, local or not) becomes an
    `imported_submitters` row of that name; the login-less users go."""
    imported_submitters.create(conn, checkfirst=True)
    _add_column(conn, daily_entries, "imported_submitter_id")
    for name in ("username_key", "email_key"):
        _add_column(conn, users, name)
    _add_column(conn, subscriptions, "email_key")
    credited = conn.execute(
        sa.select(daily_entries.c.id, users.c.username)
        .join(users, users.c.id == daily_entries.c.submitted_by)
        .where(daily_entries.c.origin != "local")
    ).all()
    now = utcnow()
    names = sorted({name for _, name in credited})
    if names:
        conn.execute(
            imported_submitters.insert(),
            [{"source": "huggingface", "name": n, "created_at": now} for n in names],
        )
        ids = dict(
            conn.execute(sa.select(imported_submitters.c.name, imported_submitters.c.id)).all()
        )
        conn.execute(
            daily_entries.update()
            .where(daily_entries.c.id == sa.bindparam("v_id"))
            .values(imported_submitter_id=sa.bindparam("v_sub"), submitted_by=None),
            [{"v_id": entry_id, "v_sub": ids[name]} for entry_id, name in credited],
        )
    conn.execute(users.delete().where(users.c.origin != "local"))
    _fill_keys(conn, users, "username", "username_key")
    _fill_keys(conn, users, "email", "email_key")
    _fill_keys(conn, subscriptions, "email", "email_key")
    _create_indexes(conn, daily_entries, "ix_daily_entries_imported_submitter")
    _create_indexes(conn, users, "ux_users_username_key", "ux_users_email_key")
    _create_indexes(conn, subscriptions, "ux_subscriptions_email_key")


# (version, name, step). Version 1 is the initial schema, created by create_all.
def _add_ai_summaries(conn: sa.Connection) -> None:
    for name in ("ai_summary", "ai_keywords"):
        _add_column(conn, metadata.tables["paper_links"], name)


def _copy_vectors_to_pgvector(conn: sa.Connection) -> None:
    """PostgreSQL with pgvector: the vectors copied into paper_vectors, searchable by its
    HNSW index (store/pgvector.py). SQLite, or a server without the extension or the
    right to create it: nothing, and vectors stay in memory (one log line says why)."""
    if conn.dialect.name != "postgresql":
        return
    problem = pgvector.enable(conn)
    if problem is not None:
        log.warning("migration 9: vectors stay in memory, pgvector cannot be used: %s", problem)


def _add_authors(conn: sa.Connection) -> None:
    """Version 13: the matcher's author rows (backfilled), follows, feed tokens, claims."""
    _create_tables("paper_authors", "follows", "feed_tokens", "author_claims")(conn)
    backfill_paper_authors(conn)


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
    (
        6,
        "identity: case-folded unique username and email keys, imported submitters apart",
        _separate_identities,
    ),
    (7, "the update job: job leases and update runs", _create_tables("job_leases", "update_runs")),
    (8, "Hugging Face's AI summary and keywords of a paper", _add_ai_summaries),
    (9, "vectors in pgvector (PostgreSQL with the extension)", _copy_vectors_to_pgvector),
    (10, "one-line summaries (TL;DR) of papers", _create_tables("paper_tldrs")),
    (11, "rising topics: phrases and their runs", _create_tables("rising_phrases", "rising_runs")),
    (
        12,
        "a map of papers: points and labelled regions",
        _create_tables("map_points", "map_regions"),
    ),
    (13, "authors: matched author names, follows, feed tokens, claims", _add_authors),
    (
        14,
        "your library: reading state and private notes",
        _create_tables("reading_states", "paper_notes"),
    ),
    (15, "stored similar papers", _create_tables("similar_papers")),
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
