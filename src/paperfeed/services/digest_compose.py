"""What each subscriber's digest holds, and the email that carries it.

Per subscriber, each section at most SECTION_LIMIT papers, a paper only in the first
section that has it: "For you" (from an optional provider), each saved search, each
followed author, each chosen category, then "Trending" (the period's most upvoted
community papers). A paper belongs to a period when arXiv announced it or the community
list featured it then. Saved searches, authors and categories pick papers through the
site's search code (SearchEngine, keyword mode, restricted to the period's papers): a saved
search lists what the search page lists for it, best match first; authors and categories,
most upvoted first. No new papers for a subscriber: no sections, so no email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.query import ParsedQuery, author_words
from paperfeed.services.digest_periods import Period
from paperfeed.services.mailer import email_templates, host_of, new_message
from paperfeed.services.paper_views import LISTING, PaperView, view_of
from paperfeed.services.search import MAX_LIMIT, SearchEngine
from paperfeed.services.subscriptions import Prefs
from paperfeed.store.schema import daily_entries, papers

log = logging.getLogger(__name__)

SECTION_LIMIT = 10
ABSTRACT_CHARS = 280
MAX_AUTHORS_SHOWN = 5

# Recommendations, provided by the recommender when there is one:
# (user id, papers since) -> the papers to show, best first.
ForYou = Callable[[int, datetime], list[PaperView]]


def _best_first(found: list[PaperView]) -> list[PaperView]:
    return sorted(found, key=lambda p: (-p.upvotes, p.arxiv_id))


class PeriodPapers:
    """The period's new papers, with the answers to each distinct preference cached: 10,000
    subscribers share a few hundred categories, searches and authors.

    Saved searches, followed authors and categories select papers through the site's
    search (SearchEngine, keyword mode, restricted to the period's papers), so that a
    saved search means in the digest what it means on the search page."""

    def __init__(self, conn: sa.Connection, period: Period, search: SearchEngine) -> None:
        self.period = period
        self.engine = search
        search.keyword.catch_up(search.store)
        featured = sa.select(daily_entries.c.paper_id).where(
            daily_entries.c.day.between(period.start, period.end)
        )
        self.featured = set(conn.execute(featured).scalars())
        found = conn.execute(
            LISTING.where(
                papers.c.announced_date.between(period.start, period.end)
                | papers.c.id.in_(featured)
            )
        ).mappings()
        self.papers = {row["id"]: view_of(row) for row in found}
        self.ids = sorted(self.papers)
        self._cache: dict[tuple[str, str], list[PaperView]] = {}

    def _cached(
        self, kind: str, key: str, compute: Callable[[], list[PaperView]]
    ) -> list[PaperView]:
        if (kind, key) not in self._cache:
            self._cache[kind, key] = compute()
        return self._cache[kind, key]

    def _matching(self, query: ParsedQuery) -> list[PaperView]:
        """The period's papers that `query` matches, most upvoted first."""
        found = self.engine.keyword.keep_matching(query, self.ids)
        return _best_first([self.papers[i] for i in found if i in self.papers])

    def trending(self) -> list[PaperView]:
        return self._cached(
            "trending",
            "",
            lambda: _best_first([p for i, p in self.papers.items() if i in self.featured]),
        )

    def category(self, category: str) -> list[PaperView]:
        return self._cached(
            "category",
            category,
            lambda: self._matching(ParsedQuery(text="", categories=[category])),
        )

    def search(self, text: str) -> list[PaperView]:
        """What the search page shows for `text` (keyword mode), among the period's papers."""

        def run() -> list[PaperView]:
            results = self.engine.search(text, mode="keyword", limit=MAX_LIMIT, among=self.ids)
            return [hit.paper for hit in results.hits]

        return self._cached("search", text, run)

    def author(self, name: str) -> list[PaperView]:
        return self._cached(
            "author",
            name,
            lambda: self._matching(ParsedQuery(text="", authors=[author_words(name)])),
        )


@dataclass
class Section:
    title: str
    papers: list[PaperView]


def compose(
    prefs: Prefs,
    user_id: int | None,
    new: PeriodPapers,
    for_you: ForYou | None = None,
) -> list[Section]:
    """The sections of one subscriber's digest; empty when there is nothing new."""
    wanted: list[tuple[str, list[PaperView]]] = []
    if prefs.for_you and for_you is not None and user_id is not None:
        since = datetime.combine(new.period.start, datetime.min.time())
        try:
            wanted.append(("For you", for_you(user_id, since)))
        except Exception:  # the recommender failing must not hold back the digest
            log.exception("the For you provider failed for user %s", user_id)
    wanted += [(f"Saved search: {q}", new.search(q)) for q in prefs.queries]
    wanted += [(f"New from {a}", new.author(a)) for a in prefs.authors]
    wanted += [(f"New in {c}", new.category(c)) for c in prefs.categories]
    if prefs.trending:
        wanted.append(("Trending", new.trending()))
    shown: set[str] = set()
    sections = []
    for title, found in wanted:
        fresh = [p for p in found if p.arxiv_id not in shown][:SECTION_LIMIT]
        shown.update(p.arxiv_id for p in fresh)
        if fresh:
            sections.append(Section(title, fresh))
    return sections


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def _paper_context(paper: PaperView, base_url: str) -> dict[str, object]:
    authors = [" ".join(a.split()) for a in paper.authors]
    shown = ", ".join(authors[:MAX_AUTHORS_SHOWN])
    if len(authors) > MAX_AUTHORS_SHOWN:
        shown += f" and {len(authors) - MAX_AUTHORS_SHOWN} more"
    return {
        "title": " ".join(paper.title.split()),
        "authors": shown,
        "abstract": _short(paper.abstract, ABSTRACT_CHARS),
        "tldr": paper.tldr,
        "upvotes": paper.upvotes,
        "url": f"{base_url}/papers/{paper.arxiv_id}",
        "arxiv_url": paper.abs_url,
        "arxiv_id": paper.arxiv_id,
    }


def digest_message(
    settings: Settings,
    to: str,
    period: Period,
    sections: list[Section],
    message_id: str,
    unsubscribe_link: str,
) -> EmailMessage:
    """multipart/alternative: plain text and HTML (inline CSS), with RFC 8058 one-click
    unsubscribe headers. Everything from papers and preferences is escaped in the HTML
    and stays in the body: the headers hold only settings, dates and numbers."""
    count = sum(len(s.papers) for s in sections)
    context = {
        "period": period,
        "sections": [
            {"title": s.title, "papers": [_paper_context(p, settings.base_url) for p in s.papers]}
            for s in sections
        ],
        "count": count,
        "site": settings.base_url,
        "unsubscribe_url": unsubscribe_link,
        "preferences_url": f"{settings.base_url}/subscribe",
    }
    text = email_templates.get_template("digest.txt").render(context)
    html = email_templates.get_template("digest.html").render(context)
    subject = (
        f"paperfeed {period.frequency} digest: {count} paper{'s' if count != 1 else ''}, "
        f"{period.short_label}"
    )
    message = new_message(settings.mail_from, to, subject, text, html, settings.base_url)
    message.replace_header("Message-ID", message_id)
    message["List-Id"] = f"paperfeed digest <digest.{host_of(settings.base_url)}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message
