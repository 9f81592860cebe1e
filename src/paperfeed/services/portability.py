"""Export and import what people made here, as JSON Lines: to move an instance between
SQLite and PostgreSQL, or to a new machine.

One file per kind (users, votes, comments, submissions, collections with their items,
subscriptions, interests, not-interested marks) and a manifest with the format and
schema versions and the counts. Rows refer to each other by what survives a move:
users by username (matched by records.identity_key), papers by arXiv id, comments and collections by
their ids in the export (mapped to the new ids on import). Papers themselves are not
exported: they come from ingest, and must be ingested on the new instance first; an
import names the papers it misses and skips only the rows that need them.

Import is idempotent: each row is matched against what the store has (a vote by user
and paper, a comment by author, paper, time and text, a collection by owner, name and
creation time, a subscription by address) and added only when absent; existing rows
are never changed (services/portability_import.py). Password hashes (and subscription
confirmation nonces) leave the store only with `with_secrets`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from paperfeed.errors import PaperfeedError
from paperfeed.records import utcnow
from paperfeed.store import Store
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

FORMAT = "paperfeed-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# In the order an import needs them: users before what they made, comments by id.
KINDS = (
    "users",
    "votes",
    "comments",
    "submissions",
    "collections",
    "subscriptions",
    "interests",
    "not_interested",
)
LOCAL = "local"


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class ExportSummary:
    folder: Path
    counts: dict[str, int]
    referenced_papers: int

    def line(self) -> str:
        counts = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in self.counts.items())
        return (
            f"exported to {self.folder}: {counts}; papers are not exported "
            f"({self.referenced_papers:,} referenced: ingest them on the new instance first)"
        )


def _select_rows(conn: sa.Connection, with_secrets: bool) -> dict[str, list[dict[str, Any]]]:
    """Every kind's rows as JSON-ready dicts, from one transaction (one snapshot)."""
    name_of = dict(conn.execute(sa.select(users.c.id, users.c.username)).all())
    arxiv_of = papers.c.arxiv_id.label("arxiv_id")
    rows: dict[str, list[dict[str, Any]]] = {}
    rows["votes"] = [
        {"username": name_of[r.user_id], "arxiv_id": r.arxiv_id, "created_at": _iso(r.created_at)}
        for r in conn.execute(
            sa.select(votes, arxiv_of)
            .join(papers, papers.c.id == votes.c.paper_id)
            .order_by(votes.c.created_at, votes.c.user_id, papers.c.arxiv_id)
        )
    ]
    rows["comments"] = [
        {
            "id": r.id,
            "username": name_of[r.user_id],
            "arxiv_id": r.arxiv_id,
            "parent_id": r.parent_id,
            "body": r.body,
            "hidden": bool(r.hidden),
            "created_at": _iso(r.created_at),
        }
        for r in conn.execute(
            sa.select(comments, arxiv_of)
            .join(papers, papers.c.id == comments.c.paper_id)
            .order_by(comments.c.id)
        )
    ]
    rows["submissions"] = [
        {
            "username": name_of.get(r.submitted_by),
            "arxiv_id": r.arxiv_id,
            "day": _iso(r.day),
            "submitted_at": _iso(r.submitted_at),
        }
        for r in conn.execute(
            sa.select(daily_entries, arxiv_of)
            .join(papers, papers.c.id == daily_entries.c.paper_id)
            .where(daily_entries.c.origin == LOCAL)
            .order_by(daily_entries.c.day, papers.c.arxiv_id)
        )
    ]
    items: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(
        sa.select(collection_items, arxiv_of)
        .join(papers, papers.c.id == collection_items.c.paper_id)
        .order_by(collection_items.c.added_at, papers.c.arxiv_id)
    ):
        items.setdefault(r.collection_id, []).append(
            {"arxiv_id": r.arxiv_id, "added_at": _iso(r.added_at)}
        )
    rows["collections"] = [
        {
            "id": r.id,
            "username": name_of[r.user_id],
            "name": r.name,
            "description": r.description,
            "public": bool(r.is_public),
            "created_at": _iso(r.created_at),
            "updated_at": _iso(r.updated_at),
            "items": items.get(r.id, []),
        }
        for r in conn.execute(sa.select(collections).order_by(collections.c.id))
    ]
    rows["subscriptions"] = [
        {
            "email": r.email,
            "username": name_of.get(r.user_id),
            "status": r.status,
            "frequency": r.frequency,
            "prefs": r.prefs,
            "pending_prefs": r.pending_prefs,
            "created_at": _iso(r.created_at),
            "confirmed_at": _iso(r.confirmed_at),
            "unsubscribed_at": _iso(r.unsubscribed_at),
            **({"confirm_nonce": r.confirm_nonce} if with_secrets else {}),
        }
        for r in conn.execute(sa.select(subscriptions).order_by(subscriptions.c.id))
    ]
    rows["interests"] = [
        {
            "username": name_of[r.user_id],
            "kind": r.kind,
            "value": r.value,
            "created_at": _iso(r.created_at),
        }
        for r in conn.execute(sa.select(interest_seeds).order_by(interest_seeds.c.id))
    ]
    rows["not_interested"] = [
        {"username": name_of[r.user_id], "arxiv_id": r.arxiv_id, "created_at": _iso(r.created_at)}
        for r in conn.execute(
            sa.select(not_interested, arxiv_of)
            .join(papers, papers.c.id == not_interested.c.paper_id)
            .order_by(not_interested.c.created_at, not_interested.c.user_id)
        )
    ]
    # Local accounts: since schema version 6 every row of `users` is one (people named by
    # imported data live in imported_submitters and come back with the next ingest).
    rows["users"] = [
        {
            "username": r.username,
            "email": r.email,
            "is_admin": bool(r.is_admin),
            "created_at": _iso(r.created_at),
            **({"password_hash": r.password_hash} if with_secrets else {}),
        }
        for r in conn.execute(sa.select(users).order_by(users.c.id))
    ]
    return rows


def export_data(store: Store, folder: Path, with_secrets: bool = False) -> ExportSummary:
    """Writes one JSON Lines file per kind and the manifest into `folder` (created if
    needed; one that holds an export already is refused)."""
    folder = folder.expanduser()
    if (folder / MANIFEST).exists():
        raise PaperfeedError(f"{folder} holds an export already: choose a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    engine = store.engine
    if store.dialect == "postgresql":  # one snapshot for every query
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    with engine.begin() as conn:
        rows = _select_rows(conn, with_secrets)
    referenced = {
        found["arxiv_id"]
        for kind in rows.values()
        for row in kind
        for found in [row, *row.get("items", [])]
        if "arxiv_id" in found
    }
    for kind in KINDS:
        with (folder / f"{kind}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows[kind]:
                out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    counts = {kind: len(rows[kind]) for kind in KINDS}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": LATEST_VERSION,
        "exported_at": _iso(utcnow()),
        "with_secrets": with_secrets,
        "counts": counts,
        "files": {kind: f"{kind}.jsonl" for kind in KINDS},
        "papers": "not exported: ingest them on the new instance before importing",
        "referenced_papers": len(referenced),
    }
    # The manifest last: a folder without one is an export that did not finish.
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ExportSummary(folder, counts, len(referenced))
