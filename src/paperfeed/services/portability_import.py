"""Import of an export made by services/portability.py (its docstring describes the
format): every line bounded and typed, a bad row rejected with its file and line while the
rest goes in, in one write transaction; rows already there are left as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from paperfeed.errors import PaperfeedError, RecordError, first_line
from paperfeed.records import identity_key, parse_arxiv_id
from paperfeed.services.accounts import normalize_email
from paperfeed.services.collections import MAX_DESCRIPTION, MAX_NAME
from paperfeed.services.interests import MAX_SEED_CHARS, SEED_KINDS
from paperfeed.services.portability import FORMAT, FORMAT_VERSION, KINDS, LOCAL, MANIFEST
from paperfeed.services.subscriptions import FREQUENCIES, clean_prefs
from paperfeed.services.text import MAX_COMMENT_CHARS
from paperfeed.store import Store, insert_unless_present
from paperfeed.store.migrations import LATEST_VERSION
from paperfeed.store.schema import (
    collection_items,
    collections,
    comments,
    daily_entries,
    interest_seeds,
    not_interested,
    papers,
    subscriptions,
    users,
    votes,
)

MAX_LINE_BYTES = 1_000_000
MAX_COLLECTION_ITEMS = 100_000
SUBSCRIPTION_STATUSES = ("pending", "active", "unsubscribed")
_PLAIN_NAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,100}")


@dataclass
class Rejection:
    where: str
    reason: str


@dataclass
class ImportSummary:
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    rejections: list[Rejection] = field(default_factory=list)
    missing_papers: set[str] = field(default_factory=set)

    def line(self) -> str:
        parts = [
            f"{kind.replace('_', ' ')} {self.added[kind]:,} added / {self.unchanged[kind]:,} there"
            for kind in KINDS
        ]
        return f"imported: {'; '.join(parts)}; {len(self.rejections):,} rejected"


@dataclass
class _Row:
    where: str
    data: dict[str, Any]


def _text(data: dict[str, Any], key: str, max_chars: int, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise RecordError(f"{key}: a string of 1 to {max_chars:,} characters")
    if "\x00" in value:  # PostgreSQL cannot store it; no text here needs it
        raise RecordError(f"{key}: contains a NUL character")
    return value


def _username(data: dict[str, Any], optional: bool = False) -> str | None:
    value = _text(data, "username", 100, optional)
    if value is not None and not _PLAIN_NAME.fullmatch(value):
        raise RecordError(f"username {value[:40]!r} has spaces or control characters")
    return value


def _moment(data: dict[str, Any], key: str, optional: bool = False) -> datetime | None:
    value = data.get(key)
    if value is None and optional:
        return None
    try:
        parsed = (
            datetime.fromisoformat(value) if isinstance(value, str) and len(value) < 40 else None
        )
    except ValueError:
        parsed = None
    if parsed is None:
        raise RecordError(f"{key}: not an ISO date-time")
    if parsed.tzinfo is not None:  # stored naive, in UTC
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise RecordError(f"{key}: true or false")
    return value


def _arxiv_id(data: dict[str, Any], key: str = "arxiv_id") -> str:
    value = data.get(key)
    parsed = parse_arxiv_id(value) if isinstance(value, str) and len(value) < 100 else None
    if parsed is None:
        raise RecordError(f"{key}: not an arXiv id")
    return parsed[0]


def _int(data: dict[str, Any], key: str, optional: bool = False) -> int | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**62:
        raise RecordError(f"{key}: a positive integer")
    return value


def _read_kind(folder: Path, kind: str, summary: ImportSummary) -> Iterator[_Row]:
    """The file's JSON objects with their file:line; a malformed line is a rejection."""
    path = folder / f"{kind}.jsonl"
    if not path.is_file():
        return
    with path.open("rb") as lines:
        number = 0
        while raw := lines.readline(MAX_LINE_BYTES + 1):
            number += 1
            where = f"{path.name}:{number}"
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := lines.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                summary.rejections.append(Rejection(where, "line longer than 1 MB"))
                continue
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                summary.rejections.append(Rejection(where, f"not JSON: {str(exc)[:80]}"))
                continue
            if not isinstance(data, dict):
                summary.rejections.append(Rejection(where, "not a JSON object"))
                continue
            yield _Row(where, data)


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder.expanduser() / MANIFEST
    try:
        with path.open("rb") as manifest_file:
            manifest = json.loads(manifest_file.read(MAX_LINE_BYTES))
    except OSError as exc:
        raise PaperfeedError(f"no export in {folder}: cannot read {MANIFEST}") from exc
    except ValueError as exc:
        raise PaperfeedError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PaperfeedError(f"{path} is not a paperfeed export manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PaperfeedError(
            f"{path}: export format {manifest.get('format_version')!r}; this paperfeed reads "
            f"{FORMAT_VERSION}"
        )
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or schema > LATEST_VERSION:
        raise PaperfeedError(
            f"{path}: made by a newer paperfeed (schema {schema}); upgrade this one first"
        )
    return manifest


