"""Property-based tests: random and mutated input to every parser that reads outside data.

Each parser documents what it raises for bad input, and nothing else may escape:
- query.parse_query: QueryError;
- records.validate_paper / validate_daily: RecordError, and what they return is in bounds;
- the JSON Lines source: nothing (every line becomes a record or a Rejected);
- the arXiv Atom parser: SourceError for a page, RecordError for an entry;
- the OAI-PMH source: SourceError for a page (records become Rejected);
- the Hugging Face answer-file source: SourceError for a file (entries become Rejected);
- services.cite.bibtex_value: nothing, and its output carries only allow-listed commands.

Documents are generated valid from strategies, then mutated (truncated, bytes and
entities injected, numbers made huge, nesting made deep). Derandomized with no example
database, so a run is the same everywhere; each test is bounded to a few seconds.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import bibtexparser
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from paperfeed.errors import RecordError, SourceError
from paperfeed.query import MAX_TERMS, QueryError, parse_query
from paperfeed.records import (
    EARLIEST,
    LATEST,
    MAX_COUNT,
    MAX_VERSION,
    DailyRecord,
    PaperRecord,
    forbidden_text_reason,
    validate_daily,
    validate_paper,
)
from paperfeed.services.cite import SAFE_COMMANDS, bibtex, bibtex_value
from paperfeed.sources.arxiv_api import parse_entry, parse_feed
from paperfeed.sources.base import Rejected
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.http import HttpClient
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.sources.oai import OaiSource
from tests.feeds import (
    atom_feed,
    hf_api_entry,
    oai_arxiv_metadata,
    oai_page,
    oai_raw_metadata,
)
from tests.helpers import FAST_HTTP
from tests.loopback import LoopbackServer, Reply
from tests.test_cite import view

pytestmark = pytest.mark.slow  # a fuzzer: hypothesis draws hundreds of inputs per rule

PROPERTIES = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),  # generous: the machine is shared; typical is ~1 ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Snippets that broke, or could break, something downstream of a parser.
HOSTILE_TEXT = [
    "\x00",
    "\ud800",
    "\udfff",
    "٢٥٠١.٠١٢٣٤",
    "２５０１.０１２３４",
    "2501.01234v99999999999999999999",
    "v" + "9" * 5_000,
    "99999999999999999999999999",
    "-1",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "\\input{/etc/passwd}",
    "^^5c",
    "}{",
    "<script>",
    "&amp;",
    '"',
    "\u202e",
    "\ufeff",
]
text = st.lists(st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE_TEXT)), max_size=4).map(
    "".join
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
valid_ids = st.builds(
    lambda yymm, number, version: f"{yymm:04d}.{number:05d}{f'v{version}' if version else ''}",
    st.integers(701, 2912),
    st.integers(1, 99_999),
    st.integers(0, 40),
)
offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
moments = st.datetimes(
    min_value=datetime(1991, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.none() | offsets
)


def either(valid: st.SearchStrategy, hostile: st.SearchStrategy = json_values):
    """Mostly valid values, sometimes anything at all."""
    return st.one_of(valid, valid, valid, hostile)


# --- the query parser ---

query_tokens = st.one_of(
    st.from_regex(r"[a-z]{1,12}", fullmatch=True),
    st.from_regex(r'-?"[a-z ]{0,30}"?', fullmatch=True),
    st.from_regex(r"-[a-z]{1,10}", fullmatch=True),
    st.from_regex(r"author:[a-z]{1,10}", fullmatch=True),
    st.from_regex(r"cat:[a-z]{2}\.[A-Z]{2}(,[a-z]{2}\.[A-Z]{2})?", fullmatch=True),
    st.builds(
        lambda key, year, rest: f"{key}:{'-'.join(map(str, [year, *rest]))}",
        st.sampled_from(["since", "until"]),
        st.integers(0, 2100) | st.integers(10**18, 10**25),  # past C long: OverflowError
        st.lists(st.integers(0, 13) | st.integers(-5, 10**20), max_size=2),
    ),
    st.just("has:code"),
    valid_ids,
    st.sampled_from([*HOSTILE_TEXT, "NEAR(", "*", "OR 1=1; --", "since:", "until:٢٠٢٥"]),
)
queries = st.one_of(
    st.text(max_size=300),
    st.lists(query_tokens, max_size=20).map(" ".join),
    st.tuples(st.lists(query_tokens, max_size=10).map(" ".join), text).map("".join),
)


@PROPERTIES
@given(queries)
@example("since:99999999999999999999-01")  # date() raised OverflowError, not ValueError
def test_query_parser_raises_only_query_error(query):
    try:
        parsed = parse_query(query)
    except QueryError:
        return
    assert len(parsed.words) <= MAX_TERMS
    if parsed.arxiv_id is not None:
        assert parsed.arxiv_id.isascii()
    if parsed.since and parsed.until:
        assert parsed.since <= parsed.until


# --- record validation ---


@st.composite
def records(
    draw: st.DrawFn,
    build: type,
    valid: dict[str, st.SearchStrategy],
    hostile: dict[str, st.SearchStrategy],
):
    """A valid record with up to two fields replaced by hostile values: with one bad
    value at a time, validation has to look at every field, not stop at the first."""
    fields = {name: draw(strategy) for name, strategy in valid.items()}
    for name in draw(st.lists(st.sampled_from(sorted(hostile)), max_size=2, unique=True)):
        fields[name] = draw(hostile[name])
    return build(**fields)


clean_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=60)
huge_ints = st.sampled_from([2**31, 2**31 - 1, 2**63, 2**64 + 1, 10**30, -1]) | st.integers(
    -(2**70), 2**70
)
# datetime's own ends, where converting an offset to UTC overflows.
extreme_moments = st.datetimes(max_value=datetime(1, 1, 3), timezones=offsets) | st.datetimes(
    min_value=datetime(9999, 12, 29), timezones=offsets
)
PAPER_FIELDS = {
    "arxiv_id": valid_ids,
    "title": clean_text.filter(str.strip),
    "abstract": clean_text,
    "authors": st.lists(clean_text, max_size=4),
    "version": st.none() | st.integers(1, 50),
    "categories": st.lists(st.sampled_from(["cs.CL", "cs.LG", "math.GT"]), max_size=3),
    "primary_category": st.none() | st.just("cs.CL"),
    "comment": st.none() | clean_text,
    "journal_ref": st.none() | clean_text,
    "doi": st.none() | clean_text,
    "license": st.none() | clean_text,
    "published_at": st.none() | moments,
    "updated_at": st.none() | moments,
    "announced_date": st.none() | st.dates(min_value=date(1991, 1, 1), max_value=date(2100, 1, 1)),
}
papers = records(
    PaperRecord,
    valid=PAPER_FIELDS,
    hostile={
        "arxiv_id": text | json_values,
        "title": text | json_values | st.just("t" * 2_001),
        "abstract": text | json_values,
        "authors": st.lists(text | json_values, max_size=3) | json_values,
        "version": huge_ints | json_values,
        "categories": st.lists(text, max_size=3) | json_values | st.just(["c"] * 101),
        "primary_category": text | json_values,
        "comment": text | json_values | st.just("c" * 4_001),
        "published_at": extreme_moments | json_values,
        "updated_at": extreme_moments | json_values,
        "announced_date": st.dates() | json_values,
    },
)
daily_records = records(
    DailyRecord,
    valid={
        "paper": st.builds(PaperRecord, **PAPER_FIELDS),  # papers' own test varies them
        "day": st.dates(min_value=date(2023, 1, 1), max_value=date(2030, 1, 1)),
        "submitted_by": st.none() | clean_text,
        "submitted_at": st.none() | moments,
        "upvotes": st.integers(0, 500),
        "num_comments": st.integers(0, 50),
        "github_repo": st.none() | clean_text,
        "github_stars": st.none() | st.integers(0, 10**5),
        "project_page": st.none() | clean_text,
        "organization": st.none() | clean_text,
    },
    hostile={
        "day": st.dates() | json_values,
        "submitted_by": text | json_values,
        "submitted_at": extreme_moments | json_values,
        "upvotes": huge_ints | json_values,
        "num_comments": huge_ints | json_values,
        "github_stars": huge_ints | json_values,
        "organization": text | json_values,
    },
)


def assert_storable(value: object) -> None:
    """What validation lets through fits both engines' columns."""
    if isinstance(value, str):
        assert forbidden_text_reason(value) is None
    elif isinstance(value, datetime):
        assert value.tzinfo is None and EARLIEST <= value <= LATEST
    elif isinstance(value, date):
        assert EARLIEST.date() <= value <= LATEST.date()
    elif isinstance(value, bool):
        pytest.fail("a boolean passed as a number")
    elif isinstance(value, int):
        assert 0 <= value <= MAX_COUNT
    elif isinstance(value, list):
        for item in value:
            assert isinstance(item, str)
            assert_storable(item)
    else:
        assert value is None, value


