"""What sources produce and the store consumes: validated, normalized paper records.

Every source parses its own format into these dataclasses; nothing downstream sees raw
feed data. `validate_paper` is the one gate: a record that fails it is rejected with a
message, the rest of the input goes on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from paperfeed.errors import RecordError

# New-style ids (0704.0001 onwards: 4 digits to 2014, 5 since 2015) and old-style
# archive ids (hep-th/9901001, math.GT/0309136), each with an optional version. re.ASCII:
# without it \d matches any script's digits ("٢٥٠١.٠١٢٣٤") and, with re.I, [a-z] matches
# the Kelvin sign and the long s, and such lookalike ids would be stored as distinct papers.
_NEW_ID = r"(?P<new>\d{4}\.\d{4,5})"
_OLD_ID = r"(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
_ID_RE = re.compile(rf"^(?:arxiv:)?(?:{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?$", re.I | re.ASCII)
_URL_RE = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<rest>[^?#]+?)(?:\.pdf)?/?"
    r"(?:[?#].*)?$",
    re.I | re.ASCII,
)
_VERSION_LABEL = re.compile(r"v(\d+)", re.ASCII)
# Longer than any id or abs/PDF URL with a query string: not worth matching.
MAX_ID_TEXT_CHARS = 300

MAX_TITLE_CHARS = 2_000
MAX_ABSTRACT_CHARS = 20_000
MAX_AUTHORS = 5_000
# Bounds on every other field, well above what arXiv and Hugging Face hold (the longest
# author name in the shared snapshots is 512 characters; categories include MSC class
# lists of 150), so that one record cannot carry megabytes into every page and index.
MAX_NAME_CHARS = 1_000  # an author, a submitter, an organization
MAX_FIELD_CHARS = 4_000  # comment, journal reference, DOI, license, repository, URL
MAX_CATEGORIES = 100
MAX_KEYWORDS = 50  # Hugging Face's AI keywords of a paper
MAX_CATEGORY_CHARS = 256
# No arXiv paper has more than a few dozen versions.
MAX_VERSION = 1_000
# Counts are stored in INTEGER columns (32-bit on PostgreSQL): a bigger number would fail
# the whole batch's transaction on one engine and not the other.
MAX_COUNT = 2**31 - 1
# Dates outside these years are corrupt (arXiv began in 1991); the bound also keeps every
# date far from datetime's own limits (years 1 and 9999), where time zone conversion and
# day/week arithmetic downstream would overflow.
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(2999, 12, 31, 23, 59, 59)

# What a text column cannot hold: PostgreSQL refuses NUL in text, and no encoder accepts a
# lone surrogate (JSON's "\ud800" decodes to one). One rule for every engine and every
# edge: ingest (clean_text), web forms and paths (web/edge.py) and CLI arguments.
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")


def forbidden_text_reason(text: str) -> str | None:
    """Why `text` cannot be stored (NUL, lone surrogates), or None when it can."""
    if text.isascii():  # most text, and it can hold no surrogate (ingest checks every field)
        return "contains a NUL character" if "\x00" in text else None
    found = _FORBIDDEN_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return f"contains a lone surrogate (U+{ord(found.group()):04X}), which is not text"


def identity_key(text: str) -> str:
    """The one folding rule for names and addresses that identify someone (usernames,
    account and subscription emails): NFKC, then full Unicode case folding, then NFKC again
    (folding can un-normalize). 'ÉMILE' and 'émile' (composed or not), 'STRASSE' and
    'straße' give one key. Computed here, never by the database: SQLite's lower() folds
    only ASCII and PostgreSQL's depends on its locale."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text.strip()).casefold())


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Return (id without version, version or None) for an id or arXiv URL, else None.

    >>> parse_arxiv_id("https://arxiv.org/pdf/2501.01234v2.pdf")
    ('2501.01234', 2)
    """
    candidate = text.strip()
    if len(candidate) > MAX_ID_TEXT_CHARS:
        return None
    url = _URL_RE.match(candidate)
    if url:
        candidate = url.group("rest")
    match = _ID_RE.match(candidate)
    if not match:
        return None
    if match.group("new"):
        arxiv_id = match.group("new")
    else:
        archive, number = match.group("old").split("/")
        # Archive names are lower case; the subject class after the dot is upper case.
        head, _, subject = archive.partition(".")
        arxiv_id = f"{head.lower()}{'.' + subject.upper() if subject else ''}/{number}"
    version = match.group("version")
    return arxiv_id, int(version) if version else None


def has_forbidden_chars(text: str) -> bool:
    """True when `text` holds a character no text column accepts on both engines (NUL, a
    lone surrogate). The web edge and the CLI refuse such input with this one rule."""
    return forbidden_text_reason(text) is not None


def clean_text(value: object) -> str:
    """Collapse runs of whitespace (feeds wrap titles over lines) and strip; refuse
    non-text and text no store can hold."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"expected text, got {type(value).__name__}")
    reason = forbidden_text_reason(value)
    if reason:
        raise RecordError(f"text {reason}")
    return " ".join(value.split())


