"""A reader's library: reading state (read, read later), private notes, and the page that
lists what they marked, noted or voted for, with search inside it.

Every function takes the connection of the caller's transaction (see community.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from paperfeed.errors import ActionError
from paperfeed.records import utcnow
from paperfeed.services.community import paper_id_of
from paperfeed.services.paper_views import PaperView, papers_by_id
from paperfeed.services.text import MAX_COMMENT_CHARS
from paperfeed.store import insert_unless_present
from paperfeed.store.schema import paper_notes, papers, reading_states, votes

ReadingState = Literal["read", "later"]
READING_STATES: tuple[ReadingState, ...] = ("read", "later")
# The shelves of /library: everything, or one kind of mark.
SHELVES = ("all", "later", "read", "noted", "voted")
Shelf = Literal["all", "later", "read", "noted", "voted"]
# Notes are bounded like comments, and rendered by the same sanitizer.
MAX_NOTE_CHARS = MAX_COMMENT_CHARS
# The most papers /library lists (newest marks first); search reaches the rest.
MAX_LIBRARY = 1_000


def set_reading_state(
    conn: sa.Connection, user_id: int, arxiv_id: str, state: ReadingState | None
) -> ReadingState | None:
    """Marks a paper read or read later (state None clears the mark); returns the mark."""
    paper_id = paper_id_of(conn, arxiv_id)
    mine = (reading_states.c.user_id == user_id) & (reading_states.c.paper_id == paper_id)
    conn.execute(reading_states.delete().where(mine))
    if state is not None:  # the same click twice at once: one row, the same state
        insert_unless_present(
            conn,
            reading_states.insert().values(
                user_id=user_id, paper_id=paper_id, state=state, updated_at=utcnow()
            ),
        )
    return state


def set_note(conn: sa.Connection, user_id: int, arxiv_id: str, body: str) -> bool:
    """Writes the reader's private note on a paper (an empty body removes it); returns
    whether a note is there now."""
    body = body.strip()
    if len(body) > MAX_NOTE_CHARS:
        raise ActionError(f"a note has at most {MAX_NOTE_CHARS:,} characters")
    paper_id = paper_id_of(conn, arxiv_id)
    mine = (paper_notes.c.user_id == user_id) & (paper_notes.c.paper_id == paper_id)
    created = conn.execute(sa.select(paper_notes.c.created_at).where(mine)).scalar()
    conn.execute(paper_notes.delete().where(mine))
    if not body:
        return False
    now = utcnow()
    insert_unless_present(
        conn,
        paper_notes.insert().values(
            user_id=user_id, paper_id=paper_id, body=body, created_at=created or now, updated_at=now
        ),
    )
    return True


def reading_states_of(conn: sa.Connection, user_id: int) -> dict[str, ReadingState]:
    """Every mark of the reader, by arXiv id: one query, for drawing a page's buttons."""
    rows = conn.execute(
        sa.select(papers.c.arxiv_id, reading_states.c.state)
        .join(reading_states, reading_states.c.paper_id == papers.c.id)
        .where(reading_states.c.user_id == user_id)
    )
    return {arxiv_id: state for arxiv_id, state in rows}


def note_of(conn: sa.Connection, user_id: int, arxiv_id: str) -> str | None:
    return conn.execute(
        sa.select(paper_notes.c.body)
        .join(papers, papers.c.id == paper_notes.c.paper_id)
        .where(paper_notes.c.user_id == user_id, papers.c.arxiv_id == arxiv_id)
    ).scalar()


@dataclass
class LibraryItem:
    paper: PaperView
    state: ReadingState | None
    note: str | None
    voted: bool
    touched_at: datetime  # the latest of its marks

    def to_json(self) -> dict[str, object]:
        return {
            **self.paper.to_json(),
            "reading_state": self.state,
            "note": self.note,
            "voted": self.voted,
            "touched_at": self.touched_at.isoformat(),
        }


def _marks(conn: sa.Connection, user_id: int) -> dict[int, dict]:
    """paper id -> {state, note, voted, touched_at} over the reader's three kinds of mark."""
    marks: dict[int, dict] = {}

    def mark(paper_id: int, at: datetime, **values: object) -> None:
        entry = marks.setdefault(
            paper_id, {"state": None, "note": None, "voted": False, "touched_at": at}
        )
        entry.update(values)
        entry["touched_at"] = max(entry["touched_at"], at)

    for paper_id, state, at in conn.execute(
        sa.select(reading_states.c.paper_id, reading_states.c.state, reading_states.c.updated_at)
        .where(reading_states.c.user_id == user_id)
    ):  # fmt: skip
        mark(paper_id, at, state=state)
    for paper_id, body, at in conn.execute(
        sa.select(paper_notes.c.paper_id, paper_notes.c.body, paper_notes.c.updated_at)
        .where(paper_notes.c.user_id == user_id)
    ):  # fmt: skip
        mark(paper_id, at, note=body)
    for paper_id, at in conn.execute(
        sa.select(votes.c.paper_id, votes.c.created_at).where(votes.c.user_id == user_id)
    ):
        mark(paper_id, at, voted=True)
    return marks


def _on_shelf(entry: dict, shelf: Shelf) -> bool:
    if shelf in ("read", "later"):
        return entry["state"] == shelf
    if shelf == "noted":
        return entry["note"] is not None
    if shelf == "voted":
        return bool(entry["voted"])
    return True


def library_ids(conn: sa.Connection, user_id: int, shelf: Shelf = "all") -> list[int]:
    """The paper ids on a shelf of the reader's library, latest marked first (what a
    search inside the library searches among)."""
    return _shelved(_marks(conn, user_id), shelf)


def _shelved(marks: dict[int, dict], shelf: Shelf) -> list[int]:
    chosen = [pid for pid, entry in marks.items() if _on_shelf(entry, shelf)]
    return sorted(chosen, key=lambda pid: (marks[pid]["touched_at"], pid), reverse=True)


def library_items(
    conn: sa.Connection, user_id: int, paper_ids: list[int] | None = None, shelf: Shelf = "all"
) -> list[LibraryItem]:
    """The reader's library (a shelf of it), latest marked first; or, given `paper_ids`
    (a search's hits among it), those papers in that order."""
    marks = _marks(conn, user_id)
    ids = paper_ids if paper_ids is not None else _shelved(marks, shelf)
    ids = [pid for pid in ids if pid in marks][:MAX_LIBRARY]
    views = papers_by_id(conn, ids)
    return [LibraryItem(views[pid], **marks[pid]) for pid in ids if pid in views]
