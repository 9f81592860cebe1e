"""services/read_cache.py: what rendered pages share between readers, kept a while."""

from __future__ import annotations

import time

from paperfeed.services.read_cache import ReadCache


def test_an_answer_is_computed_once_per_ttl_and_the_oldest_is_dropped_first() -> None:
    computed: list[str] = []

    def compute(key: str) -> str:
        computed.append(key)
        return key.upper()

    cache: ReadCache[str] = ReadCache(ttl_s=0.3, max_entries=2)
    assert cache.get("a", lambda: compute("a")) == "A"
    assert cache.get("a", lambda: compute("a")) == "A"
    assert computed == ["a"]
    cache.get("b", lambda: compute("b"))
    cache.get("a", lambda: compute("a"))  # a is now the most recently used
    cache.get("c", lambda: compute("c"))  # drops b, the least recently used
    cache.get("a", lambda: compute("a"))
    cache.get("b", lambda: compute("b"))
    assert computed == ["a", "b", "c", "b"]
    time.sleep(0.35)
    cache.get("b", lambda: compute("b"))
    assert computed == ["a", "b", "c", "b", "b"]
    cache.clear()
    cache.get("b", lambda: compute("b"))
    assert computed[-1] == "b" and len(computed) == 6
