"""What readers do on the site: vote, comment, submit papers; and what an admin undoes.

Every function takes the connection of the caller's transaction; web routes open it with
`Store.write()` so that on SQLite the write lock is taken first (BEGIN IMMEDIATE):
200 readers voting at once then queue on the lock instead of failing to upgrade it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from paperfeed.errors import ActionError, Conflict, NotFound
from paperfeed.records import PaperRecord, parse_arxiv_id, utcnow
from paperfeed.services.paper_views import LISTING, PaperView, get_paper, view_of
from paperfeed.services.text import MAX_COMMENT_CHARS
from paperfeed.store import Store, insert_unless_present
from paperfeed.store.papers import upsert_papers
from paperfeed.store.schema import comments, daily_entries, papers, users, votes


def paper_id_of(conn: sa.Connection, text: str) -> int:
    parsed = parse_arxiv_id(text)
    found = (
        conn.execute(sa.select(papers.c.id).where(papers.c.arxiv_id == parsed[0])).scalar()
        if parsed
        else None
    )
    if found is None:
        raise NotFound(f"no paper {text[:60]!r} here")
    return found


def upvotes_of(conn: sa.Connection, paper_id: int) -> int:
    return conn.execute(LISTING.where(papers.c.id == paper_id)).mappings().one()["upvotes"]


def set_vote(conn: sa.Connection, user_id: int, arxiv_id: str, want: bool | None) -> bool:
    """Votes (want=True), unvotes (False) or toggles (None); returns whether the user now
    votes for the paper. One vote per user and paper: the primary key says so."""
    paper_id = paper_id_of(conn, arxiv_id)
    mine = (votes.c.user_id == user_id) & (votes.c.paper_id == paper_id)
    has = conn.execute(sa.select(sa.exists().where(mine))).scalar()
    target = (not has) if want is None else want
    if target and not has:
        insert_unless_present(
            conn, votes.insert().values(user_id=user_id, paper_id=paper_id, created_at=utcnow())
        )
    elif not target and has:
        conn.execute(votes.delete().where(mine))
    return target


@dataclass
class CommentView:
    id: int
    author: str
    body: str
    created_at: datetime
    hidden: bool
    parent_id: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "author": self.author,
            "body": None if self.hidden else self.body,
            "hidden": self.hidden,
            "parent_id": self.parent_id,
            "created_at": self.created_at.isoformat(),
        }


def add_comment(
    conn: sa.Connection, user_id: int, arxiv_id: str, body: str, parent_id: int | None = None
) -> int:
    body = body.strip()
    if not body:
        raise ActionError("a comment needs some text")
    if len(body) > MAX_COMMENT_CHARS:
        raise ActionError(f"a comment has at most {MAX_COMMENT_CHARS:,} characters")
    paper_id = paper_id_of(conn, arxiv_id)
    if parent_id is not None:
        parent_paper = conn.execute(
            sa.select(comments.c.paper_id).where(comments.c.id == parent_id)
        ).scalar()
        if parent_paper != paper_id:
            raise ActionError("that reply's parent comment is not on this paper")
    return conn.execute(
        comments.insert()
        .values(
            paper_id=paper_id,
            user_id=user_id,
            parent_id=parent_id,
            body=body,
            created_at=utcnow(),
        )
        .returning(comments.c.id)
    ).scalar_one()


def comments_on(conn: sa.Connection, paper_id: int) -> list[CommentView]:
    rows = conn.execute(
        sa.select(comments, users.c.username)
        .join(users, users.c.id == comments.c.user_id)
        .where(comments.c.paper_id == paper_id)
        .order_by(comments.c.created_at, comments.c.id)
    )
    return [
        CommentView(r.id, r.username, r.body, r.created_at, bool(r.hidden), r.parent_id)
        for r in rows
    ]


def set_comment_hidden(conn: sa.Connection, comment_id: int, hidden: bool) -> str:
    """Admin: hides (or shows again) a comment; returns its paper's arXiv id."""
    found = conn.execute(
        sa.select(papers.c.arxiv_id)
        .join(comments, comments.c.paper_id == papers.c.id)
        .where(comments.c.id == comment_id)
    ).scalar()
    if found is None:
        raise NotFound("no such comment")
    conn.execute(comments.update().where(comments.c.id == comment_id).values(hidden=hidden))
    return found


