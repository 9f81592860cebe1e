"""Site keys kept in the database, so every worker on one database signs alike."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.store.schema import app_secrets


def get_or_create_secret(engine: sa.Engine, name: str) -> bytes:
    """The key called `name`, made (32 random bytes) by whichever worker asks first."""
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(app_secrets.c.value).where(app_secrets.c.name == name)
        ).scalar()
        if found is not None:
            return bytes.fromhex(found)
    try:
        with engine.begin() as conn:
            conn.execute(
                app_secrets.insert().values(
                    name=name, value=secrets.token_hex(32), created_at=utcnow()
                )
            )
    except sa.exc.IntegrityError:
        pass  # another worker made it first: use theirs
    with engine.connect() as conn:
        return bytes.fromhex(
            conn.execute(
                sa.select(app_secrets.c.value).where(app_secrets.c.name == name)
            ).scalar_one()
        )
