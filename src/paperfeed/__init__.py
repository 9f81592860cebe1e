"""paperfeed: a self-hostable research-paper discovery service.

Layers, in the direction data flows:
sources (ingest) -> store -> services -> interfaces (web, CLI).
"""

__version__ = "0.1.0"
