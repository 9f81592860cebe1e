"""The embedding model for the tests, keeping what it computes for the whole run.

Several fixtures embed the same real papers: the map's slice is the start of search's, the
vector backends' contract embeds its slice once per backend, and a module's fixture runs
once per engine, often on another xdist worker. Embedding was an eighth of the suite's
CPU. Every vector still comes from the real model, once per run: the first fixture to ask
computes it, and the others (in any worker) read it from a SQLite file under the run's
temporary folder. One lock serializes the look-up and the computing, so two workers
asking for the same papers at once compute them once.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from paperfeed.index.embedder import DIM, Embedder

_CHUNK = 500  # keys per SELECT, under SQLite's limit on parameters


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class RunEmbedder(Embedder):
    """An Embedder whose vectors are kept in `cache` (a SQLite file) for the run."""

    def __init__(self, cache: Path, max_tokens: int) -> None:
        super().__init__(max_tokens=max_tokens)
        self.cache = cache

    def embed(
        self,
        texts: Sequence[str],
        max_tokens: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        tokens = max_tokens or self.max_tokens
        keys = [hashlib.sha256(f"{tokens}\0{text}".encode()).digest() for text in texts]
        with _locked(self.cache.with_suffix(".lock")), closing(sqlite3.connect(self.cache)) as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB)")
            known: dict[bytes, bytes] = {}
            wanted = list(set(keys))
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, vector FROM vectors WHERE key IN ({marks})"
                known.update(db.execute(query, chunk).fetchall())
            missing = sorted({key: i for i, key in enumerate(keys) if key not in known}.values())
            if on_batch and len(texts) > len(missing):
                on_batch(len(texts) - len(missing))
            if missing:
                computed = super().embed([texts[i] for i in missing], max_tokens, on_batch)
                rows = [(keys[i], v.tobytes()) for i, v in zip(missing, computed, strict=True)]
                with db:
                    db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)", rows)
                known.update(rows)
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, key in enumerate(keys):
            vectors[row] = np.frombuffer(known[key], dtype=np.float32)
        return vectors