@PROPERTIES
@given(papers)
def test_validate_paper_raises_only_record_error_and_returns_storable_fields(record):
    try:
        valid = validate_paper(record)
    except RecordError:
        return
    assert valid.version is None or 1 <= valid.version <= MAX_VERSION
    assert valid.arxiv_id.isascii() and valid.title
    for value in vars(valid).values():
        assert_storable(value)


@PROPERTIES
@given(daily_records)
def test_validate_daily_raises_only_record_error_and_returns_storable_fields(record):
    try:
        valid = validate_daily(record)
    except RecordError:
        return
    assert isinstance(valid.day, date)
    for name, value in vars(valid).items():
        if name != "paper":
            assert_storable(value)


# --- mutations of whole documents ---

INJECTIONS = [
    b"&xxe;",
    b"&#0;",
    b"&#xD800;",
    b"\x00",
    b"\xff\xfe",
    b"\xed\xa0\x80",  # a surrogate in (invalid) UTF-8
    b"]]>",
    b"<![CDATA[",
    b"</entry>",
    b"<entry>",
    b"99999999999999999999999999",
    b"v99999999999999999999",
    b"\xd9\xa2\xd9\xa5",  # Arabic-Indic digits
    b"<a>" * 3_000 + b"</a>" * 3_000,
]
DOCTYPE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
)


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[bytes]) -> bytes:
    doc = draw(documents)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(doc)))
        kind = draw(st.sampled_from(["truncate", "insert", "inject", "number", "doctype"]))
        if kind == "truncate":
            doc = doc[:at]
        elif kind == "insert":
            doc = doc[:at] + draw(st.binary(min_size=1, max_size=8)) + doc[at:]
        elif kind == "inject":
            doc = doc[:at] + draw(st.sampled_from(INJECTIONS)) + doc[at:]
        elif kind == "number":
            huge = draw(st.sampled_from([b"99999999999999999999999", b"-1", b"0", b"\xc2\xb2"]))
            doc = re.sub(rb"[0-9]+", huge, doc, count=1)
        else:
            doc = DOCTYPE + re.sub(rb"^<\?xml[^>]*\?>", b"", doc).replace(
                b"</title>", b"&b;</title>", 1
            )
    return doc


