"""What an operator watches: whether the store answers, and the gauges /metrics exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

import sqlalchemy as sa

from paperfeed.index.vectors import count_stale
from paperfeed.services.update import last_updates
from paperfeed.store import Store
from paperfeed.store.schema import digest_outbox, papers


def ping(store: Store) -> None:
    """One trivial query; raises when the store does not answer."""
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


@dataclass
class StoreGauges:
    papers: int
    # Papers without a current vector from the serving model (None: no model loaded).
    embedding_backlog: int | None
    # Digest outbox rows by status: sent, failed, unknown, pending, sending, empty, cancelled.
    digests: dict[str, int] = field(default_factory=dict)
    # When each source's last successful update finished (Unix seconds).
    last_update: dict[str, float] = field(default_factory=dict)


def store_gauges(store: Store, embedding_model: str | None) -> StoreGauges:
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
        digests = dict(
            conn.execute(
                sa.select(digest_outbox.c.status, sa.func.count()).group_by(digest_outbox.c.status)
            ).all()
        )
    backlog = count_stale(store, embedding_model) if embedding_model is not None else None
    last_update = {
        source: run.finished_at.replace(tzinfo=UTC).timestamp()
        for source, run in last_updates(store, status="ok").items()
        if run.finished_at is not None
    }
    return StoreGauges(count, backlog, digests, last_update)
