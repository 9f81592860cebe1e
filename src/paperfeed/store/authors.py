"""The `paper_authors` rows of papers: each author as the one matcher reads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from paperfeed.authors import parse_cached
from paperfeed.store.bulk import insert_many
from paperfeed.store.schema import paper_authors, papers

BACKFILL_BATCH = 2_000


def author_rows(paper_id: int, names: Iterable[str]) -> list[tuple[int, int, str, str, str | None]]:
    """A paper's authors as rows of `paper_authors` (paper_id, position, name, key, first);
    a name with no letters in it is left out."""
    rows = []
    for position, name in enumerate(names):
        found = parse_cached(name)
        if found is not None:
            rows.append((paper_id, position, name, found.key, found.first))
    return rows


def write_paper_authors(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Replace the author rows of these papers (dicts with `id` and `authors`)."""
    if not rows:
        return
    ids = [r["id"] for r in rows]
    for start in range(0, len(ids), 5_000):  # bounded IN lists
        conn.execute(
            paper_authors.delete().where(paper_authors.c.paper_id.in_(ids[start : start + 5_000]))
        )
    insert_many(
        conn, paper_authors, [v for r in rows for v in author_rows(r["id"], r["authors"] or [])]
    )


def backfill_paper_authors(conn: sa.Connection) -> None:
    """Author rows for every stored paper (migration 13)."""
    last = 0
    while True:
        batch = (
            conn.execute(
                sa.select(papers.c.id, papers.c.authors)
                .where(papers.c.id > last)
                .order_by(papers.c.id)
                .limit(BACKFILL_BATCH)
            )
            .mappings()
            .all()
        )
        if not batch:
            return
        write_paper_authors(conn, [dict(r) for r in batch])
        last = batch[-1]["id"]
