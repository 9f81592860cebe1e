"""What a source yields, and the contract the ingest runner relies on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from paperfeed.errors import RecordError
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


def json_value(data: bytes | str) -> object:
    """Parsed JSON, or a RecordError: malformed, not UTF-8, or nested past the recursion
    limit (json.loads raises RecursionError for '[[[[...' ten thousand deep)."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"invalid JSON ({exc})") from exc
    except RecursionError:
        raise RecordError("invalid JSON (nested too deeply)") from None


def guarded(where: str, parse: Callable[[], Item]) -> Item:
    """parse() for one record, or that record Rejected at `where` whatever it raised.

    RecordError is the parsers' own "this record is malformed". Anything else (a shape no
    parser foresaw, nesting that recurses past the limit, a bug) still rejects only this
    record, with its exception's type in the reason so that it shows in the run's report
    instead of ending the run and losing the rest of the input.
    """
    try:
        return parse()
    except RecordError as exc:
        return Rejected(where, str(exc))
    except RecursionError:
        return Rejected(where, "nested too deeply")
    except Exception as exc:
        return Rejected(where, f"{type(exc).__name__}: {exc}"[:500])