def optional_text(value: object) -> str | None:
    text = clean_text(value)
    return text or None


def version_of_label(label: object) -> int | None:
    """The number in a version label ('v2'), or None for anything else."""
    match = _VERSION_LABEL.fullmatch(label) if isinstance(label, str) else None
    if match is None:
        return None
    if len(match.group(1)) > len(str(MAX_VERSION)):  # int() of 5,000 digits is an error
        raise RecordError(f"bad version label {label!r:.40}")
    return int(match.group(1))


def to_utc_naive(moment: datetime) -> datetime:
    """The store keeps naive UTC datetimes, the same on SQLite and PostgreSQL; a moment
    outside EARLIEST..LATEST is a RecordError."""
    try:
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:  # year 1 at +05:00 is before datetime.min in UTC
        raise RecordError(f"timestamp out of range: {moment.isoformat()}") from exc
    if not EARLIEST <= moment <= LATEST:
        raise RecordError(f"timestamp out of range: {moment.isoformat()}")
    return moment.replace(microsecond=0)


def utcnow() -> datetime:
    """Now, naive UTC, to the microsecond: indexes compare it to find what changed."""
    return datetime.now(UTC).replace(tzinfo=None)


def day_number(value: date | datetime | None) -> int:
    """A day as YYYYMMDD, 0 for none: the form the keyword index and the vector backends
    filter dates in, so that `since:` and `until:` mean the same in all of them."""
    return int(value.strftime("%Y%m%d")) if value else 0


def paper_day(announced_date: date | None, published_at: datetime | None) -> int:
    """The day a paper is filtered by (day_number): announced, else first published."""
    return day_number(announced_date or published_at)


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 (with Z or offset) or a bare date; None for empty input."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return to_utc_naive(value)
    if not isinstance(value, str):
        raise RecordError(f"bad timestamp {value!r:.80}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise RecordError(f"bad timestamp {value!r:.80}") from exc
    return to_utc_naive(moment)


def parse_date(value: object) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip()[:10])
        except ValueError as exc:
            raise RecordError(f"bad date {value!r:.80}") from exc
    else:
        raise RecordError(f"bad date {value!r:.80}")
    if not EARLIEST.date() <= day <= LATEST.date():
        raise RecordError(f"date out of range: {day.isoformat()}")
    return day


@dataclass
class PaperRecord:
    """arXiv metadata for one paper, as one source saw it. Empty fields mean 'unknown'."""

    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    version: int | None = None
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    announced_date: date | None = None


@dataclass
class DailyRecord:
    """One paper featured on one day's community list (Hugging Face daily papers)."""

    paper: PaperRecord
    day: date
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    upvotes: int = 0
    num_comments: int = 0
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    organization: str | None = None
    # Hugging Face's machine-written summary and keywords, shown as theirs.
    ai_summary: str | None = None
    ai_keywords: list[str] | None = None


def _bounded_text(where: str, name: str, value: object, max_chars: int) -> str:
    """`value` cleaned, or a RecordError that names the record and the field."""
    try:
        text = clean_text(value)
    except RecordError as exc:
        raise RecordError(f"{where}: {name}: {exc}") from None
    if len(text) > max_chars:
        raise RecordError(f"{where}: {name} longer than {max_chars:,} characters")
    return text


def _optional_text(where: str, name: str, value: object, max_chars: int) -> str | None:
    return _bounded_text(where, name, value, max_chars) or None


