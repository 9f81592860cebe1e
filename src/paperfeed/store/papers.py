"""Writing arXiv metadata: batched, idempotent upserts that merge what sources say.

Merge rules (the same result whatever order sources arrive in):
- a newer version of a paper replaces its metadata; an older one only fills blanks;
- at equal (or unknown) version, a more authoritative source (SOURCE_RANK) replaces
  metadata; at equal rank, a record with a known version replaces one without; otherwise
  the incoming record only fills fields that are still empty;
- first-published and first-announced keep the earliest date seen, last-updated the latest.
Community data lives in other tables and is never touched here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from paperfeed.records import PaperRecord, utcnow
from paperfeed.store.authors import write_paper_authors
from paperfeed.store.bulk import insert_many
from paperfeed.store.schema import paper_categories, papers

# Hugging Face copies arXiv metadata (no categories, no version); the snapshot files are
# arXiv's own metadata at one moment; the arXiv API and OAI-PMH are arXiv live.
SOURCE_RANK = {"huggingface": 1, "jsonl": 2, "arxiv": 3, "oai": 3}

METADATA_FIELDS = (
    "title",
    "abstract",
    "authors",
    "categories",
    "primary_category",
    "comment",
    "journal_ref",
    "doi",
    "license",
)
_DATE_FIELDS = ("version", "published_at", "updated_at", "announced_date")
_COMPARED = (*METADATA_FIELDS, *_DATE_FIELDS, "metadata_rank")

ADDED, UPDATED, UNCHANGED = "added", "updated", "unchanged"


def _empty(value: object) -> bool:
    return value is None or value == "" or value == []


def _pick(values: Iterable[Any], choose: Any) -> Any:
    present = [v for v in values if v is not None]
    return choose(present) if present else None


def merge_paper(current: dict[str, Any] | None, record: PaperRecord, rank: int) -> dict[str, Any]:
    """The row the store should hold after `record` arrives on top of `current`."""
    if current is None:
        row = {name: getattr(record, name) for name in (*METADATA_FIELDS, *_DATE_FIELDS)}
        row.update(arxiv_id=record.arxiv_id, metadata_rank=rank)
        return row
    row = dict(current)
    old_version, new_version = current["version"], record.version
    if old_version and new_version and new_version != old_version:
        authoritative = new_version > old_version
    elif rank != current["metadata_rank"]:
        authoritative = rank > current["metadata_rank"]
    else:
        # At equal rank a record that knows its version beats one that does not; otherwise
        # the first value stays, so two copies that disagree (a paper on two daily lists)
        # cannot flip-flop on every rerun.
        authoritative = bool(new_version) and not old_version
    for name in METADATA_FIELDS:
        value = getattr(record, name)
        if not _empty(value) and (authoritative or _empty(row[name])):
            row[name] = value
    if authoritative:
        row["metadata_rank"] = rank
    row["version"] = _pick((old_version, new_version), max)
    row["published_at"] = _pick((current["published_at"], record.published_at), min)
    row["updated_at"] = _pick((current["updated_at"], record.updated_at), max)
    row["announced_date"] = _pick((current["announced_date"], record.announced_date), min)
    return row


def _changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return any(before[name] != after[name] for name in _COMPARED)


def upsert_papers(
    conn: sa.Connection, records: list[PaperRecord], source: str
) -> list[tuple[int, str]]:
    """Insert or merge a batch; returns (paper id, added|updated|unchanged) per record."""
    rank = SOURCE_RANK[source]
    now = utcnow()
    wanted = list(dict.fromkeys(r.arxiv_id for r in records))
    stored: dict[str, dict[str, Any]] = {
        row["arxiv_id"]: dict(row)
        for row in conn.execute(sa.select(papers).where(papers.c.arxiv_id.in_(wanted))).mappings()
    }
    new_rows: dict[str, dict[str, Any]] = {}
    changed_rows: dict[str, dict[str, Any]] = {}
    statuses: list[tuple[str, str]] = []
    for record in records:
        key = record.arxiv_id
        if key in new_rows:  # the same paper twice in one batch
            new_rows[key] = merge_paper(new_rows[key], record, rank)
            statuses.append((key, UPDATED))
            continue
        if key not in stored:
            new_rows[key] = merge_paper(None, record, rank)
            statuses.append((key, ADDED))
            continue
        current = changed_rows.get(key, stored[key])
        merged = merge_paper(current, record, rank)
        if _changed(current, merged):
            changed_rows[key] = merged
            statuses.append((key, UPDATED))
        else:
            statuses.append((key, UNCHANGED))

    if new_rows:
        conn.execute(papers.insert(), [{**row, "ingested_at": now} for row in new_rows.values()])
        for row in conn.execute(
            sa.select(papers.c.arxiv_id, papers.c.id).where(papers.c.arxiv_id.in_(list(new_rows)))
        ):
            new_rows[row.arxiv_id]["id"] = row.id
    if changed_rows:
        columns = {name: sa.bindparam(f"v_{name}") for name in _COMPARED}
        conn.execute(
            papers.update()
            .where(papers.c.id == sa.bindparam("v_id"))
            .values(**columns, ingested_at=now),
            [
                {"v_id": row["id"], **{f"v_{name}": row[name] for name in _COMPARED}}
                for row in changed_rows.values()
            ],
        )
    recategorized = [
        row
        for row in [*new_rows.values(), *changed_rows.values()]
        if row["arxiv_id"] in new_rows or row["categories"] != stored[row["arxiv_id"]]["categories"]
    ]
    _write_categories(conn, recategorized)
    write_paper_authors(
        conn,
        [
            row
            for row in [*new_rows.values(), *changed_rows.values()]
            if row["arxiv_id"] in new_rows or row["authors"] != stored[row["arxiv_id"]]["authors"]
        ],
    )

    ids = {**{k: v["id"] for k, v in stored.items()}, **{k: v["id"] for k, v in new_rows.items()}}
    return [(ids[key], status) for key, status in statuses]


def _write_categories(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    conn.execute(
        paper_categories.delete().where(paper_categories.c.paper_id.in_([r["id"] for r in rows]))
    )
    insert_many(conn, paper_categories, [(r["id"], c) for r in rows for c in r["categories"]])
