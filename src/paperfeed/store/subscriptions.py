"""Digest subscriptions and the digest outbox: rows in, rows out, atomic claims.

The outbox is what makes sending safe to interrupt: a row is claimed (status 'sending',
committed) before its message goes to the SMTP server, and a claimed row is never picked
up again by another run. See services/digest.py for the whole protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from paperfeed.records import identity_key, utcnow
from paperfeed.store.schema import digest_outbox, subscriptions, users


@dataclass(frozen=True)
class Subscription:
    id: int
    email: str
    user_id: int | None
    status: str
    frequency: str
    prefs: dict[str, Any]
    pending_prefs: dict[str, Any] | None
    confirm_nonce: str | None
    created_at: datetime
    confirmed_at: datetime | None


def _subscription(row: sa.Row) -> Subscription:
    return Subscription(
        row.id,
        row.email,
        row.user_id,
        row.status,
        row.frequency,
        dict(row.prefs),
        dict(row.pending_prefs) if row.pending_prefs is not None else None,
        row.confirm_nonce,
        row.created_at,
        row.confirmed_at,
    )


def subscription_by_email(conn: sa.Connection, email: str) -> Subscription | None:
    row = conn.execute(
        sa.select(subscriptions).where(subscriptions.c.email_key == identity_key(email))
    ).first()
    return _subscription(row) if row is not None else None


def subscription_by_id(conn: sa.Connection, subscription_id: int) -> Subscription | None:
    row = conn.execute(
        sa.select(subscriptions).where(subscriptions.c.id == subscription_id)
    ).first()
    return _subscription(row) if row is not None else None


def insert_subscription(
    conn: sa.Connection,
    email: str,
    user_id: int | None,
    status: str,
    frequency: str,
    prefs: dict[str, Any],
    confirm_nonce: str | None,
) -> int:
    now = utcnow()
    return conn.execute(
        subscriptions.insert()
        .values(
            email=email,
            email_key=identity_key(email),
            user_id=user_id,
            status=status,
            frequency=frequency,
            prefs=prefs,
            confirm_nonce=confirm_nonce,
            created_at=now,
            confirmed_at=now if status == "active" else None,
        )
        .returning(subscriptions.c.id)
    ).scalar_one()


def update_subscription(conn: sa.Connection, subscription_id: int, **values: Any) -> None:
    conn.execute(
        subscriptions.update().where(subscriptions.c.id == subscription_id).values(**values)
    )


def delete_subscription(conn: sa.Connection, email: str) -> bool:
    result = conn.execute(
        subscriptions.delete().where(subscriptions.c.email_key == identity_key(email))
    )
    return result.rowcount > 0


def list_subscriptions(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every subscription with its newest outbox row (period, status, error), for admins."""
    newest = (
        sa.select(sa.func.max(digest_outbox.c.id))
        .where(digest_outbox.c.subscription_id == subscriptions.c.id)
        .correlate(subscriptions)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(
            subscriptions,
            users.c.username,
            digest_outbox.c.period.label("last_period"),
            digest_outbox.c.status.label("last_status"),
            digest_outbox.c.last_error,
            digest_outbox.c.attempts.label("last_attempts"),
        )
        .outerjoin(users, users.c.id == subscriptions.c.user_id)
        .outerjoin(digest_outbox, digest_outbox.c.id == newest)
        .order_by(subscriptions.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def active_subscription_ids(conn: sa.Connection, frequency: str) -> list[int]:
    return list(
        conn.execute(
            sa.select(subscriptions.c.id)
            .where(subscriptions.c.status == "active", subscriptions.c.frequency == frequency)
            .order_by(subscriptions.c.id)
        ).scalars()
    )


def active_subscriptions(conn: sa.Connection, frequency: str) -> list[Subscription]:
    found = conn.execute(
        sa.select(subscriptions)
        .where(subscriptions.c.status == "active", subscriptions.c.frequency == frequency)
        .order_by(subscriptions.c.id)
    )
    return [_subscription(row) for row in found]


def subscriptions_done(conn: sa.Connection, period: str) -> set[int]:
    """Subscriptions whose row for `period` is no longer pending."""
    return set(
        conn.execute(
            sa.select(digest_outbox.c.subscription_id).where(
                digest_outbox.c.period == period, digest_outbox.c.status != "pending"
            )
        ).scalars()
    )


def add_outbox_rows(conn: sa.Connection, period: str, subscription_ids: list[int]) -> int:
    """A pending row for each subscription that has none for `period` yet; the unique
    constraint keeps concurrent runs from adding two. Returns how many were added."""
    if not subscription_ids:
        return 0
    have = set(
        conn.execute(
            sa.select(digest_outbox.c.subscription_id).where(digest_outbox.c.period == period)
        ).scalars()
    )
    missing = [sid for sid in subscription_ids if sid not in have]
    if not missing:
        return 0
    now = utcnow()
    rows = [
        {"subscription_id": sid, "period": period, "status": "pending", "created_at": now}
        for sid in missing
    ]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(digest_outbox).on_conflict_do_nothing(
        index_elements=["subscription_id", "period"]
    )
    return conn.execute(statement, rows).rowcount


@dataclass(frozen=True)
class OutboxItem:
    id: int
    period: str
    message_id: str | None
    subscription: Subscription


def pending_periods(conn: sa.Connection, created_since: datetime) -> list[str]:
    """Periods with pending rows created since then."""
    return list(
        conn.execute(
            sa.select(digest_outbox.c.period)
            .where(digest_outbox.c.status == "pending", digest_outbox.c.created_at >= created_since)
            .distinct()
        ).scalars()
    )


def pending_items(
    conn: sa.Connection, periods: list[str], after_id: int = 0, limit: int = 500
) -> list[OutboxItem]:
    """Pending rows of these periods with their subscriptions, by id, after `after_id`."""
    rows = conn.execute(
        sa.select(
            digest_outbox.c.id.label("outbox_id"),
            digest_outbox.c.period,
            digest_outbox.c.message_id,
            subscriptions,
        )
        .join(subscriptions, subscriptions.c.id == digest_outbox.c.subscription_id)
        .where(
            digest_outbox.c.period.in_(periods),
            digest_outbox.c.status == "pending",
            digest_outbox.c.id > after_id,
        )
        .order_by(digest_outbox.c.id)
        .limit(limit)
    ).all()
    return [
        OutboxItem(row.outbox_id, row.period, row.message_id, _subscription(row)) for row in rows
    ]


def claim(conn: sa.Connection, outbox_id: int, message_id: str) -> bool:
    """Take a pending row of an active subscription for sending; False when another run
    took it first or the reader unsubscribed meanwhile. The caller commits before handing
    the message to the server."""
    still_active = sa.exists().where(
        subscriptions.c.id == digest_outbox.c.subscription_id, subscriptions.c.status == "active"
    )
    result = conn.execute(
        digest_outbox.update()
        .where(digest_outbox.c.id == outbox_id, digest_outbox.c.status == "pending", still_active)
        .values(
            status="sending",
            message_id=sa.func.coalesce(digest_outbox.c.message_id, message_id),
            attempts=digest_outbox.c.attempts + 1,
            claimed_at=utcnow(),
        )
    )
    return result.rowcount == 1


def finish(
    conn: sa.Connection,
    outbox_id: int,
    status: str,
    error: str | None = None,
    papers: int | None = None,
    retries: int = 0,
) -> None:
    """End a row (sent, failed, unknown, empty, cancelled), or put it back to 'pending' for a later try. `retries`:
    tries after the first one in this claim."""
    values: dict[str, Any] = {"status": status, "last_error": error}
    if retries:
        values["attempts"] = digest_outbox.c.attempts + retries
    if papers is not None:
        values["papers"] = papers
    if status == "sent":
        values["sent_at"] = utcnow()
    conn.execute(digest_outbox.update().where(digest_outbox.c.id == outbox_id).values(**values))


def outbox_status(conn: sa.Connection, outbox_id: int) -> str:
    return conn.execute(
        sa.select(digest_outbox.c.status).where(digest_outbox.c.id == outbox_id)
    ).scalar_one()
