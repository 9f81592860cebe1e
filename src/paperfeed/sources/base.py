"""What a source yields, and the contract the ingest runner relies on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from paperfeed.records import DailyRecord, PaperRecord


@dataclass
class Rejected:
    """A record that could not be used; `where` names the file and line, or the id."""

    where: str
    reason: str


@dataclass
class Skipped:
    """A valid record the caller asked to leave out (for example, older than --since)."""


@dataclass
class Checkpoint:
    """Everything yielded before this can be committed; resuming at `cursor` continues
    right after it."""

    cursor: str


Item = PaperRecord | DailyRecord | Rejected | Skipped | Checkpoint


class Source(Protocol):
    # Names the job for checkpoints: the same job resumed gives the same key.
    job: str
    # The store.papers.SOURCE_RANK key of the records it yields.
    kind: str

    def items(self, resume_from: str | None) -> Iterator[Item]: ...

    def progress(self) -> tuple[int, int, str] | None:
        """(done, total, unit) when the source knows how far along it is."""
        ...
