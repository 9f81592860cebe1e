from datetime import date

import pytest

from paperfeed.query import MAX_QUERY_CHARS, QueryError, parse_query


def test_words_phrases_exclusions_and_filters():
    q = parse_query(
        '"chain of thought" step -survey -"large language" author:"Jason Wei" '
        "cat:cs.CL,cs.AI since:2026-01 until:2026 has:code"
    )
    assert q.phrases == [["chain", "of", "thought"]]
    assert q.words == ["step"]
    assert q.excluded_words == ["survey"]
    assert q.excluded_phrases == [["large", "language"]]
    assert q.authors == [["Jason", "Wei"]]
    assert q.categories == ["cs.CL", "cs.AI"]
    assert (q.since, q.until) == (date(2026, 1, 1), date(2026, 12, 31))
    assert q.has_code
    assert q.semantic_text == "step chain of thought"


@pytest.mark.parametrize(
    "text",
    [
        "2501.01234",
        "arXiv:2501.01234v3",
        "https://arxiv.org/abs/2501.01234",
        "https://arxiv.org/pdf/2501.01234v2.pdf",
    ],
)
def test_ids_and_urls_go_straight_to_the_paper(text):
    assert parse_query(text).arxiv_id == "2501.01234"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("NEAR(a b)", ["NEAR", "a", "b"]),
        ('"unbalanced', ["unbalanced"]),
        ("Robert'); DROP TABLE papers;--", ["Robert", "DROP", "TABLE", "papers"]),
        ("title:foo OR *", ["title", "foo", "OR"]),
        ("!!! ??? ...", []),
        ("", []),
        ("\u202eevil\u202c \u0000 ﷽ 𝔘𝔫𝔦", ["evil", "𝔘𝔫𝔦"]),
        ("one-step", ["one-step"]),
    ],
)
def test_hostile_input_becomes_plain_words(text, words):
    query = parse_query(text)
    assert query.words == words
    assert query.arxiv_id is None


def test_too_long_and_bad_dates_are_clear_errors():
    with pytest.raises(QueryError, match="longer than"):
        parse_query("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QueryError, match="not a date"):
        parse_query("since:2026-13")
    with pytest.raises(QueryError, match="is after"):
        parse_query("since:2026-05 until:2026-01")