# Text XML can carry, mostly, so that many pages parse and their entries are exercised.
xml_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
feed_papers = st.builds(
    lambda n, title, version, published, authors: {
        "arxiv_id": f"2611.{n:05d}",
        "version": version,
        "title": title,
        "abstract": "An abstract.",
        "authors": authors,
        "categories": ["cs.CL"],
        "published": published,
        "updated": published,
    },
    st.integers(1, 99_999),
    st.one_of(xml_text, xml_text, text),
    st.none() | st.integers(1, 10),
    st.sampled_from(
        ["2026-11-02T10:00:00Z", "2026-11-02T10:00:00-05:00", "0001-01-01T00:00:00+01:00"]
    ),
    st.lists(xml_text, min_size=1, max_size=3),
)
atom_documents = st.lists(feed_papers, max_size=4).map(
    lambda ps: atom_feed(ps, total=len(ps)).encode("utf-8", "surrogatepass")
)


@PROPERTIES
@given(mutated(atom_documents))
def test_atom_parser_raises_only_source_error_for_a_page_and_record_error_for_an_entry(body):
    try:
        _, entries = parse_feed(body, "page")
    except SourceError:
        return
    for entry in entries:
        try:
            record = parse_entry(entry)
        except RecordError:
            continue
        assert record.arxiv_id.isascii()


@pytest.fixture(scope="module")
def oai_server() -> Iterator[tuple[LoopbackServer, dict[str, bytes]]]:
    """One loopback server for every example: the first request of a harvest gets the
    example's page, a resumption request an empty last page (so no harvest loops)."""
    server = LoopbackServer().start()
    current = {"body": b""}

    def answer(params: dict[str, str]) -> Reply:
        if "resumptionToken" in params:
            return Reply(oai_page([], token=""))
        return Reply(current["body"])

    server.route("/oai", answer)
    yield server, current
    server.stop()


