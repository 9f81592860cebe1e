"""arXiv OAI-PMH (ListRecords) in the `arXiv` and `arXivRaw` metadata formats.

Follows resumptionToken page by page; the cursor is the token for the next page. The
server's flow control (503 with Retry-After) is honoured by the HTTP client. A token that
the server no longer accepts (they expire) restarts the harvest from the beginning, which
is safe because ingest is idempotent.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator
from datetime import date
from xml.etree.ElementTree import Element

from paperfeed.errors import RecordError, SourceError
from paperfeed.records import (
    PaperRecord,
    parse_date,
    parse_datetime,
    to_utc_naive,
    validate_paper,
    version_of_label,
)
from paperfeed.sources.base import Checkpoint, Item, Rejected, Skipped, guarded
from paperfeed.sources.http import HttpClient
from paperfeed.sources.xml import parse_xml, text_of

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
FORMATS = {"arXiv": "http://arxiv.org/OAI/arXiv/", "arXivRaw": "http://arxiv.org/OAI/arXivRaw/"}
NS = {"oai": OAI_NS, **FORMATS}
MAX_PAGES = 100_000  # a guard against a server that hands out tokens forever


def _number(text: str | None) -> int | None:
    """A count the server states (completeListSize, cursor): ASCII digits only, since
    '²'.isdigit() is true and int('²') fails; None for anything else."""
    if text and len(text) <= 18 and text.isascii() and text.isdigit():
        return int(text)
    return None


def _split_authors(text: str) -> list[str]:
    """arXivRaw's author string: 'A. One, B. Two and C. Three'."""
    return [n.strip() for n in text.replace(" and ", ", ").split(",") if n.strip()]


def _rfc2822(value: str) -> object:
    try:
        return to_utc_naive(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError) as exc:
        raise RecordError(f"bad version date {value!r}") from exc


def parse_arxiv_format(meta: Element) -> PaperRecord:
    ns = {"a": FORMATS["arXiv"]}
    authors = []
    for author in meta.findall("a:authors/a:author", ns):
        parts = (text_of(author, f"a:{p}", ns) for p in ("forenames", "keyname", "suffix"))
        authors.append(" ".join(p.strip() for p in parts if p and p.strip()))
    categories = (text_of(meta, "a:categories", ns) or "").split()
    return PaperRecord(
        arxiv_id=text_of(meta, "a:id", ns) or "",
        title=text_of(meta, "a:title", ns) or "",
        abstract=text_of(meta, "a:abstract", ns) or "",
        authors=authors,
        categories=categories,
        primary_category=categories[0] if categories else None,
        comment=text_of(meta, "a:comments", ns),
        journal_ref=text_of(meta, "a:journal-ref", ns),
        doi=text_of(meta, "a:doi", ns),
        license=text_of(meta, "a:license", ns),
        published_at=parse_datetime(text_of(meta, "a:created", ns)),
        updated_at=parse_datetime(text_of(meta, "a:updated", ns)),
    )


def parse_arxiv_raw_format(meta: Element) -> PaperRecord:
    ns = {"r": FORMATS["arXivRaw"]}
    versions = meta.findall("r:version", ns)
    dates = [_rfc2822(text_of(v, "r:date", ns) or "") for v in versions]
    last_label = versions[-1].get("version", "") if versions else ""
    categories = (text_of(meta, "r:categories", ns) or "").split()
    return PaperRecord(
        arxiv_id=text_of(meta, "r:id", ns) or "",
        version=version_of_label(last_label) or len(versions) or None,
        title=text_of(meta, "r:title", ns) or "",
        abstract=text_of(meta, "r:abstract", ns) or "",
        authors=_split_authors(text_of(meta, "r:authors", ns) or ""),
        categories=categories,
        primary_category=categories[0] if categories else None,
        comment=text_of(meta, "r:comments", ns),
        journal_ref=text_of(meta, "r:journal-ref", ns),
        doi=text_of(meta, "r:doi", ns),
        license=text_of(meta, "r:license", ns),
        published_at=dates[0] if dates else None,
        updated_at=dates[-1] if dates else None,
    )


PARSERS = {"arXiv": parse_arxiv_format, "arXivRaw": parse_arxiv_raw_format}


class OaiSource:
    kind = "oai"

    def __init__(
        self,
        base_url: str,
        set_spec: str,
        since: date | None,
        until: date | None,
        metadata_prefix: str,
        client: HttpClient,
    ) -> None:
        if metadata_prefix not in PARSERS:
            raise SourceError(f"unknown metadata format {metadata_prefix!r}: use arXiv or arXivRaw")
        self.url = base_url
        self.prefix = metadata_prefix
        self.first_params = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
        if set_spec:
            self.first_params["set"] = set_spec
        if since:
            self.first_params["from"] = since.isoformat()
        if until:
            self.first_params["until"] = until.isoformat()
        self.client = client
        self.job = f"oai:{base_url}:{sorted(self.first_params.items())}"
        self._progress: tuple[int, int, str] | None = None

    def progress(self) -> tuple[int, int, str] | None:
        return self._progress

    def items(self, resume_from: str | None) -> Iterator[Item]:
        token = resume_from
        restarted = False
        for _ in range(MAX_PAGES):
            params = (
                {"verb": "ListRecords", "resumptionToken": token} if token else self.first_params
            )
            root = parse_xml(self.client.get(self.url, params).content, "OAI-PMH answer")
            error = root.find("oai:error", NS)
            if error is not None:
                code = error.get("code", "")
                if code == "noRecordsMatch":
                    return
                if code == "badResumptionToken" and token and not restarted:
                    token, restarted = None, True  # expired: harvest again from the start
                    continue
                raise SourceError(f"OAI-PMH error {code}: {(error.text or '').strip()}")
            listing = root.find("oai:ListRecords", NS)
            if listing is None:
                raise SourceError("OAI-PMH answer has neither ListRecords nor error")
            yield from self._records(listing)
            token_element = listing.find("oai:resumptionToken", NS)
            token = (token_element.text or "").strip() if token_element is not None else ""
            if token_element is not None:
                size = _number(token_element.get("completeListSize"))
                seen = _number(token_element.get("cursor")) or 0
                if size is not None:
                    self._progress = (
                        seen + len(listing.findall("oai:record", NS)),
                        size,
                        "records",
                    )
            if not token:
                return
            yield Checkpoint(token)
        raise SourceError(f"OAI-PMH server sent more than {MAX_PAGES} pages; stopped")

    def _records(self, listing: Element) -> Iterator[Item]:
        parser = PARSERS[self.prefix]
        for record in listing.findall("oai:record", NS):
            header = record.find("oai:header", NS)
            identifier = (text_of(header, "oai:identifier", NS) or "record")[:200]
            if header is not None and header.get("status") == "deleted":
                yield Skipped()
                continue
            meta = record.find(f"oai:metadata/{self.prefix}:{self.prefix}", NS)
            if meta is None:
                yield Rejected(identifier, f"no {self.prefix} metadata")
                continue
            yield guarded(identifier, lambda meta=meta, header=header: _paper(parser, meta, header))


def _paper(parser: Callable[[Element], PaperRecord], meta: Element, header: Element) -> PaperRecord:
    paper = parser(meta)
    if paper.updated_at is None or paper.version == 1:
        # A first version: arXiv stamps it on the day it announces it.
        paper.announced_date = parse_date(text_of(header, "oai:datestamp", NS))
    return validate_paper(paper)
