import pytest

from paperfeed.errors import RecordError
from paperfeed.records import PaperRecord, parse_arxiv_id, validate_paper


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2501.01234", ("2501.01234", None)),
        ("2501.01234v3", ("2501.01234", 3)),
        ("arXiv:2501.01234", ("2501.01234", None)),
        ("0704.0001", ("0704.0001", None)),
        ("https://arxiv.org/abs/2501.01234v2", ("2501.01234", 2)),
        ("http://arxiv.org/abs/2501.01234", ("2501.01234", None)),
        ("https://arxiv.org/pdf/2501.01234v2.pdf", ("2501.01234", 2)),
        ("https://arxiv.org/pdf/2501.01234", ("2501.01234", None)),
        ("arxiv.org/abs/2501.01234?context=cs", ("2501.01234", None)),
        ("https://export.arxiv.org/abs/2501.01234", ("2501.01234", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("math.gt/0309136v2", ("math.GT/0309136", 2)),
        ("https://arxiv.org/abs/cs/0101001", ("cs/0101001", None)),
        ("  2501.01234  ", ("2501.01234", None)),
    ],
)
def test_parse_arxiv_id_accepts_ids_and_urls(text, expected):
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "step",
        "2501.123",
        "25011.01234",
        "https://example.com/abs/2501.01234",
        "2501.01234v",
        "2501.01234 OR 1=1",
        "<script>",
        "NEAR(",
        "2501.01234/../x",
    ],
)
def test_parse_arxiv_id_rejects_other_text(text):
    assert parse_arxiv_id(text) is None


def _record(**changes):
    base = dict(
        arxiv_id="2501.01234v2",
        title="  A\n  title  ",
        abstract="An\tabstract.",
        authors=["  Ada  Lovelace ", ""],
        categories=["cs.LG", "cs.CL", "cs.LG"],
        primary_category="cs.CL",
    )
    base.update(changes)
    return PaperRecord(**base)


def test_validate_normalizes_whitespace_ids_and_categories():
    record = validate_paper(_record())
    assert record.arxiv_id == "2501.01234"
    assert record.version == 2
    assert record.title == "A title"
    assert record.abstract == "An abstract."
    assert record.authors == ["Ada Lovelace"]
    assert record.categories == ["cs.LG", "cs.CL"]
    assert record.primary_category == "cs.CL"


def test_validate_keeps_hostile_text_verbatim_for_escaping_at_render():
    title = '<script>alert(1)</script> $\\alpha < \\beta$ & "x"'
    assert validate_paper(_record(title=title)).title == title


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arxiv_id": "not-an-id"}, "not an arXiv id"),
        ({"title": "   "}, "empty title"),
        ({"title": 42}, "expected text"),
        ({"title": "x" * 2001}, "title longer"),
        ({"abstract": "x" * 20001}, "abstract longer"),
        ({"authors": "Ada, Bo"}, "authors must be a list"),
        ({"authors": [1, 2]}, "expected text"),
        ({"categories": "cs.CL"}, "categories must be a list"),
    ],
)
def test_validate_rejects_malformed_records_with_a_reason(changes, message):
    with pytest.raises(RecordError, match=message):
        validate_paper(_record(**changes))
