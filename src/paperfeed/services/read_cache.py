"""Reads every reader shares, kept a short while in this process: the data of a rendered
page (never its HTML, which holds a signed-in reader's forms; what of a listed paper's
HTML is the same for every reader is kept by web/templating.py), for the pages the
anonymous page cache (web/page_cache.py) cannot answer.

What is kept must be the same for every reader and may be a little old: a paper's similar
papers (they change when new papers are embedded), a day's list of papers. What a reader
must see fresh (their own votes, the vote counts) is read again for each page.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadCache(Generic[T]):
    """Up to `max_entries` answers, each kept `ttl_s` seconds, the least recently used
    dropped first. Two readers asking for a missing key at once may both compute it (the
    later one wins): cheaper than making one wait on a lock held across a query."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                self._entries.move_to_end(key)
                return hit[1]
        value = compute()
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
