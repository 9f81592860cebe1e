"""What a reader tells the recommender directly: stated interests (cold start) and
"not interested" marks. Votes and collections, the other signals, live elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import sqlalchemy as sa

from paperfeed.errors import ActionError
from paperfeed.records import parse_arxiv_id, utcnow
from paperfeed.services.community import paper_id_of
from paperfeed.store import insert_unless_present
from paperfeed.store.schema import interest_seeds, not_interested

SeedKind = Literal["category", "author", "paper", "text"]
SEED_KINDS: tuple[str, ...] = get_args(SeedKind)
MAX_SEED_CHARS = {"category": 40, "author": 200, "paper": 60, "text": 5_000}
MAX_SEEDS = 50
# Each pasted text is embedded when the For you page is built (then kept in memory).
MAX_TEXT_SEEDS = 10


@dataclass(frozen=True)
class Seed:
    id: int
    kind: str
    value: str


def add_seed(conn: sa.Connection, user_id: int, kind: str, value: str) -> bool:
    """Records an interest; False if the user had stated it already."""
    value = " ".join(value.split()) if kind != "text" else value.strip()
    if kind not in SEED_KINDS:
        raise ActionError(f"an interest is one of {', '.join(SEED_KINDS)}")
    if not value or len(value) > MAX_SEED_CHARS[kind]:
        raise ActionError(f"a {kind} interest has 1 to {MAX_SEED_CHARS[kind]:,} characters")
    if kind == "paper":
        parsed = parse_arxiv_id(value)
        if parsed is None:
            raise ActionError(f"not an arXiv id or URL: {value[:60]!r}")
        value = parsed[0]
    mine = interest_seeds.c.user_id == user_id
    counts = dict(
        conn.execute(
            sa.select(interest_seeds.c.kind, sa.func.count())
            .where(mine)
            .group_by(interest_seeds.c.kind)
        ).all()
    )
    too_many_texts = kind == "text" and counts.get("text", 0) >= MAX_TEXT_SEEDS
    if sum(counts.values()) >= MAX_SEEDS or too_many_texts:
        raise ActionError(
            f"at most {MAX_SEEDS} stated interests, {MAX_TEXT_SEEDS} of them pasted texts; "
            "remove some first"
        )
    return insert_unless_present(
        conn,
        interest_seeds.insert().values(
            user_id=user_id, kind=kind, value=value, created_at=utcnow()
        ),
    )


def remove_seed(conn: sa.Connection, user_id: int, seed_id: int) -> bool:
    return (
        conn.execute(
            interest_seeds.delete().where(
                interest_seeds.c.id == seed_id, interest_seeds.c.user_id == user_id
            )
        ).rowcount
        > 0
    )


def seeds_of(conn: sa.Connection, user_id: int) -> list[Seed]:
    rows = conn.execute(
        sa.select(interest_seeds.c.id, interest_seeds.c.kind, interest_seeds.c.value)
        .where(interest_seeds.c.user_id == user_id)
        .order_by(interest_seeds.c.id)
    )
    return [Seed(r.id, r.kind, r.value) for r in rows]


def mark_not_interested(conn: sa.Connection, user_id: int, arxiv_id: str, marked: bool) -> None:
    paper_id = paper_id_of(conn, arxiv_id)
    mine = (not_interested.c.user_id == user_id) & (not_interested.c.paper_id == paper_id)
    there = conn.execute(sa.select(sa.exists().where(mine))).scalar()
    if marked and not there:
        insert_unless_present(
            conn,
            not_interested.insert().values(user_id=user_id, paper_id=paper_id, created_at=utcnow()),
        )
    elif not marked and there:
        conn.execute(not_interested.delete().where(mine))
