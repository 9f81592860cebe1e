"""arXiv metadata snapshots as JSON Lines, plain or gzip.

Two layouts are read, detected per line:
- Kaggle's arXiv metadata snapshot: {"id", "authors_parsed", "versions", "categories": "a b", ...}
- paperfeed's daily-listing layout (../shared/data/arxiv-cs-daily):
  {"arxiv_id", "authors": [...], "categories": [...], "listing_date", ...}
The cursor is the number of lines consumed, so a resumed run seeks past them.
"""

from __future__ import annotations

import email.utils
import gzip
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from paperfeed.errors import RecordError, SourceError
from paperfeed.records import (
    PaperRecord,
    clean_text,
    parse_date,
    to_utc_naive,
    validate_paper,
    version_of_label,
)
from paperfeed.sources.base import Checkpoint, Item, Rejected, Skipped, guarded, json_value

CHECKPOINT_EVERY = 2_000
# The longest valid record (5,000 authors of 1,000 characters, a 20,000-character abstract)
# is about 5 MB of JSON; a longer line is rejected without being held in memory.
MAX_LINE_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


def bounded_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes | None]:
    """The stream's lines, like iterating it, except that a line longer than `limit` bytes
    is read past in chunks and comes out as None: one line can hold a whole file."""
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(CHUNK_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def open_maybe_gzip(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(raw file, stream to read lines from); the raw file's position tracks progress."""
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return raw, gzip.GzipFile(fileobj=raw)
    raw.seek(0)
    return raw, raw


def _arxiv_date(value: str) -> datetime | None:
    """Kaggle's version dates: 'Mon, 2 Apr 2007 19:18:42 GMT'."""
    try:
        return to_utc_naive(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError) as exc:
        raise RecordError(f"bad version date {value!r}") from exc


def _kaggle_authors(obj: dict[str, Any]) -> list[str]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for parts in parsed:
            if not isinstance(parts, list) or not parts:
                raise RecordError("bad authors_parsed entry")
            last, first, suffix = ([*parts, "", ""])[:3]
            names.append(" ".join(p for p in (first, last, suffix) if p))
        return names
    text = obj.get("authors")
    if not isinstance(text, str):
        raise RecordError("no authors")
    return [n.strip() for n in text.replace(" and ", ", ").split(",") if n.strip()]


def parse_kaggle(obj: dict[str, Any]) -> PaperRecord:
    versions = obj.get("versions") or []
    if not isinstance(versions, list):
        raise RecordError("versions must be a list")
    created = [
        _arxiv_date(v["created"]) for v in versions if isinstance(v, dict) and v.get("created")
    ]
    last_label = (
        versions[-1].get("version", "") if versions and isinstance(versions[-1], dict) else ""
    )
    categories = clean_text(obj.get("categories")).split()
    return PaperRecord(
        arxiv_id=str(obj.get("id", "")),
        version=version_of_label(last_label) or len(versions) or None,
        title=obj.get("title"),
        abstract=obj.get("abstract"),
        authors=_kaggle_authors(obj),
        categories=categories,
        primary_category=categories[0] if categories else None,
        comment=obj.get("comments"),
        journal_ref=obj.get("journal-ref"),
        doi=obj.get("doi"),
        license=obj.get("license"),
        published_at=created[0] if created else None,
        updated_at=created[-1] if created else None,
    )


def parse_listing(obj: dict[str, Any]) -> PaperRecord:
    return PaperRecord(
        arxiv_id=str(obj.get("arxiv_id", "")),
        title=obj.get("title"),
        abstract=obj.get("abstract"),
        authors=obj.get("authors"),
        categories=obj.get("categories") or [],
        primary_category=obj.get("primary_category"),
        comment=obj.get("comment"),
        journal_ref=obj.get("journal_ref"),
        doi=obj.get("doi"),
        license=obj.get("license"),
        announced_date=parse_date(obj.get("listing_date")),
    )


def parse_line(obj: object) -> PaperRecord:
    if not isinstance(obj, dict):
        raise RecordError("not a JSON object")
    if "daily_date" in obj:
        raise RecordError("a Hugging Face daily-papers record: use `paperfeed ingest hf-daily`")
    if "arxiv_id" in obj:
        return validate_paper(parse_listing(obj))
    if "id" in obj:
        return validate_paper(parse_kaggle(obj))
    raise RecordError("no 'id' or 'arxiv_id' field")


def _record_date(record: PaperRecord) -> date | None:
    if record.announced_date:
        return record.announced_date
    return record.updated_at.date() if record.updated_at else None


class JsonlSource:
    kind = "jsonl"

    def __init__(self, path: Path, since: date | None = None) -> None:
        self.path = path
        self.since = since
        try:
            stat = path.stat()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not path.is_file():
            raise SourceError(f"{path} is not a file")
        self.total_bytes = stat.st_size
        self._raw: IO[bytes] | None = None
        # The file's identity is part of the job: a changed file starts over.
        self.job = f"jsonl:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{since or ''}"

    def progress(self) -> tuple[int, int, str] | None:
        if self._raw is None or self._raw.closed:
            return None
        return self._raw.tell(), self.total_bytes, "B"

    def items(self, resume_from: str | None) -> Iterator[Item]:
        skip_lines = int(resume_from) if resume_from else 0
        raw, stream = open_maybe_gzip(self.path)
        self._raw = raw
        lineno = 0
        try:
            with raw, stream:
                try:
                    for lineno, line in enumerate(bounded_lines(stream), start=1):
                        if lineno <= skip_lines:
                            continue
                        yield from self._parse(line, lineno)
                        if lineno % CHECKPOINT_EVERY == 0:
                            yield Checkpoint(str(lineno))
                except (EOFError, OSError, zlib.error) as exc:
                    raise SourceError(
                        f"{self.path}: unreadable after line {lineno} ({exc}); "
                        "lines before it were ingested"
                    ) from exc
            yield Checkpoint(str(lineno))
        finally:
            self._raw = None

    def _parse(self, line: bytes | None, lineno: int) -> Iterator[Item]:
        if line is None:
            yield Rejected(f"{self.path}:{lineno}", f"line longer than {MAX_LINE_BYTES:,} bytes")
            return
        if not line.strip():
            return
        item = guarded(f"{self.path}:{lineno}", lambda: parse_line(json_value(line)))
        if (
            self.since
            and isinstance(item, PaperRecord)
            and (_record_date(item) or self.since) < self.since
        ):
            yield Skipped()
            return
        yield item
