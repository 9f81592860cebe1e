"""The search box's language, parsed into a structure no engine can choke on.

    one-step diffusion "chain of thought" -survey author:wei cat:cs.CL since:2026-01
    until:2026-06-30 has:code

Free words and "quoted phrases" are matched; -word and -"phrase" exclude; author:, cat:,
since:, until: and has:code filter. An arXiv id or abs/PDF URL alone goes straight to the
paper. Anything else (unbalanced quotes, FTS operators such as NEAR( or *, SQL) is reduced
to plain words, so user input never reaches an engine's own query syntax.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

from paperfeed.authors import natural_order
from paperfeed.errors import PaperfeedError
from paperfeed.records import parse_arxiv_id

MAX_QUERY_CHARS = 2_000
MAX_TERMS = 64
# A word: letters and digits, with inner dots or hyphens (cs.CL, one-step, gpt-4.5).
_WORD = re.compile(r"[^\W_]+(?:[.\-'][^\W_]+)*")
_TOKEN = re.compile(r'(-?)(?:(\w+):)?(?:"([^"]*)"?|(\S+))')
# ASCII digits of bounded length: int() of other scripts' digits works, but a 20-digit
# year overflows date() with OverflowError, which is not a ValueError.
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")
# Words too common to say whether a document matches a query, or to make a phrase.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "this",
        "to",
        "using",
        "via",
        "was",
        "we",
        "what",
        "when",
        "which",
        "who",
        "why",
        "with",
    ]
)


class QueryError(PaperfeedError):
    """A query that cannot be run as written (a 4xx on the web, exit 1 on the CLI)."""


@dataclass
class ParsedQuery:
    text: str
    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    excluded_words: list[str] = field(default_factory=list)
    excluded_phrases: list[list[str]] = field(default_factory=list)
    authors: list[list[str]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    has_code: bool = False
    arxiv_id: str | None = None

    @property
    def has_filters(self) -> bool:
        return bool(self.authors or self.categories or self.since or self.until or self.has_code)

    @property
    def terms(self) -> list[str]:
        """The words to match, phrases included."""
        return [*self.words, *(word for phrase in self.phrases for word in phrase)]

    @property
    def semantic_text(self) -> str:
        """What the embedding model reads: the words and phrases, no operators."""
        return " ".join(self.terms)


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


def author_words(name: str) -> list[str]:
    """A name as `author:` holds it, for the one author matcher (paperfeed/authors.py)."""
    return words_of(natural_order(name))


def _parse_date(value: str, end: bool) -> date:
    """YYYY, YYYY-MM or YYYY-MM-DD; `end` picks the last day of a year or month."""
    match = _DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        year = int(match.group(1))
        month, day = (int(part) if part else None for part in match.groups()[1:])
        if month is None:
            return date(year, 12, 31) if end else date(year, 1, 1)
        if day is None:
            last = calendar.monthrange(year, month)[1]
            return date(year, month, last if end else 1)
        return date(year, month, day)
    except ValueError as exc:
        raise QueryError(f"not a date: {value!r:.40} (use YYYY, YYYY-MM or YYYY-MM-DD)") from exc


def parse_query(text: str) -> ParsedQuery:
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query longer than {MAX_QUERY_CHARS} characters")
    query = ParsedQuery(text=text.strip())
    found = parse_arxiv_id(query.text)
    if found is not None:
        query.arxiv_id = found[0]
        return query
    for negate, key, quoted, bare in _TOKEN.findall(query.text):
        value = quoted if quoted or bare == "" else bare
        key = key.lower()
        if key == "author":  # "Family, Given" as Given Family (paperfeed/authors.py)
            if author_words(value):
                query.authors.append(author_words(value))
        elif key in ("cat", "category"):
            query.categories += [c for c in value.split(",") if re.fullmatch(r"[\w.\-]+", c)]
        elif key == "since":
            query.since = _parse_date(value, end=False)
        elif key == "until":
            query.until = _parse_date(value, end=True)
        elif key == "has" and value.lower() == "code":
            query.has_code = True
        else:
            if key:  # an unknown field: keep its words as plain text
                value = f"{key} {value}"
            words = words_of(value)
            is_phrase = bool(quoted) and len(words) > 1
            if negate:
                if is_phrase:
                    query.excluded_phrases.append(words)
                else:
                    query.excluded_words += words
            elif is_phrase:
                query.phrases.append(words)
            else:
                query.words += words
    if query.since and query.until and query.since > query.until:
        raise QueryError(f"since:{query.since} is after until:{query.until}")
    query.words = query.words[:MAX_TERMS]
    return query


@dataclass
class Filters:
    """The filters the search page offers as form controls, as written in a query."""

    category: str = ""
    since: str = ""
    until: str = ""
    has_code: bool = False

    def as_text(self) -> str:
        parts = [f"cat:{self.category}" if self.category else ""]
        parts += [
            f"since:{self.since}" if self.since else "",
            f"until:{self.until}" if self.until else "",
        ]
        parts.append("has:code" if self.has_code else "")
        return " ".join(p for p in parts if p)


_FILTER_KEYS = {"cat", "category", "since", "until", "has"}


def split_filters(text: str) -> tuple[str, Filters]:
    """The query without its category, date and has:code filters, and those filters (the
    last of each kind): what the search page shows in its text box and in its controls."""
    filters, rest, last = Filters(), [], 0
    for match in _TOKEN.finditer(text):
        negate, key, quoted, bare = match.groups()
        key = (key or "").lower()
        if negate or key not in _FILTER_KEYS:
            continue
        value = quoted if quoted is not None else bare
        if key in ("cat", "category"):
            filters.category = value
        elif key == "since":
            filters.since = value
        elif key == "until":
            filters.until = value
        elif value.lower() == "code":
            filters.has_code = True
        else:
            continue  # has:other is plain text
        rest.append(text[last : match.start()])
        last = match.end()
    rest.append(text[last:])
    return " ".join("".join(rest).split()), filters


def compose(text: str, filters: Filters) -> str:
    """The query the search page's form stands for: its text, then its controls' filters
    in the query language (the text's own filters of the same kinds give way)."""
    rest, _ = split_filters(text)
    return " ".join(p for p in (rest, filters.as_text()) if p)
