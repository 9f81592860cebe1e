"""The store: papers and community data in SQLite (default) or PostgreSQL."""

from paperfeed.store.db import Store, insert_or_replace, insert_unless_present

__all__ = ["Store", "insert_or_replace", "insert_unless_present"]
