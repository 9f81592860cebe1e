"""Importing a reference manager's export (BibTeX, RIS, CSL-JSON) into a collection.

Each entry is recognized as a paper of the store by, in order: its arXiv eprint (or an
"arXiv:id" mention in its note or number), an arXiv URL, a DOI (arXiv's own
10.48550/arXiv.* DOIs, or the journal DOI a paper here carries), else its title compared
without case, accents or punctuation. Papers found go into the chosen collection (a new
one by default), which makes them "For you" signals like any collection; the rest are
reported with their place in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from paperfeed.records import parse_arxiv_id
from paperfeed.services import collections as collection_service
from paperfeed.services.references import (
    Format,
    ImportRefused,
    Reference,
    arxiv_id_of_doi,
    normalized_title,
    parse_references,
)
from paperfeed.store.schema import papers


@dataclass
class ImportReport:
    collection_id: int
    format: Format
    added: list[str] = field(default_factory=list)  # arXiv ids, in file order
    already: list[str] = field(default_factory=list)  # in the collection before
    not_found: list[tuple[str, str]] = field(default_factory=list)  # (place, what it says)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (place, why)

    def to_json(self) -> dict[str, object]:
        return {
            "collection_id": self.collection_id,
            "format": self.format,
            "added": self.added,
            "already_there": self.already,
            "not_found": [{"place": p, "entry": what} for p, what in self.not_found],
            "refused": [{"place": p, "reason": why} for p, why in self.refused],
        }


def _arxiv_id(reference: Reference) -> str | None:
    """The arXiv id the entry names outright (eprint, URL, arXiv DOI), if any."""
    candidates = [reference.eprint, *reference.urls]
    if reference.doi:
        candidates.append(arxiv_id_of_doi(reference.doi))
    for text in candidates:
        parsed = parse_arxiv_id(text) if text else None
        if parsed:
            return parsed[0]
    return None


def _describe(reference: Reference) -> str:
    said = reference.title or reference.doi or (reference.urls[0] if reference.urls else "")
    return said[:200] or "(no title, DOI or URL)"


def match_references(conn: sa.Connection, references: list[Reference]) -> list[str | None]:
    """The arXiv id of the store's paper each reference names, or None."""
    named = [_arxiv_id(r) for r in references]
    known = set(
        conn.execute(
            sa.select(papers.c.arxiv_id).where(papers.c.arxiv_id.in_({n for n in named if n}))
        ).scalars()
    )
    found: list[str | None] = [n if n in known else None for n in named]
    dois = {
        r.doi.strip().lower(): i
        for i, r in enumerate(references)
        if found[i] is None and r.doi and len(r.doi) < 300
    }
    if dois:
        rows = conn.execute(
            sa.select(sa.func.lower(papers.c.doi), papers.c.arxiv_id).where(
                sa.func.lower(papers.c.doi).in_(list(dois))
            )
        )
        for doi, arxiv_id in rows:
            found[dois[doi]] = arxiv_id
    titles: dict[str, list[int]] = {}
    for i, reference in enumerate(references):
        if found[i] is None and reference.title:
            titles.setdefault(normalized_title(reference.title), []).append(i)
    if titles:
        # One pass over the store's titles: normalization is Unicode-aware, which no
        # engine's lower() is alike, so it runs here.
        for arxiv_id, title in conn.execute(sa.select(papers.c.arxiv_id, papers.c.title)):
            for i in titles.get(normalized_title(title), []):
                found[i] = found[i] or arxiv_id
    return found


def import_references(
    conn: sa.Connection,
    user_id: int,
    data: bytes,
    collection_id: int | None = None,
    collection_name: str = "",
    fmt: Format | None = None,
) -> ImportReport:
    """Reads `data` and puts the papers it names into the reader's collection
    `collection_id`, or a new private one called `collection_name` (default: "Imported
    (format)"). ImportRefused when the file as a whole is refused."""
    parsed = parse_references(data, fmt)
    found = match_references(conn, parsed.references)
    if not any(found):
        raise ImportRefused(
            f"none of the {len(parsed.references)} entries is a paper known here"
            + (
                f" ({len(parsed.refused)} refused: {parsed.refused[0][1]})"
                if parsed.refused
                else ""
            )
        )
    if collection_id is None:
        name = collection_name.strip() or f"Imported ({parsed.format})"
        collection_id = collection_service.create_collection(
            conn, user_id, name, "Imported from a reference manager's file"
        )
    report = ImportReport(collection_id, parsed.format, refused=parsed.refused)
    for reference, arxiv_id in zip(parsed.references, found, strict=True):
        if arxiv_id is None:
            report.not_found.append((reference.place, _describe(reference)))
        elif arxiv_id in report.added or arxiv_id in report.already:
            continue
        elif collection_service.add_paper(conn, collection_id, user_id, arxiv_id):
            report.added.append(arxiv_id)
        else:
            report.already.append(arxiv_id)
    return report
