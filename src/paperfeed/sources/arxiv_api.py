"""The arXiv Atom API (export.arxiv.org/api/query): recent papers in chosen categories.

Pages of at most 2,000 entries (arXiv's limit), sorted by submission date ascending so that
an offset stays valid while new papers arrive; the cursor is that offset. arXiv sometimes
answers with a short or empty page even when more results exist: short pages are accepted
and the offset advances by what arrived; empty or malformed pages are retried a few times,
then the run stops with its checkpoint saved so that a rerun resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from xml.etree.ElementTree import Element

from paperfeed.errors import RecordError, SourceError
from paperfeed.records import PaperRecord, parse_datetime, validate_paper
from paperfeed.sources.base import Checkpoint, Item, guarded
from paperfeed.sources.http import HttpClient
from paperfeed.sources.xml import parse_xml, text_of

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
    "arxiv": "http://arxiv.org/schemas/atom",
}
MAX_PAGE_SIZE = 2_000
BAD_PAGE_RETRIES = 3


def build_query(categories: list[str], since: date, until: date) -> str:
    cats = " OR ".join(f"cat:{c}" for c in categories)
    window = f"submittedDate:[{since:%Y%m%d}0000 TO {until:%Y%m%d}2359]"
    return f"({cats}) AND {window}"


def parse_entry(entry: Element) -> PaperRecord:
    raw_id = text_of(entry, "atom:id", NS) or ""
    primary = entry.find("arxiv:primary_category", NS)
    return validate_paper(
        PaperRecord(
            arxiv_id=raw_id,  # validate_paper reads id and version out of the abs URL
            title=text_of(entry, "atom:title", NS) or "",
            abstract=text_of(entry, "atom:summary", NS) or "",
            authors=[name.text or "" for name in entry.findall("atom:author/atom:name", NS)],
            categories=[c.get("term", "") for c in entry.findall("atom:category", NS)],
            primary_category=primary.get("term") if primary is not None else None,
            comment=text_of(entry, "arxiv:comment", NS),
            journal_ref=text_of(entry, "arxiv:journal_ref", NS),
            doi=text_of(entry, "arxiv:doi", NS),
            published_at=parse_datetime(text_of(entry, "atom:published", NS)),
            updated_at=parse_datetime(text_of(entry, "atom:updated", NS)),
        )
    )


def parse_feed(body: bytes, what: str) -> tuple[int, list[Element]]:
    """(total results, entries); raises SourceError for malformed XML or an API error."""
    root = parse_xml(body, what)
    if root.tag != f"{{{NS['atom']}}}feed":
        raise SourceError(f"{what}: not an Atom feed (root element {root.tag!r})")
    entries = root.findall("atom:entry", NS)
    for entry in entries:
        if "/api/errors" in (text_of(entry, "atom:id", NS) or ""):
            message = text_of(entry, "atom:summary", NS) or "unknown error"
            raise SourceError(f"arXiv API error: {message}")
    total_text = text_of(root, "opensearch:totalResults", NS)
    try:
        total = int(total_text) if total_text is not None else len(entries)
    except ValueError as exc:
        raise SourceError(f"{what}: bad totalResults {total_text!r}") from exc
    return total, entries


class ArxivApiSource:
    kind = "arxiv"

    def __init__(
        self,
        base_url: str,
        categories: list[str],
        since: date,
        until: date,
        client: HttpClient,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not categories:
            raise SourceError("name at least one --category (for example cs.CL)")
        if since > until:
            raise SourceError(f"--since {since} is after --until {until}")
        self.url = base_url
        self.query = build_query(categories, since, until)
        self.client = client
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.job = f"arxiv:{base_url}:{self.query}"
        self._progress: tuple[int, int, str] | None = None

    def progress(self) -> tuple[int, int, str] | None:
        return self._progress

    def items(self, resume_from: str | None) -> Iterator[Item]:
        start = int(resume_from or 0)
        bad_pages = 0
        while True:
            params = {
                "search_query": self.query,
                "start": str(start),
                "max_results": str(self.page_size),
                "sortBy": "submittedDate",
                "sortOrder": "ascending",
            }
            response = self.client.get(self.url, params)
            what = f"arXiv API page at start={start}"
            try:
                total, entries = parse_feed(response.content, what)
            except SourceError as exc:
                if str(exc).startswith("arXiv API error") or bad_pages >= BAD_PAGE_RETRIES:
                    raise
                bad_pages += 1
                continue
            if not entries:
                if start >= total:
                    return
                bad_pages += 1
                if bad_pages > BAD_PAGE_RETRIES:
                    raise SourceError(
                        f"arXiv returned empty pages at start={start} of {total} results; "
                        "progress is saved, rerun the same command later to resume"
                    )
                continue
            bad_pages = 0
            for index, entry in enumerate(entries, start=start):
                where = (text_of(entry, "atom:id", NS) or f"entry {index}")[:200]
                yield guarded(where, lambda entry=entry: parse_entry(entry))
            start += len(entries)
            self._progress = (min(start, total), total, "papers")
            yield Checkpoint(str(start))
            if start >= total:
                return


class MissingPaper(SourceError):
    """arXiv answered, and has no such paper (not a failure to reach it)."""


def fetch_paper(client: HttpClient, base_url: str, arxiv_id: str) -> PaperRecord:
    """One paper's current metadata by id (`id_list`), as when a reader submits it."""
    response = client.get(base_url, {"id_list": arxiv_id, "max_results": "1"})
    _, entries = parse_feed(response.content, f"arXiv API entry for {arxiv_id}")
    # arXiv answers an unknown id with an empty feed, or with an entry that has no title.
    if not entries or not text_of(entries[0], "atom:title", NS):
        raise MissingPaper(f"arXiv has no paper {arxiv_id}")
    try:
        return parse_entry(entries[0])
    except (RecordError, ValueError, TypeError) as exc:
        raise SourceError(f"arXiv's entry for {arxiv_id} is malformed: {exc}") from exc
