"""Collections: a reader's named lists of papers, private unless made public."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from paperfeed.errors import ActionError, NotFound
from paperfeed.records import utcnow
from paperfeed.services.community import paper_id_of
from paperfeed.services.paper_views import LISTING, PaperView, view_of
from paperfeed.store.schema import collection_items, collections, papers, users

MAX_NAME, MAX_DESCRIPTION = 100, 2_000


@dataclass
class CollectionView:
    id: int
    owner: str
    owner_id: int
    name: str
    description: str
    is_public: bool
    updated_at: datetime
    papers: list[PaperView] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "description": self.description,
            "public": self.is_public,
            "updated_at": self.updated_at.isoformat(),
            "papers": [p.to_json() for p in self.papers],
        }


def _clean(name: str, description: str) -> tuple[str, str]:
    name, description = " ".join(name.split()), description.strip()
    if not name:
        raise ActionError("a collection needs a name")
    if len(name) > MAX_NAME or len(description) > MAX_DESCRIPTION:
        raise ActionError(
            f"names have at most {MAX_NAME} characters, descriptions {MAX_DESCRIPTION:,}"
        )
    return name, description


def create_collection(
    conn: sa.Connection, user_id: int, name: str, description: str = "", is_public: bool = False
) -> int:
    name, description = _clean(name, description)
    now = utcnow()
    return conn.execute(
        collections.insert()
        .values(
            user_id=user_id,
            name=name,
            description=description,
            is_public=is_public,
            created_at=now,
            updated_at=now,
        )
        .returning(collections.c.id)
    ).scalar_one()


_HEADER = sa.select(collections, users.c.username).join(users, users.c.id == collections.c.user_id)


def _view(row: sa.Row) -> CollectionView:
    return CollectionView(
        row.id,
        row.username,
        row.user_id,
        row.name,
        row.description,
        bool(row.is_public),
        row.updated_at,
    )


def get_collection(
    conn: sa.Connection, collection_id: int, viewer_id: int | None
) -> CollectionView:
    """The collection with its papers (latest added first). A private one is visible to its
    owner only; to anyone else it does not exist (404, not 403: its name is private too)."""
    row = conn.execute(_HEADER.where(collections.c.id == collection_id)).first()
    if row is None or (not row.is_public and row.user_id != viewer_id):
        raise NotFound("no such collection")
    view = _view(row)
    rows = conn.execute(
        LISTING.add_columns(collection_items.c.added_at)
        .join(collection_items, collection_items.c.paper_id == papers.c.id)
        .where(collection_items.c.collection_id == collection_id)
        .order_by(collection_items.c.added_at.desc(), papers.c.arxiv_id)
    ).mappings()
    view.papers = [view_of(r) for r in rows]
    return view


def collections_of(
    conn: sa.Connection, user_id: int, include_private: bool
) -> list[CollectionView]:
    query = _HEADER.where(collections.c.user_id == user_id)
    if not include_private:
        query = query.where(collections.c.is_public.is_(True))
    return [_view(r) for r in conn.execute(query.order_by(collections.c.updated_at.desc()))]


def _owned(conn: sa.Connection, collection_id: int, user_id: int) -> None:
    owner = conn.execute(
        sa.select(collections.c.user_id).where(collections.c.id == collection_id)
    ).scalar()
    if owner is None or owner != user_id:
        raise NotFound("no such collection of yours")


def _touch(conn: sa.Connection, collection_id: int) -> None:
    conn.execute(
        collections.update().where(collections.c.id == collection_id).values(updated_at=utcnow())
    )


def add_paper(conn: sa.Connection, collection_id: int, user_id: int, arxiv_id: str) -> bool:
    """Adds a paper; False if it was already there."""
    _owned(conn, collection_id, user_id)
    paper_id = paper_id_of(conn, arxiv_id)
    there = conn.execute(
        sa.select(
            sa.exists().where(
                (collection_items.c.collection_id == collection_id)
                & (collection_items.c.paper_id == paper_id)
            )
        )
    ).scalar()
    if there:
        return False
    conn.execute(
        collection_items.insert().values(
            collection_id=collection_id, paper_id=paper_id, added_at=utcnow()
        )
    )
    _touch(conn, collection_id)
    return True


def remove_paper(conn: sa.Connection, collection_id: int, user_id: int, arxiv_id: str) -> bool:
    _owned(conn, collection_id, user_id)
    paper_id = paper_id_of(conn, arxiv_id)
    removed = conn.execute(
        collection_items.delete().where(
            (collection_items.c.collection_id == collection_id)
            & (collection_items.c.paper_id == paper_id)
        )
    ).rowcount
    _touch(conn, collection_id)
    return removed > 0


def update_collection(
    conn: sa.Connection,
    collection_id: int,
    user_id: int,
    name: str,
    description: str,
    is_public: bool,
) -> None:
    _owned(conn, collection_id, user_id)
    name, description = _clean(name, description)
    conn.execute(
        collections.update()
        .where(collections.c.id == collection_id)
        .values(name=name, description=description, is_public=is_public, updated_at=utcnow())
    )


def delete_collection(conn: sa.Connection, collection_id: int, user_id: int) -> None:
    _owned(conn, collection_id, user_id)
    conn.execute(collections.delete().where(collections.c.id == collection_id))
