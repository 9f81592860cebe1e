"""Hugging Face daily papers: the community signal (upvotes, comments, submitters, links).

Reads three shapes of the same data:
- the live API, GET {hf_api_url}/daily_papers?date=YYYY-MM-DD (a JSON list of entries,
  each {"paper": {...}, "numComments", "submittedBy", ...});
- files holding that API's answer (YYYY-MM-DD.json), alone or in a folder;
- the flat JSON Lines export in ../shared/data/hf-daily-papers (one entry per line).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from paperfeed.errors import RecordError, SourceError
from paperfeed.records import (
    DailyRecord,
    PaperRecord,
    parse_date,
    parse_datetime,
    validate_daily,
)
from paperfeed.sources.base import Checkpoint, Item, Rejected, Skipped, guarded, json_value
from paperfeed.sources.http import HttpClient
from paperfeed.sources.jsonl import MAX_LINE_BYTES, bounded_lines, open_maybe_gzip

_DATE_IN_NAME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})")
PAGE_SIZE = 100
MAX_PAGES_PER_DAY = 20
# An answer of the API is a few hundred kilobytes; a .json file is read whole, so bounded.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


def _name(obj: object) -> str | None:
    if isinstance(obj, dict):
        return obj.get("user") or obj.get("name")
    return None


def parse_api_entry(entry: object, day: date | None) -> DailyRecord:
    """One element of /api/daily_papers. `day` is the list's date when the caller knows it."""
    if not isinstance(entry, dict) or not isinstance(entry.get("paper"), dict):
        raise RecordError("entry has no 'paper' object")
    paper = entry["paper"]
    authors = paper.get("authors") or []
    if not isinstance(authors, list):
        raise RecordError("paper.authors must be a list")
    submitted_at = parse_datetime(paper.get("submittedOnDailyAt") or entry.get("publishedAt"))
    if day is None:
        if submitted_at is None:
            raise RecordError("no date: pass --date or name the file YYYY-MM-DD.json")
        day = submitted_at.date()
    organization = paper.get("organization") or entry.get("organization")
    return validate_daily(
        DailyRecord(
            paper=PaperRecord(
                arxiv_id=str(paper.get("id", "")),
                title=paper.get("title") or entry.get("title"),
                abstract=paper.get("summary") or entry.get("summary") or "",
                authors=[a.get("name") for a in authors if isinstance(a, dict)],
                published_at=parse_datetime(paper.get("publishedAt")),
            ),
            day=day,
            submitted_by=_name(entry.get("submittedBy")) or _name(paper.get("submittedOnDailyBy")),
            submitted_at=submitted_at,
            upvotes=paper.get("upvotes", 0),
            num_comments=entry.get("numComments", 0),
            github_repo=paper.get("githubRepo"),
            github_stars=paper.get("githubStars"),
            project_page=paper.get("projectPage"),
            organization=_name(organization) if isinstance(organization, dict) else organization,
            ai_summary=paper.get("ai_summary"),
            ai_keywords=paper.get("ai_keywords"),
        )
    )


def parse_flat_entry(obj: dict[str, Any]) -> DailyRecord:
    """One line of the flat export (../shared/data/hf-daily-papers)."""
    day = parse_date(obj.get("daily_date"))
    if day is None:
        raise RecordError("no daily_date")
    return validate_daily(
        DailyRecord(
            paper=PaperRecord(
                arxiv_id=str(obj.get("arxiv_id", "")),
                title=obj.get("title"),
                abstract=obj.get("abstract") or "",
                authors=obj.get("authors") or [],
                published_at=parse_datetime(obj.get("paper_published_at")),
            ),
            day=day,
            submitted_by=obj.get("submitted_by"),
            submitted_at=parse_datetime(obj.get("submitted_on_daily_at")),
            upvotes=obj.get("upvotes", 0),
            num_comments=obj.get("num_comments", 0),
            github_repo=obj.get("github_repo"),
            github_stars=obj.get("github_stars"),
            project_page=obj.get("project_page"),
            organization=obj.get("organization"),
            ai_summary=obj.get("ai_summary"),
            ai_keywords=obj.get("ai_keywords"),
        )
    )


def _parse_object(obj: object, day: date | None) -> DailyRecord:
    """A line of a JSON Lines file: the flat export's layout or one API entry."""
    if not isinstance(obj, dict):
        raise RecordError("not a JSON object")
    return parse_flat_entry(obj) if "daily_date" in obj else parse_api_entry(obj, day)


def _day_in_name(path: Path) -> date | None:
    """The list's date from a name like 2026-11-03.json; a name that looks dated but is
    not a valid date (2026-13-45.json, 0001-01-01.json) is an error, not a guess."""
    found = _DATE_IN_NAME.search(path.name)
    try:
        return parse_date(found.group(1)) if found else None
    except RecordError as exc:
        raise SourceError(f"{path}: the date in its name is not valid ({exc})") from exc


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(
            p for p in path.iterdir() if p.is_file() and p.name.endswith((".json", ".jsonl", ".gz"))
        )
        if not found:
            raise SourceError(f"{path}: no .json, .jsonl or .jsonl.gz files")
        return found
    raise SourceError(f"cannot read {path}: no such file or folder")


