"""Job leases: at most one holder of a named job at a time, across processes and machines
sharing the database.

Taking a lease is one conditional UPDATE (the row is free: expired, or already ours) or,
for a job never run, an INSERT that the primary key settles. Both are atomic on SQLite
(the write lock) and PostgreSQL (a row lock, and the WHERE is checked again after it).
Times come from the holders' clocks, so machines sharing a database must keep their
clocks in step (NTP) to well within a lease's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.store.db import insert_unless_present
from paperfeed.store.schema import job_leases


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    acquired_at: datetime
    heartbeat: datetime
    expires_at: datetime


def try_acquire(conn: sa.Connection, name: str, holder: str, ttl_s: float) -> bool:
    """Take the lease `name` for `holder` for `ttl_s` seconds; False when another holder
    has it and it has not expired."""
    now = utcnow()
    values = {"holder": holder, "heartbeat": now, "expires_at": now + timedelta(seconds=ttl_s)}
    taken = conn.execute(
        job_leases.update()
        .where(
            job_leases.c.name == name,
            sa.or_(job_leases.c.expires_at < now, job_leases.c.holder == holder),
        )
        .values(**values, acquired_at=now)
    )
    if taken.rowcount == 1:
        return True
    return insert_unless_present(
        conn, job_leases.insert().values(name=name, acquired_at=now, **values)
    )


def renew(conn: sa.Connection, name: str, holder: str, ttl_s: float) -> bool:
    """Extend our lease; False when it is no longer ours (it expired and was taken)."""
    now = utcnow()
    renewed = conn.execute(
        job_leases.update()
        .where(job_leases.c.name == name, job_leases.c.holder == holder)
        .values(heartbeat=now, expires_at=now + timedelta(seconds=ttl_s))
    )
    return renewed.rowcount == 1


def release(conn: sa.Connection, name: str, holder: str) -> None:
    conn.execute(
        job_leases.delete().where(job_leases.c.name == name, job_leases.c.holder == holder)
    )


def current(conn: sa.Connection, name: str) -> LeaseInfo | None:
    row = conn.execute(sa.select(job_leases).where(job_leases.c.name == name)).mappings().first()
    return LeaseInfo(**row) if row else None
