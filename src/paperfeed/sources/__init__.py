"""Ingest sources. Each parses one external format into `paperfeed.records` and yields
them with resumable cursors (see `paperfeed.sources.base`); none of them touches the store."""
