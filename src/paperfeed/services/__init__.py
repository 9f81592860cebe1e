"""Services: what the interfaces ask for (ingest jobs, feeds, stats), built on the store."""
