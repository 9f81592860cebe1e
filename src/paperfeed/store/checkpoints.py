"""Where an ingest job stopped. Saved in the same transaction as the batch it follows, so a
crash can never record progress that was not committed."""

from __future__ import annotations

import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.store.schema import ingest_checkpoints


def load(conn: sa.Connection, job: str) -> str | None:
    return conn.execute(
        sa.select(ingest_checkpoints.c.cursor).where(ingest_checkpoints.c.job == job)
    ).scalar()


def save(conn: sa.Connection, job: str, cursor: str) -> None:
    updated = conn.execute(
        ingest_checkpoints.update()
        .where(ingest_checkpoints.c.job == job)
        .values(cursor=cursor, updated_at=utcnow())
    )
    if updated.rowcount == 0:
        conn.execute(
            ingest_checkpoints.insert().values(job=job, cursor=cursor, updated_at=utcnow())
        )


def clear(conn: sa.Connection, job: str) -> None:
    conn.execute(ingest_checkpoints.delete().where(ingest_checkpoints.c.job == job))
