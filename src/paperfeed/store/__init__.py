"""The store: papers and community data in SQLite (default) or PostgreSQL."""

from paperfeed.store.db import Store

__all__ = ["Store"]