class HfDailyFileSource:
    """A file or a folder of files. Cursor: 'file index:entries consumed in that file'."""

    kind = "huggingface"

    def __init__(self, path: Path) -> None:
        self.files = _files_under(path)
        # Checked before anything is read, so a badly named file stops nothing halfway.
        self.days = [_day_in_name(p) for p in self.files]
        stamp = ",".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in self.files)
        digest = hashlib.sha1(stamp.encode()).hexdigest()[:12]
        # The files' names, sizes and times are part of the job: changed files start over.
        self.job = f"hf-daily:{path.resolve()}:{digest}"

    def progress(self) -> tuple[int, int, str] | None:
        return None

    def items(self, resume_from: str | None) -> Iterator[Item]:
        start_file, start_entry = (int(x) for x in (resume_from or "0:0").split(":"))
        for index, path in enumerate(self.files):
            if index < start_file:
                continue
            skip = start_entry if index == start_file else 0
            consumed = 0
            items = self._file_items(path, self.days[index], skip)
            for consumed, item in enumerate(items, start=skip + 1):
                yield item
                if consumed % 1000 == 0:
                    yield Checkpoint(f"{index}:{consumed}")
            yield Checkpoint(f"{index + 1}:0")

    def _file_items(self, path: Path, day: date | None, skip: int) -> Iterator[Item]:
        """One item per entry in the file (entries before `skip` are not yielded)."""
        raw, stream = open_maybe_gzip(path)
        with raw, stream:
            try:
                if path.suffix == ".json":
                    body = stream.read(MAX_DOCUMENT_BYTES + 1)
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise SourceError(f"{path}: larger than {MAX_DOCUMENT_BYTES:,} bytes")
                    yield from self._json_document(path, body, day, skip)
                    return
                for lineno, line in enumerate(bounded_lines(stream), start=1):
                    if lineno > skip:
                        yield self._parse_line(f"{path}:{lineno}", line, day)
            except (EOFError, OSError) as exc:
                raise SourceError(
                    f"{path}: unreadable ({exc}); entries before it were kept"
                ) from exc

    @staticmethod
    def _parse_line(where: str, line: bytes | None, day: date | None) -> Item:
        if line is None:
            return Rejected(where, f"line longer than {MAX_LINE_BYTES:,} bytes")
        if not line.strip():
            return Skipped()
        return guarded(where, lambda: _parse_object(json_value(line), day))

    def _json_document(
        self, path: Path, body: bytes, day: date | None, skip: int
    ) -> Iterator[Item]:
        try:
            data = json_value(body)
        except RecordError as exc:
            raise SourceError(f"{path}: {exc}") from exc
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise SourceError(f"{path}: expected a JSON list of daily-paper entries")
        for index, entry in enumerate(data[skip:], start=skip):
            yield guarded(f"{path}: entry {index}", lambda entry=entry: parse_api_entry(entry, day))


class HfDailyApiSource:
    """The live API, one request (or a few pages) per date. Cursor: dates finished."""

    kind = "huggingface"

    def __init__(self, base_url: str, days: list[date], client: HttpClient) -> None:
        self.url = base_url.rstrip("/") + "/daily_papers"
        self.days = sorted(set(days))
        self.client = client
        self.job = f"hf-daily-api:{self.url}:{','.join(d.isoformat() for d in self.days)}"

    def progress(self) -> tuple[int, int, str] | None:
        return None

    def items(self, resume_from: str | None) -> Iterator[Item]:
        for index, day in enumerate(self.days):
            if index < int(resume_from or 0):
                continue
            yield from self._day(day)
            yield Checkpoint(str(index + 1))

    def _day(self, day: date) -> Iterator[Item]:
        seen: set[str] = set()
        for page in range(MAX_PAGES_PER_DAY):
            params = {"date": day.isoformat(), "limit": str(PAGE_SIZE), "p": str(page)}
            response = self.client.get(self.url, params)
            try:
                data = json_value(response.content)
            except RecordError as exc:
                raise SourceError(f"GET {response.url}: answer is not JSON ({exc})") from exc
            if not isinstance(data, list):
                raise SourceError(f"GET {response.url}: expected a JSON list")
            fresh = 0
            for index, entry in enumerate(data):
                paper = entry.get("paper") if isinstance(entry, dict) else None
                paper_id = paper.get("id") if isinstance(paper, dict) else None
                # Only text ids can repeat; a list or an object as id is not hashable,
                # and such an entry is rejected below like any malformed one.
                if isinstance(paper_id, str):
                    if paper_id in seen:
                        continue
                    seen.add(paper_id)
                fresh += 1
                where = f"{day} entry {page * PAGE_SIZE + index}"
                yield guarded(where, lambda entry=entry: parse_api_entry(entry, day))
            # A short page is the last; a page of repeats means the server ignores `p`.
            if len(data) < PAGE_SIZE or fresh == 0:
                return