FetchPaper = Callable[[str], PaperRecord]
# How long a submission waits for the one arXiv request at a time before giving up.
FETCH_WAIT_S = 20.0


class Submissions:
    """Readers put papers on the day's list by arXiv id or URL; metadata comes from arXiv
    (through `fetch`) unless the store already has the paper."""

    def __init__(self, store: Store, fetch: FetchPaper, max_age_days: int) -> None:
        self.store = store
        self.fetch = fetch
        self.max_age = timedelta(days=max_age_days)
        # One request to arXiv at a time: its API asks for politeness between requests.
        self._fetch_lock = threading.Lock()

    def submit(self, user_id: int, text: str, today: date | None = None) -> PaperView:
        parsed = parse_arxiv_id(text.strip())
        if parsed is None:
            raise ActionError(f"not an arXiv id or URL: {text.strip()[:80]!r}")
        arxiv_id = parsed[0]
        today = today or utcnow().date()
        with self.store.engine.connect() as conn:
            known = get_paper(conn, arxiv_id)
        if known is not None and known.featured_on:
            raise Conflict(f"{arxiv_id} is already on the daily list of {known.featured_on[0]}")
        if known is None:
            if not self._fetch_lock.acquire(timeout=FETCH_WAIT_S):
                raise ActionError("arXiv is busy with other submissions: try again soon", 503)
            try:
                record = self.fetch(arxiv_id)  # SourceError reaches the caller as is
            finally:
                self._fetch_lock.release()
            published = record.published_at
        else:
            record, published = None, known.published_at
        if published is not None and published.date() < today - self.max_age:
            raise ActionError(
                f"{arxiv_id} was first published on {published.date()}: only papers from "
                f"the last {self.max_age.days} days can be submitted",
            )
        try:
            with self.store.write() as conn:
                if record is not None:
                    upsert_papers(conn, [record], "arxiv")
                paper_id = paper_id_of(conn, arxiv_id)
                conn.execute(
                    daily_entries.insert().values(
                        paper_id=paper_id,
                        day=today,
                        submitted_by=user_id,
                        submitted_at=utcnow(),
                        origin="local",
                    )
                )
        except sa.exc.IntegrityError as exc:  # submitted by someone else a moment ago
            raise Conflict(f"{arxiv_id} is already on today's list") from exc
        with self.store.engine.connect() as conn:
            found = get_paper(conn, arxiv_id)
        assert found is not None
        return found


def remove_submission(conn: sa.Connection, arxiv_id: str) -> int:
    """Admin: takes a paper submitted here off the daily lists; returns entries removed.
    Imported (Hugging Face) entries stay: a re-import would bring them back anyway."""
    paper_id = paper_id_of(conn, arxiv_id)
    return conn.execute(
        daily_entries.delete().where(
            (daily_entries.c.paper_id == paper_id) & (daily_entries.c.origin == "local")
        )
    ).rowcount


def _listing_of(conn: sa.Connection, query: sa.Select) -> list[PaperView]:
    return [view_of(r) for r in conn.execute(query).mappings()]


def submitted_by(conn: sa.Connection, user_id: int, limit: int = 100) -> list[PaperView]:
    mine = sa.select(daily_entries.c.paper_id).where(daily_entries.c.submitted_by == user_id)
    return _listing_of(
        conn,
        LISTING.where(papers.c.id.in_(mine)).order_by(papers.c.arxiv_id.desc()).limit(limit),
    )


def voted_by(conn: sa.Connection, user_id: int, limit: int = 100) -> list[PaperView]:
    mine = sa.select(votes.c.paper_id).where(votes.c.user_id == user_id)
    return _listing_of(
        conn,
        LISTING.where(papers.c.id.in_(mine)).order_by(papers.c.arxiv_id.desc()).limit(limit),
    )


def voted_among(conn: sa.Connection, user_id: int, arxiv_ids: list[str]) -> set[str]:
    """Which of these papers the user has voted for (to draw their vote buttons)."""
    if not arxiv_ids:
        return set()
    return set(
        conn.execute(
            sa.select(papers.c.arxiv_id)
            .join(votes, votes.c.paper_id == papers.c.id)
            .where(votes.c.user_id == user_id, papers.c.arxiv_id.in_(arxiv_ids))
        ).scalars()
    )
