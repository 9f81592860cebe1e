"""BibTeX for papers, safe for any title: LaTeX commands kept, the rest escaped."""

from __future__ import annotations

import re
import unicodedata

from paperfeed.services.feed import PaperView

_SPECIAL = re.compile(r"(?<!\\)([&%#])")
_LONE_BACKSLASH = re.compile(r"\\(?![A-Za-z&%#$_{}])")
_BRACE = re.compile(r"\\?([{}])")
_BRACE_NAMES = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}


def _balanced(text: str) -> bool:
    """BibTeX counts every brace, escaped or not, to find where a field ends."""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def bibtex_value(text: str) -> str:
    """Text for a braced BibTeX field: LaTeX commands (\\alpha, \\textbf) and balanced
    groups stay; unbalanced braces, lone backslashes and & % # are escaped, so that no
    title can end the field early or break the entry."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cc" or c in "\t\n")
    if not _balanced(text):
        # Spelled with braces that pair up only with each other.
        text = _BRACE.sub(lambda m: _BRACE_NAMES[m.group(1)], text)
    text = _LONE_BACKSLASH.sub(r"\\textbackslash{}", text)
    text = _SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def year_of(paper: PaperView) -> str:
    if paper.published_at:
        return str(paper.published_at.year)
    if paper.announced_date:
        return str(paper.announced_date.year)
    match = re.match(r"(\d{2})\d{2}\.", paper.arxiv_id)
    return f"20{match.group(1)}" if match else ""


def citation_key(paper: PaperView) -> str:
    """lastname + year + first long title word: vaswani2017attention."""
    surname = (
        re.findall(r"[A-Za-z]+", _ascii(paper.authors[0].split()[-1])) if paper.authors else []
    )
    title_words = [w for w in re.findall(r"[A-Za-z]+", _ascii(paper.title)) if len(w) > 3]
    name = surname[0].lower() if surname else "anon"
    return f"{name}{year_of(paper)}{title_words[0].lower() if title_words else 'paper'}"


def bibtex(paper: PaperView) -> str:
    fields = [
        ("title", bibtex_value(paper.title)),
        ("author", " and ".join(bibtex_value(a) for a in paper.authors) or "Anonymous"),
        ("year", year_of(paper)),
        ("eprint", paper.arxiv_id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", paper.primary_category or ""),
        ("url", paper.abs_url),
    ]
    if paper.doi:
        fields.append(("doi", bibtex_value(paper.doi)))
    if paper.journal_ref:
        fields.append(("journal", bibtex_value(paper.journal_ref)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@misc{{{citation_key(paper)},\n{body}\n}}\n"


def bibtex_many(found: list[PaperView]) -> str:
    """Several entries; a repeated key gets a number: smith2025deep, smith2025deep2."""
    seen: dict[str, int] = {}
    entries = []
    for paper in found:
        entry, key = bibtex(paper), citation_key(paper)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            entry = entry.replace(f"@misc{{{key},", f"@misc{{{key}{seen[key]},", 1)
        entries.append(entry)
    return "\n".join(entries)
