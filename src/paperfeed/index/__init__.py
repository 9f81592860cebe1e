"""Indexes derived from the store: keyword (tantivy BM25) and vector (embeddings).

Both can be rebuilt from the store at any time; the store stays the source of truth.
"""