class _Importer:
    """One import, in one write transaction: ids of users, papers, comments and
    collections in the export mapped to this store's."""

    def __init__(self, conn: sa.Connection, summary: ImportSummary) -> None:
        self.conn = conn
        self.summary = summary
        self.user_ids = {
            key: user_id
            for user_id, key in conn.execute(sa.select(users.c.id, users.c.username_key))
        }
        self.paper_ids: dict[str, int | None] = {}
        self.comment_ids: dict[int, int] = {}
        self.where = ""  # the row being imported, for rejections of its parts

    def user(self, username: str | None) -> int | None:
        if username is None:
            return None
        found = self.user_ids.get(identity_key(username))
        if found is None:
            raise RecordError(f"no user {username!r} in the export or this store")
        return found

    def paper(self, arxiv_id: str) -> int:
        if arxiv_id not in self.paper_ids:
            self.paper_ids[arxiv_id] = self.conn.execute(
                sa.select(papers.c.id).where(papers.c.arxiv_id == arxiv_id)
            ).scalar()
        found = self.paper_ids[arxiv_id]
        if found is None:
            self.summary.missing_papers.add(arxiv_id)
            raise RecordError(f"paper {arxiv_id} is not in this store (ingest it first)")
        return found

    def counted(self, kind: str, added: bool) -> None:
        (self.summary.added if added else self.summary.unchanged)[kind] += 1

    def users(self, data: dict[str, Any], with_secrets: bool) -> None:
        username = _username(data)
        assert username is not None
        if identity_key(username) in self.user_ids:
            self.counted("users", False)
            return
        email = _text(data, "email", 254, optional=True)
        if data.get("origin", LOCAL) != LOCAL:  # exports before schema 6 named imported people
            raise RecordError("only local accounts are imported")
        password_hash = _text(data, "password_hash", 500, optional=True) if with_secrets else None
        row = {
            "username": username,
            "email": normalize_email(email) if email else None,
            "username_key": identity_key(username),
            "email_key": identity_key(email) if email else None,
            "password_hash": password_hash,
            "is_admin": _bool(data, "is_admin"),
            "origin": LOCAL,
            "created_at": _moment(data, "created_at"),
        }
        if (
            row["email"]
            and self.conn.execute(
                sa.select(users.c.id).where(users.c.email_key == row["email_key"])
            ).first()
        ):
            raise RecordError(f"email {row['email']!r} belongs to another account here")
        self.user_ids[row["username_key"]] = self.conn.execute(
            users.insert().values(**row).returning(users.c.id)
        ).scalar_one()
        self.counted("users", True)

    def votes(self, data: dict[str, Any]) -> None:
        row = {
            "user_id": self.user(_username(data)),
            "paper_id": self.paper(_arxiv_id(data)),
            "created_at": _moment(data, "created_at"),
        }
        self.counted("votes", insert_unless_present(self.conn, votes.insert().values(**row)))

    def comments(self, data: dict[str, Any]) -> None:
        source_id = _int(data, "id")
        assert source_id is not None
        body = _text(data, "body", MAX_COMMENT_CHARS)
        key = {
            "user_id": self.user(_username(data)),
            "paper_id": self.paper(_arxiv_id(data)),
            "created_at": _moment(data, "created_at"),
            "body": body,
        }
        parent = _int(data, "parent_id", optional=True)
        if parent is not None and parent not in self.comment_ids:
            raise RecordError(f"its parent comment {parent} was not imported")
        found = self.conn.execute(
            sa.select(comments.c.id).where(*(comments.c[k] == v for k, v in key.items()))
        ).scalar()
        added = found is None
        if found is None:
            found = self.conn.execute(
                comments.insert()
                .values(
                    **key,
                    parent_id=self.comment_ids[parent] if parent is not None else None,
                    hidden=_bool(data, "hidden"),
                )
                .returning(comments.c.id)
            ).scalar_one()
        self.comment_ids[source_id] = found
        self.counted("comments", added)

    def submissions(self, data: dict[str, Any]) -> None:
        day = data.get("day")
        try:
            parsed_day = (
                date.fromisoformat(day) if isinstance(day, str) and len(day) == 10 else None
            )
        except ValueError:
            parsed_day = None
        if parsed_day is None:
            raise RecordError("day: not a YYYY-MM-DD date")
        paper_id = self.paper(_arxiv_id(data))
        row = {
            "paper_id": paper_id,
            "day": parsed_day,
            "submitted_by": self.user(_username(data, optional=True)),
            "submitted_at": _moment(data, "submitted_at", optional=True),
            "origin": LOCAL,
        }
        self.counted(
            "submissions", insert_unless_present(self.conn, daily_entries.insert().values(**row))
        )

    def collections(self, data: dict[str, Any]) -> None:
        owner = self.user(_username(data))
        name = _text(data, "name", MAX_NAME)
        created = _moment(data, "created_at")
        items = data.get("items", [])
        if not isinstance(items, list) or len(items) > MAX_COLLECTION_ITEMS:
            raise RecordError(f"items: a list of at most {MAX_COLLECTION_ITEMS:,}")
        described = data.get("description") != ""  # empty is fine; absent or other: checked
        description = _text(data, "description", MAX_DESCRIPTION) if described else ""
        found = self.conn.execute(
            sa.select(collections.c.id).where(
                collections.c.user_id == owner,
                collections.c.name == name,
                collections.c.created_at == created,
            )
        ).scalar()
        added = found is None
        if found is None:
            found = self.conn.execute(
                collections.insert()
                .values(
                    user_id=owner,
                    name=name,
                    description=description,
                    is_public=_bool(data, "public"),
                    created_at=created,
                    updated_at=_moment(data, "updated_at"),
                )
                .returning(collections.c.id)
            ).scalar_one()
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise RecordError("an item is not a JSON object")
                row = {
                    "collection_id": found,
                    "paper_id": self.paper(_arxiv_id(item)),
                    "added_at": _moment(item, "added_at"),
                }
            except RecordError as exc:
                self.summary.rejections.append(Rejection(f"{self.where} (an item)", str(exc)))
                continue
            added |= insert_unless_present(self.conn, collection_items.insert().values(**row))
        self.counted("collections", added)

    def subscriptions(self, data: dict[str, Any], with_secrets: bool) -> None:
        email = normalize_email(_text(data, "email", 254) or "")
        status = data.get("status")
        frequency = data.get("frequency")
        if status not in SUBSCRIPTION_STATUSES or frequency not in FREQUENCIES:
            raise RecordError(f"status is one of {SUBSCRIPTION_STATUSES}, frequency {FREQUENCIES}")
        there = self.conn.execute(
            sa.select(subscriptions.c.id).where(subscriptions.c.email_key == identity_key(email))
        ).first()
        if there is not None:
            self.counted("subscriptions", False)
            return
        pending = data.get("pending_prefs")
        row = {
            "email": email,
            "email_key": identity_key(email),
            "user_id": self.user(_username(data, optional=True)),
            "status": status,
            "frequency": frequency,
            "prefs": _prefs(data.get("prefs")),
            "pending_prefs": _prefs(pending) if pending is not None else None,
            "confirm_nonce": _text(data, "confirm_nonce", 100, optional=True)
            if with_secrets
            else None,
            "created_at": _moment(data, "created_at"),
            "confirmed_at": _moment(data, "confirmed_at", optional=True),
            "unsubscribed_at": _moment(data, "unsubscribed_at", optional=True),
        }
        self.conn.execute(subscriptions.insert().values(**row))
        self.counted("subscriptions", True)

    def interests(self, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind not in SEED_KINDS:
            raise RecordError(f"kind is one of {', '.join(SEED_KINDS)}")
        row = {
            "user_id": self.user(_username(data)),
            "kind": kind,
            "value": _text(data, "value", MAX_SEED_CHARS[kind]),
            "created_at": _moment(data, "created_at"),
        }
        self.counted(
            "interests", insert_unless_present(self.conn, interest_seeds.insert().values(**row))
        )

    def not_interested(self, data: dict[str, Any]) -> None:
        row = {
            "user_id": self.user(_username(data)),
            "paper_id": self.paper(_arxiv_id(data)),
            "created_at": _moment(data, "created_at"),
        }
        self.counted(
            "not_interested",
            insert_unless_present(self.conn, not_interested.insert().values(**row)),
        )


def _prefs(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError("prefs: a JSON object")
    lists = {k: value.get(k, []) for k in ("categories", "queries", "authors")}
    if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in lists.values()):
        raise RecordError("prefs: categories, queries and authors are lists of strings")
    try:
        prefs = clean_prefs(
            bool(value.get("trending", False)), bool(value.get("for_you", False)), **lists
        )
    except PaperfeedError as exc:
        raise RecordError(f"prefs: {exc}") from exc
    return prefs.to_json()


def import_data(store: Store, folder: Path) -> ImportSummary:
    """Adds what the export in `folder` holds and the store lacks, in one transaction."""
    folder = folder.expanduser()
    manifest = read_manifest(folder)
    with_secrets = bool(manifest.get("with_secrets"))
    summary = ImportSummary()
    with store.write() as conn:
        importer = _Importer(conn, summary)
        steps: dict[str, Callable[[dict[str, Any]], None]] = {
            "users": lambda d: importer.users(d, with_secrets),
            "votes": importer.votes,
            "comments": importer.comments,
            "submissions": importer.submissions,
            "collections": importer.collections,
            "subscriptions": lambda d: importer.subscriptions(d, with_secrets),
            "interests": importer.interests,
            "not_interested": importer.not_interested,
        }
        for kind in KINDS:
            for row in _read_kind(folder, kind, summary):
                importer.where = row.where
                try:
                    # A savepoint per row: a row the database refuses leaves the rest.
                    with conn.begin_nested():
                        steps[kind](row.data)
                except (RecordError, PaperfeedError) as exc:
                    summary.rejections.append(Rejection(row.where, str(exc)))
                except sa.exc.DBAPIError as exc:
                    summary.rejections.append(
                        Rejection(row.where, f"the store refused it: {first_line(exc)}")
                    )
    return summary
