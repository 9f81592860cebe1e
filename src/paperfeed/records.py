"""What sources produce and the store consumes: validated, normalized paper records.

Every source parses its own format into these dataclasses; nothing downstream sees raw
feed data. `validate_paper` is the one gate: a record that fails it is rejected with a
message, the rest of the input goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from paperfeed.errors import RecordError

# New-style ids (0704.0001 onwards: 4 digits to 2014, 5 since 2015) and old-style
# archive ids (hep-th/9901001, math.GT/0309136), each with an optional version.
_NEW_ID = r"(?P<new>\d{4}\.\d{4,5})"
_OLD_ID = r"(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
_ID_RE = re.compile(rf"^(?:arxiv:)?(?:{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?$", re.I)
_URL_RE = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<rest>[^?#]+?)(?:\.pdf)?/?"
    r"(?:[?#].*)?$",
    re.I,
)

MAX_TITLE_CHARS = 2_000
MAX_ABSTRACT_CHARS = 20_000
MAX_AUTHORS = 5_000


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Return (id without version, version or None) for an id or arXiv URL, else None.

    >>> parse_arxiv_id("https://arxiv.org/pdf/2501.01234v2.pdf")
    ('2501.01234', 2)
    """
    candidate = text.strip()
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


# What a text column cannot hold: PostgreSQL refuses NUL in text, and lone surrogates
# (U+D800-U+DFFF) are not valid UTF-8, so neither engine's driver can encode them.
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


def has_forbidden_chars(text: str) -> bool:
    """True when `text` holds a character no text column accepts on both engines (NUL, a
    lone surrogate). The web edge and the CLI refuse such input with this one rule."""
    return _FORBIDDEN_CHARS.search(text) is not None


def clean_text(value: object) -> str:
    """Collapse runs of whitespace (feeds wrap titles over lines) and strip."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"expected text, got {type(value).__name__}")
    return " ".join(value.split())


def optional_text(value: object) -> str | None:
    text = clean_text(value)
    return text or None


def to_utc_naive(moment: datetime) -> datetime:
    """The store keeps naive UTC datetimes, the same on SQLite and PostgreSQL."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def utcnow() -> datetime:
    """Now, naive UTC, to the microsecond: indexes compare it to find what changed."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 (with Z or offset) or a bare date; None for empty input."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return to_utc_naive(value)
    if not isinstance(value, str):
        raise RecordError(f"bad timestamp {value!r}")
    try:
        return to_utc_naive(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError as exc:
        raise RecordError(f"bad timestamp {value!r}") from exc


def parse_date(value: object) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise RecordError(f"bad date {value!r}")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise RecordError(f"bad date {value!r}") from exc


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


def validate_paper(record: PaperRecord) -> PaperRecord:
    """Normalize a record in place and return it, or raise RecordError saying what is wrong."""
    parsed = parse_arxiv_id(record.arxiv_id or "")
    if parsed is None:
        raise RecordError(f"not an arXiv id: {record.arxiv_id!r}")
    record.arxiv_id, id_version = parsed
    if record.version is None:
        record.version = id_version
    record.title = clean_text(record.title)
    if not record.title:
        raise RecordError(f"{record.arxiv_id}: empty title")
    if len(record.title) > MAX_TITLE_CHARS:
        raise RecordError(f"{record.arxiv_id}: title longer than {MAX_TITLE_CHARS} characters")
    record.abstract = clean_text(record.abstract)
    if len(record.abstract) > MAX_ABSTRACT_CHARS:
        raise RecordError(
            f"{record.arxiv_id}: abstract longer than {MAX_ABSTRACT_CHARS} characters"
        )
    if not isinstance(record.authors, list) or len(record.authors) > MAX_AUTHORS:
        raise RecordError(f"{record.arxiv_id}: authors must be a list of names")
    record.authors = [name for name in (clean_text(a) for a in record.authors) if name]
    if not isinstance(record.categories, list):
        raise RecordError(f"{record.arxiv_id}: categories must be a list")
    record.categories = list(dict.fromkeys(c for c in map(clean_text, record.categories) if c))
    if record.primary_category is None and record.categories:
        record.primary_category = record.categories[0]
    if record.primary_category and record.primary_category not in record.categories:
        record.categories.insert(0, record.primary_category)
    for name in ("comment", "journal_ref", "doi", "license"):
        setattr(record, name, optional_text(getattr(record, name)))
    if record.version is not None and record.version < 1:
        raise RecordError(f"{record.arxiv_id}: bad version {record.version}")
    return record


def validate_daily(record: DailyRecord) -> DailyRecord:
    validate_paper(record.paper)
    for name in ("upvotes", "num_comments"):
        value = getattr(record, name)
        if value is None:
            setattr(record, name, 0)
        elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RecordError(f"{record.paper.arxiv_id}: bad {name} {value!r}")
    if record.github_stars is not None and (
        not isinstance(record.github_stars, int) or record.github_stars < 0
    ):
        raise RecordError(f"{record.paper.arxiv_id}: bad github_stars {record.github_stars!r}")
    record.submitted_by = optional_text(record.submitted_by)
    record.github_repo = optional_text(record.github_repo)
    record.project_page = optional_text(record.project_page)
    record.organization = optional_text(record.organization)
    return record
