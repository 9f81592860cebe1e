from datetime import datetime
from itertools import accumulate

import bibtexparser
import pytest

from paperfeed.services.cite import bibtex, bibtex_many, bibtex_value, citation_key
from paperfeed.services.paper_views import PaperView


def view(**changes):
    base = dict(
        arxiv_id="2503.11685",
        title="CORDIC Is All You Need",
        abstract="x",
        authors=["Omkar Kokane", "Adam Teman"],
        categories=["cs.AR"],
        primary_category="cs.AR",
        version=1,
        comment=None,
        journal_ref=None,
        doi=None,
        published_at=datetime(2025, 3, 14),
        announced_date=None,
    )
    base.update(changes)
    return PaperView(**base)


def test_entry_has_the_arxiv_fields():
    entry = bibtexparser.parse_string(bibtex(view(doi="10.1/x"))).entries[0]
    assert entry.key == "kokane2025cordic"
    assert entry["author"] == "Omkar Kokane and Adam Teman"
    assert (entry["eprint"], entry["archivePrefix"], entry["primaryClass"]) == (
        "2503.11685",
        "arXiv",
        "cs.AR",
    )
    assert entry["year"] == "2025" and entry["doi"] == "10.1/x"


@pytest.mark.parametrize(
    "title",
    [
        "Unbalanced { brace",
        "closing } first {",
        "ends with a backslash \\",
        "100% of A & B #1",
        "$\\alpha$-divergence with {nested {groups}}",
        "<script>alert(1)</script> @misc{evil, title={x}}",
        "RTL \u202e text \u0000 null",
        "Foo \\} , note = \\{pwned",  # BibTeX counts escaped braces too
    ],
)
def test_hostile_titles_never_break_the_entry(title):
    library = bibtexparser.parse_string(bibtex(view(title=title, authors=["Ünïcødé Ñame"])))
    assert not library.failed_blocks
    assert len(library.entries) == 1
    assert "note" not in library.entries[0].fields_dict  # no field smuggled in
    # BibTeX itself counts every brace, escaped or not: the field must close where we say.
    depths = list(accumulate({"{": 1, "}": -1}.get(c, 0) for c in bibtex_value(title)))
    assert min(depths, default=0) >= 0 and (not depths or depths[-1] == 0)


def test_latex_commands_and_balanced_groups_are_kept():
    assert bibtex_value("$\\alpha$ in {GPU} kernels") == "$\\alpha$ in {GPU} kernels"
    assert bibtex_value("A & B") == "A \\& B"


def test_many_entries_get_distinct_keys():
    text = bibtex_many([view(), view(arxiv_id="2503.11686")])
    keys = [e.key for e in bibtexparser.parse_string(text).entries]
    assert keys == ["kokane2025cordic", "kokane2025cordic2"]
    assert citation_key(view(authors=[], title="?")) == "anon2025paper"