oai_documents = st.tuples(
    st.sampled_from(["arXiv", "arXivRaw"]), st.lists(feed_papers, max_size=4)
).map(
    lambda args: (
        args[0],
        oai_page(
            [
                (
                    p["arxiv_id"],
                    oai_arxiv_metadata(p)
                    if args[0] == "arXiv"
                    else oai_raw_metadata(p, ["Mon, 2 Nov 2026 10:00:00 GMT"]),
                )
                for p in args[1]
            ],
            token="next",
            size=len(args[1]),
        ).encode("utf-8", "surrogatepass"),
    )
)


@settings(PROPERTIES, max_examples=80)  # two loopback requests an example
@given(st.data())
def test_oai_harvest_raises_only_source_error(oai_server, data):
    server, current = oai_server
    prefix, page = data.draw(oai_documents)
    current["body"] = data.draw(mutated(st.just(page)))
    with HttpClient(FAST_HTTP) as client:
        source = OaiSource(f"{server.url}/oai", "cs", None, None, prefix, client)
        try:
            items = list(source.items(None))
        except SourceError:
            return
    for item in items:
        if isinstance(item, PaperRecord):
            assert item.arxiv_id.isascii() and item.title


# --- JSON Lines files ---

listing_objects = st.fixed_dictionaries(
    {
        "arxiv_id": either(valid_ids, text),
        "title": either(st.text(min_size=1, max_size=40)),
        "abstract": either(st.text(max_size=100)),
        "authors": either(st.lists(st.text(max_size=20), max_size=3)),
        "categories": either(st.lists(st.just("cs.CL"), max_size=2)),
        "listing_date": either(st.dates().map(date.isoformat), text),
    }
)
jsonl_lines = st.one_of(
    listing_objects.map(lambda obj: json.dumps(obj).encode("utf-8", "surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
    mutated(listing_objects.map(lambda obj: json.dumps(obj).encode("utf-8", "surrogatepass"))),
    st.integers(1, 20_000).map(lambda depth: b"[" * depth + b"]" * depth),
)


@PROPERTIES
@given(st.lists(jsonl_lines, min_size=1, max_size=8))
def test_jsonl_source_turns_every_line_into_a_record_or_a_rejection(lines):
    lines = [line.replace(b"\n", b" ") for line in lines]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        items = [i for i in JsonlSource(path).items(None) if isinstance(i, PaperRecord | Rejected)]
    assert len(items) == sum(1 for line in lines if line.strip())
    for item in items:
        if isinstance(item, Rejected):
            assert item.where.startswith(str(path)) and item.reason


# --- Hugging Face daily-papers answers ---


def _hf_entry(p: dict, upvotes: object, stars: object, submitted: str) -> dict:
    entry = hf_api_entry(p, upvotes=3, github="https://github.com/x/y")
    entry["paper"].update(upvotes=upvotes, githubStars=stars, submittedOnDailyAt=submitted)
    return entry


hf_entries = st.one_of(
    st.builds(
        _hf_entry,
        feed_papers,
        either(st.integers(0, 500), huge_ints),
        either(st.none() | st.integers(0, 10**5), huge_ints),
        st.sampled_from(
            ["2026-11-03T05:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]
        ),
    ),
    json_values,
)
hf_documents = st.lists(hf_entries, max_size=5).map(
    lambda entries: json.dumps(entries).encode("utf-8", "surrogatepass")
)


@PROPERTIES
@given(mutated(hf_documents))
def test_hf_answer_file_raises_only_source_error(body):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "2026-11-03.json"
        path.write_bytes(body)
        try:
            items = list(HfDailyFileSource(path).items(None))
        except SourceError:
            return
    for item in items:
        if isinstance(item, DailyRecord):
            assert 0 <= item.upvotes <= MAX_COUNT
            assert item.github_stars is None or 0 <= item.github_stars <= MAX_COUNT
            assert item.submitted_at is None or EARLIEST <= item.submitted_at <= LATEST


# --- BibTeX output ---


@PROPERTIES
@given(text, st.lists(text, max_size=3))
def test_bibtex_output_parses_and_carries_only_allow_listed_commands(title, authors):
    value = bibtex_value(title)
    assert "^^" not in value
    words = re.findall(r"\\([A-Za-z]+)", re.sub(r"\\\\", " ", value))
    assert set(words) <= SAFE_COMMANDS | {"ensuremath", "backslash"}
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    library = bibtexparser.parse_string(bibtex(view(title=title or "x", authors=authors)))
    assert not library.failed_blocks and len(library.entries) == 1
