"""Author claims: a reader says "this author of this paper is me"; an admin approves or
rejects. Approved claims show on paper and author pages, and the claimant's name variants
merge into one author page (services/authors.py). A rejected claim can be made again,
with a note for the admin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from paperfeed.authors import parse_name
from paperfeed.errors import ActionError, Conflict, NotFound
from paperfeed.records import utcnow
from paperfeed.services.community import paper_id_of
from paperfeed.store.schema import author_claims, papers, users

MAX_NOTE_CHARS = 1_000
MAX_PENDING_PER_USER = 50
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # a note may hold line breaks


@dataclass
class ClaimView:
    id: int
    username: str
    arxiv_id: str
    title: str
    author_name: str
    status: str
    note: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


_VIEW = (
    sa.select(
        author_claims.c.id,
        users.c.username,
        papers.c.arxiv_id,
        papers.c.title,
        author_claims.c.author_name,
        author_claims.c.status,
        author_claims.c.note,
        author_claims.c.created_at,
    )
    .join(users, users.c.id == author_claims.c.user_id)
    .join(papers, papers.c.id == author_claims.c.paper_id)
)


def request_claim(
    conn: sa.Connection, user_id: int, arxiv_id: str, author_name: str, note: str = ""
) -> int:
    """A pending claim; Conflict when one is pending or approved for this name, and a
    note is needed after a rejection."""
    paper_id = paper_id_of(conn, arxiv_id)
    listed = conn.execute(sa.select(papers.c.authors).where(papers.c.id == paper_id)).scalar()
    if author_name not in (listed or []):
        raise NotFound("this paper lists no such author")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS or _CONTROL.search(note):
        raise ActionError(f"a note: at most {MAX_NOTE_CHARS} characters of text")
    earlier = conn.execute(
        sa.select(author_claims.c.user_id, author_claims.c.status).where(
            author_claims.c.paper_id == paper_id,
            author_claims.c.author_name == author_name,
            author_claims.c.status != "rejected",
        )
    ).all()
    if any(uid == user_id for uid, _ in earlier):
        raise Conflict("you have claimed this name on this paper already")
    if any(status == "approved" for _, status in earlier):
        raise Conflict("this name on this paper is claimed by another reader")
    rejected = conn.execute(
        sa.select(sa.func.count()).where(
            author_claims.c.user_id == user_id,
            author_claims.c.paper_id == paper_id,
            author_claims.c.author_name == author_name,
        )
    ).scalar()
    if rejected and not note:
        raise ActionError("this claim was rejected: add a note for the admin to claim again")
    pending = conn.execute(
        sa.select(sa.func.count()).where(
            author_claims.c.user_id == user_id, author_claims.c.status == "pending"
        )
    ).scalar()
    if pending >= MAX_PENDING_PER_USER:
        raise ActionError(f"at most {MAX_PENDING_PER_USER} claims may wait for an admin")
    name = parse_name(author_name)
    return conn.execute(
        author_claims.insert().values(
            user_id=user_id,
            paper_id=paper_id,
            author_name=author_name,
            author_key=name.key if name else author_name,
            status="pending",
            note=note,
            created_at=utcnow(),
        )
    ).inserted_primary_key[0]


def decide_claim(conn: sa.Connection, claim_id: int, admin_id: int, approve: bool) -> str:
    """Approve or reject a pending claim; its new status."""
    status = conn.execute(
        sa.select(author_claims.c.status).where(author_claims.c.id == claim_id)
    ).scalar()
    if status is None:
        raise NotFound("no such claim")
    if status != "pending":
        raise Conflict(f"this claim is {status} already")
    decided = "approved" if approve else "rejected"
    conn.execute(
        author_claims.update()
        .where(author_claims.c.id == claim_id)
        .values(status=decided, decided_at=utcnow(), decided_by=admin_id)
    )
    return decided


def pending_claims(conn: sa.Connection, limit: int = 200) -> list[ClaimView]:
    rows = conn.execute(
        _VIEW.where(author_claims.c.status == "pending")
        .order_by(author_claims.c.created_at, author_claims.c.id)
        .limit(limit)
    ).mappings()
    return [ClaimView(**row) for row in rows]


def claims_of_user(conn: sa.Connection, user_id: int) -> list[ClaimView]:
    rows = conn.execute(
        _VIEW.where(author_claims.c.user_id == user_id).order_by(author_claims.c.id.desc())
    ).mappings()
    return [ClaimView(**row) for row in rows]


def approved_on_paper(conn: sa.Connection, paper_id: int) -> dict[str, str]:
    """Author name (as the paper writes it) -> the username that claimed it."""
    rows = conn.execute(
        sa.select(author_claims.c.author_name, users.c.username)
        .join(users, users.c.id == author_claims.c.user_id)
        .where(author_claims.c.paper_id == paper_id, author_claims.c.status == "approved")
    )
    return dict(rows.all())
