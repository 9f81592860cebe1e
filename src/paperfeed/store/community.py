"""Writing community signals from imported daily lists: daily entries, submitters, links.

Imported counts only ever grow (a later snapshot of the same day has more upvotes, never
fewer); votes cast on this server are rows in `votes` and are never touched by ingest.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from paperfeed.records import DailyRecord, utcnow
from paperfeed.store.papers import ADDED, UNCHANGED, UPDATED, upsert_papers
from paperfeed.store.schema import daily_entries, imported_submitters, paper_links

IMPORTED_SOURCE = "huggingface"
_LINK_FIELDS = (
    "github_repo", "github_stars", "project_page", "organization", "ai_summary", "ai_keywords",
)  # fmt: skip


def ensure_imported_submitters(conn: sa.Connection, names: set[str], source: str) -> dict[str, int]:
    """Ids of these submitters of `source`, adding the ones not seen before. They live
    apart from local accounts: a local user of the same name is someone else."""
    if not names:
        return {}
    ordered = sorted(names)
    known = (
        sa.select(imported_submitters.c.name, imported_submitters.c.id)
        .where(imported_submitters.c.source == source)
    )  # fmt: skip
    found = dict(conn.execute(known.where(imported_submitters.c.name.in_(ordered))).all())
    missing = [n for n in ordered if n not in found]
    if missing:
        now = utcnow()
        conn.execute(
            imported_submitters.insert(),
            [{"source": source, "name": n, "created_at": now} for n in missing],
        )
        found.update(conn.execute(known.where(imported_submitters.c.name.in_(missing))).all())
    return found


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def upsert_daily(conn: sa.Connection, records: list[DailyRecord]) -> list[tuple[int, str, str]]:
    """Write a batch; returns (paper id, paper status, entry status) per record."""
    paper_results = upsert_papers(conn, [r.paper for r in records], IMPORTED_SOURCE)
    paper_ids = [paper_id for paper_id, _ in paper_results]
    submitter_ids = ensure_imported_submitters(
        conn, {r.submitted_by for r in records if r.submitted_by}, IMPORTED_SOURCE
    )
    entry_status = _upsert_entries(conn, records, paper_ids, submitter_ids)
    link_changed = _upsert_links(conn, records, paper_ids)
    results = []
    for i, (paper_id, paper_status) in enumerate(paper_results):
        status = entry_status[i]
        if status == UNCHANGED and (paper_status != UNCHANGED or link_changed[i]):
            status = UPDATED
        results.append((paper_id, paper_status, status))
    return results


def _upsert_entries(
    conn: sa.Connection,
    records: list[DailyRecord],
    paper_ids: list[int],
    submitter_ids: dict[str, int],
) -> list[str]:
    days = {r.day for r in records}
    stored: dict[tuple[int, Any], dict[str, Any]] = {
        (row["paper_id"], row["day"]): dict(row)
        for row in conn.execute(
            sa.select(daily_entries).where(
                daily_entries.c.paper_id.in_(set(paper_ids)), daily_entries.c.day.in_(days)
            )
        ).mappings()
    }
    pending: dict[tuple[int, Any], dict[str, Any]] = {}
    statuses = []
    for record, paper_id in zip(records, paper_ids, strict=True):
        key = (paper_id, record.day)
        current = pending.get(key) or stored.get(key)
        incoming = {
            "paper_id": paper_id,
            "day": record.day,
            "imported_submitter_id": submitter_ids.get(record.submitted_by or ""),
            "submitted_at": record.submitted_at,
            "imported_upvotes": record.upvotes,
            "imported_comments": record.num_comments,
            "origin": IMPORTED_SOURCE,
        }
        if current is None:
            pending[key] = incoming
            statuses.append(ADDED)
            continue
        merged = dict(current)
        merged["imported_upvotes"] = _max(current["imported_upvotes"], record.upvotes)
        merged["imported_comments"] = _max(current["imported_comments"], record.num_comments)
        merged["imported_submitter_id"] = (
            current["imported_submitter_id"] or incoming["imported_submitter_id"]
        )
        merged["submitted_at"] = current["submitted_at"] or record.submitted_at
        if merged != current:
            pending[key] = merged
            statuses.append(UPDATED)
        else:
            statuses.append(UNCHANGED)
    inserts = [row for key, row in pending.items() if key not in stored]
    updates = [row for key, row in pending.items() if key in stored]
    if inserts:
        conn.execute(daily_entries.insert(), inserts)
    if updates:
        conn.execute(
            daily_entries.update()
            .where(daily_entries.c.id == sa.bindparam("v_id"))
            .values(
                imported_upvotes=sa.bindparam("v_up"),
                imported_comments=sa.bindparam("v_com"),
                imported_submitter_id=sa.bindparam("v_by"),
                submitted_at=sa.bindparam("v_at"),
            ),
            [
                {
                    "v_id": r["id"],
                    "v_up": r["imported_upvotes"],
                    "v_com": r["imported_comments"],
                    "v_by": r["imported_submitter_id"],
                    "v_at": r["submitted_at"],
                }
                for r in updates
            ],
        )
    return statuses


def _upsert_links(
    conn: sa.Connection, records: list[DailyRecord], paper_ids: list[int]
) -> list[bool]:
    """Link data from the newest daily list wins; an older list only fills blanks (so
    reruns and any file order give the same result). Returns whether each record changed it."""
    stored = {
        row["paper_id"]: dict(row)
        for row in conn.execute(
            sa.select(paper_links).where(paper_links.c.paper_id.in_(set(paper_ids)))
        ).mappings()
    }
    pending: dict[int, dict[str, Any]] = {}
    changed = []
    for record, paper_id in zip(records, paper_ids, strict=True):
        incoming = {k: getattr(record, k) for k in _LINK_FIELDS if getattr(record, k) is not None}
        current = pending.get(paper_id) or stored.get(paper_id)
        if current is None:
            if not incoming:
                changed.append(False)
                continue
            current = {"paper_id": paper_id, "as_of": record.day, **dict.fromkeys(_LINK_FIELDS)}
        if record.day >= current["as_of"]:
            merged = {**current, **incoming, "as_of": record.day}
        else:
            merged = {**current, **{k: v for k, v in incoming.items() if current[k] is None}}
        if merged != current:
            pending[paper_id] = merged
        changed.append(merged != current)
    columns = ("paper_id", *_LINK_FIELDS, "as_of")
    rows = [{k: r[k] for k in columns} for r in pending.values()]
    if inserts := [r for r in rows if r["paper_id"] not in stored]:
        conn.execute(paper_links.insert(), inserts)
    if updates := [r for r in rows if r["paper_id"] in stored]:
        conn.execute(
            paper_links.update()
            .where(paper_links.c.paper_id == sa.bindparam("v_paper_id"))
            .values({k: sa.bindparam(f"v_{k}") for k in columns[1:]}),
            [{f"v_{k}": r[k] for k in columns} for r in updates],
        )
    return changed
