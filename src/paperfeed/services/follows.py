"""Authors and categories a reader follows, and their personal Atom feed.

Followed items feed For you (services/recommend.py reads them as interest seeds), the
digest (services/digest.py adds them to the reader's subscription) and the personal feed
here. The feed's URL holds a random token; only its SHA-256 is stored (like sessions), so
a leaked database does not leak feed URLs. A new token replaces the old one; revoking
deletes it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from paperfeed.authors import MAX_NAME_CHARS, parse_name
from paperfeed.errors import ActionError
from paperfeed.records import utcnow
from paperfeed.services.authors import author_paper_ids
from paperfeed.services.paper_views import LISTING, NEWEST_FIRST, PaperView, view_of
from paperfeed.store.schema import feed_tokens, follows, paper_categories, papers

FollowKind = Literal["author", "category"]
MAX_FOLLOWS = 500  # per reader
FEED_PAPERS = 50
CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9.\-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass(frozen=True)
class Follow:
    kind: FollowKind
    value: str


def followable(kind: str, value: str) -> str:
    """The value as stored; ActionError (400) for one that names no author or category."""
    if _CONTROL.search(value):  # refused, not stripped: a line break is never in a name
        raise ActionError("no line breaks or control characters")
    value = " ".join(value.split())
    if kind == "category":
        if not CATEGORY.fullmatch(value):
            raise ActionError("a category is written like cs.CL")
        return value
    if kind != "author":
        raise ActionError("one follows an author or a category")
    if len(value) > MAX_NAME_CHARS or parse_name(value) is None:
        raise ActionError(f"an author's name: letters, at most {MAX_NAME_CHARS} characters")
    return value


def follow(conn: sa.Connection, user_id: int, kind: str, value: str) -> Follow:
    value = followable(kind, value)
    held = following(conn, user_id)
    if Follow(kind, value) in held:  # type: ignore[arg-type]
        return Follow(kind, value)  # type: ignore[arg-type]
    if len(held) >= MAX_FOLLOWS:
        raise ActionError(f"at most {MAX_FOLLOWS} follows")
    conn.execute(
        follows.insert().values(user_id=user_id, kind=kind, value=value, created_at=utcnow())
    )
    return Follow(kind, value)  # type: ignore[arg-type]


def unfollow(conn: sa.Connection, user_id: int, kind: str, value: str) -> None:
    conn.execute(
        follows.delete().where(
            follows.c.user_id == user_id,
            follows.c.kind == kind,
            follows.c.value == " ".join(value.split()),
        )
    )


def following(conn: sa.Connection, user_id: int) -> list[Follow]:
    rows = conn.execute(
        sa.select(follows.c.kind, follows.c.value)
        .where(follows.c.user_id == user_id)
        .order_by(follows.c.kind, follows.c.value)
    )
    return [Follow(kind, value) for kind, value in rows]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_feed_token(conn: sa.Connection, user_id: int) -> str:
    """A new secret for the reader's personal feed; the old one stops working."""
    token = secrets.token_urlsafe(24)
    revoke_feed_token(conn, user_id)
    conn.execute(
        feed_tokens.insert().values(user_id=user_id, token_hash=_hash(token), created_at=utcnow())
    )
    return token


def revoke_feed_token(conn: sa.Connection, user_id: int) -> None:
    conn.execute(feed_tokens.delete().where(feed_tokens.c.user_id == user_id))


def has_feed_token(conn: sa.Connection, user_id: int) -> bool:
    found = conn.execute(sa.select(feed_tokens.c.user_id).where(feed_tokens.c.user_id == user_id))
    return found.first() is not None


def feed_owner(conn: sa.Connection, token: str) -> int | None:
    """The reader whose feed this token opens, if any (compared by hash: the lookup reveals
    nothing about other tokens)."""
    if not 16 <= len(token) <= 64:
        return None
    return conn.execute(
        sa.select(feed_tokens.c.user_id).where(feed_tokens.c.token_hash == _hash(token))
    ).scalar()


def followed_papers(conn: sa.Connection, user_id: int, limit: int = FEED_PAPERS) -> list[PaperView]:
    """The newest papers by the reader's followed authors or in their followed
    categories: the personal feed."""
    ids: set[int] = set()
    categories = []
    for item in following(conn, user_id):
        if item.kind == "author":
            ids |= author_paper_ids(conn, item.value)
        else:
            categories.append(item.value)
    if categories:
        newest = (
            sa.select(paper_categories.c.paper_id)
            .where(paper_categories.c.category.in_(categories))
            .order_by(paper_categories.c.paper_id.desc())
            .limit(limit * 4)
        )
        ids |= set(conn.execute(newest).scalars())
    if not ids:
        return []
    rows = conn.execute(
        LISTING.where(papers.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(*NEWEST_FIRST)
        .limit(limit),
        {"ids": sorted(ids)[-5_000:]},  # bounded IN list: the newest ids
    ).mappings()
    return [view_of(row) for row in rows]