def _moment(where: str, name: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise RecordError(f"{where}: {name} is not a timestamp")
    try:
        return to_utc_naive(value)
    except RecordError as exc:
        raise RecordError(f"{where}: {name}: {exc}") from None


def _day(where: str, name: str, value: object) -> date | None:
    if value is not None and not isinstance(value, date):
        raise RecordError(f"{where}: {name} is not a date")
    try:
        return parse_date(value)
    except RecordError as exc:
        raise RecordError(f"{where}: {name}: {exc}") from None


def _text_list(where: str, name: str, value: object, most: int, max_chars: int) -> list[str]:
    if not isinstance(value, list) or len(value) > most:
        raise RecordError(f"{where}: {name} must be a list of at most {most:,} texts")
    cleaned = (_bounded_text(where, name, item, max_chars) for item in value)
    return [text for text in cleaned if text]


def _count(where: str, name: str, value: object) -> int | None:
    """A count from the source: a plain int in 0..MAX_COUNT (JSON's true is not one)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise RecordError(f"{where}: bad {name} {value!r:.40}")
    return value


def validate_paper(record: PaperRecord) -> PaperRecord:
    """Normalize a record in place and return it, or raise RecordError saying what is wrong.

    Every field is typed and bounded here, the one gate all sources pass, so that nothing
    downstream (the store's column types, time zone arithmetic, the indexes) can fail on a
    value a source let through."""
    raw_id = record.arxiv_id
    parsed = parse_arxiv_id(raw_id) if isinstance(raw_id, str) else None
    if parsed is None:
        raise RecordError(f"not an arXiv id: {raw_id!r:.80}")
    record.arxiv_id, id_version = parsed
    where = record.arxiv_id
    if record.version is None:
        record.version = id_version
    version = record.version
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION
    ):
        raise RecordError(f"{where}: bad version {version!r:.40}")
    record.title = _bounded_text(where, "title", record.title, MAX_TITLE_CHARS)
    if not record.title:
        raise RecordError(f"{where}: empty title")
    record.abstract = _bounded_text(where, "abstract", record.abstract, MAX_ABSTRACT_CHARS)
    record.authors = _text_list(where, "authors", record.authors, MAX_AUTHORS, MAX_NAME_CHARS)
    categories = _text_list(
        where, "categories", record.categories, MAX_CATEGORIES, MAX_CATEGORY_CHARS
    )
    record.categories = list(dict.fromkeys(categories))
    primary = _bounded_text(where, "primary_category", record.primary_category, MAX_CATEGORY_CHARS)
    record.primary_category = primary or (record.categories[0] if record.categories else None)
    if record.primary_category and record.primary_category not in record.categories:
        record.categories.insert(0, record.primary_category)
    for name in ("comment", "journal_ref", "doi", "license"):
        setattr(record, name, _optional_text(where, name, getattr(record, name), MAX_FIELD_CHARS))
    record.published_at = _moment(where, "published_at", record.published_at)
    record.updated_at = _moment(where, "updated_at", record.updated_at)
    record.announced_date = _day(where, "announced_date", record.announced_date)
    return record


def validate_daily(record: DailyRecord) -> DailyRecord:
    validate_paper(record.paper)
    where = record.paper.arxiv_id
    day = _day(where, "day", record.day)
    if day is None:
        raise RecordError(f"{where}: no day")
    record.day = day
    record.submitted_at = _moment(where, "submitted_at", record.submitted_at)
    record.upvotes = _count(where, "upvotes", record.upvotes) or 0
    record.num_comments = _count(where, "num_comments", record.num_comments) or 0
    record.github_stars = _count(where, "github_stars", record.github_stars)
    record.submitted_by = _optional_text(where, "submitted_by", record.submitted_by, MAX_NAME_CHARS)
    record.organization = _optional_text(where, "organization", record.organization, MAX_NAME_CHARS)
    record.github_repo = _optional_text(where, "github_repo", record.github_repo, MAX_FIELD_CHARS)
    record.project_page = _optional_text(
        where, "project_page", record.project_page, MAX_FIELD_CHARS
    )
    record.ai_summary = _optional_text(where, "ai_summary", record.ai_summary, MAX_FIELD_CHARS)
    keywords = record.ai_keywords
    if keywords is not None:
        keywords = _text_list(where, "ai_keywords", keywords, MAX_KEYWORDS, MAX_CATEGORY_CHARS)
    record.ai_keywords = list(dict.fromkeys(keywords)) if keywords else None
    return record
