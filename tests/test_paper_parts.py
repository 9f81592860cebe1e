"""A listed paper's text and facts are rendered once and kept (web/templating.py
paper_parts): every fact a list shows comes through, and a change to any of them renders
the paper again. A reader's votes and reading marks around them are rendered for each page
(test_page_data.py, test_browser_library.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from markupsafe import Markup

from paperfeed.services.paper_views import PaperView, Submitter
from paperfeed.web.security import Security
from paperfeed.web.templating import make_templates


@pytest.fixture
def parts_of(sqlite_db):
    return make_templates(Security(sqlite_db, b"k" * 32)).env.globals["paper_parts"]


def _paper(**changes: object) -> PaperView:
    shown = PaperView(
        arxiv_id="2611.00042",
        title="Sparse attention, $O(n)$ at last",
        abstract="We make attention sparse. " * 20,
        authors=[f"Author {n}" for n in range(10)],
        categories=["cs.CL"],
        primary_category="cs.CL",
        version=1,
        comment=None,
        journal_ref=None,
        doi=None,
        published_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        announced_date=date(2026, 11, 3),
        github_repo="https://github.com/example/sparse",
        github_stars=321,
        organization="Example Lab",
        ai_summary="A summary written by Hugging Face.",
        tldr="Attention in linear time.",
        submitted_by=Submitter("ada", local=True),
    )
    return replace(shown, **changes)


def test_every_fact_of_a_listed_paper_is_shown(parts_of):
    text, facts = parts_of(_paper(), None)
    assert '<a href="/papers/2611.00042">' in text and "Sparse attention" in text
    assert 'href="/authors/Author%207"' in text and "et al. (10 authors)" in text
    assert "Attention in linear time." in text
    assert "We make attention sparse." in text and "A summary written by Hugging Face." in text
    assert '<a href="https://arxiv.org/abs/2611.00042">arXiv:2611.00042</a>' in facts
    assert '<span class="cat">cs.CL</span>' in facts
    assert '<time datetime="2026-11-03">' in facts
    assert 'href="https://github.com/example/sparse"' in facts and "321 ★" in facts
    assert 'href="/orgs/Example%20Lab"' in facts and 'href="/users/ada"' in facts


def test_a_kept_paper_is_rendered_again_when_anything_it_shows_changes(parts_of):
    first = parts_of(_paper(), None)
    assert parts_of(_paper(), None) is first  # kept: the same rendering, not a new one
    assert (
        "Attention, now in log time."
        in parts_of(_paper(tldr="Attention, now in log time."), None).text
    )
    assert "999 ★" in parts_of(_paper(github_stars=999), None).facts
    assert (
        "/submitters/bob"
        in parts_of(_paper(submitted_by=Submitter("bob", local=False)), None).facts
    )
    found = parts_of(_paper(), Markup("a <mark>sparse</mark> match"))
    assert "a <mark>sparse</mark> match" in found.text and "We make attention" not in found.text


def test_a_title_is_escaped_once_kept(parts_of):
    text = parts_of(_paper(title="<script>alert(1)</script>"), None).text
    assert "<script>" not in text and "&lt;script&gt;" in text
