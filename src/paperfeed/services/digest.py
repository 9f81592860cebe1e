"""Email digests: what each subscriber gets for a day or a week, and sending it safely.

Periods. A run for day D sends the daily digest of D (weekdays only) and the weekly digest
of the ISO week before D's week, so any run in a week sends the previous week once.

Contents, per subscriber, each section at most SECTION_LIMIT papers, a paper only in the
first section that has it: "For you" (from an optional provider), each saved search, each
followed author, each chosen category, then "Trending" (the period's most upvoted
community papers). A paper belongs to a period when arXiv announced it or the community
list featured it then. Saved searches, authors and categories pick papers through the
site's search code (SearchEngine, keyword mode, restricted to the period's papers): a saved
search lists what the search page lists for it, best match first; authors and categories,
most upvoted first. No new papers for a subscriber: no email.

Delivery (the outbox, store/subscriptions.py). Each run adds one `pending` row per
(subscriber, period) that has none, then for each pending row: compose; claim it
(`sending`, with its Message-ID, committed); hand it to SMTP; mark it `sent`. A run killed
anywhere leaves each row pending (rerun sends it), sent, or sending. A `sending` row is
never sent again automatically: it may have reached the server just before the kill, and
we choose at most once (no duplicate digests) over at least once (no lost digest); the
admin sees it in `paperfeed subscribers list`. Temporary errors (4xx, refused or dropped
connections, timeouts before the message is handed over) are retried with exponential
backoff, then left pending for later runs (for RETRY_DAYS); permanent ones (a 5xx for the
recipient or the message) mark the row `failed`; a timeout after the message was handed
over marks it `unknown` (not resent, like `sending`). An unreachable server, or one that
refuses our login or sender, stops the run: every remaining row stays pending.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.query import ParsedQuery, words_of
from paperfeed.records import utcnow
from paperfeed.services import tokens
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.mailer import (
    MailError,
    PermanentMailError,
    ServerUnavailable,
    SmtpMailer,
    TemporaryMailError,
    UncertainDelivery,
    email_templates,
    host_of,
    new_message,
    open_mailer,
)
from paperfeed.services.paper_views import LISTING, PaperView, latest_day, view_of
from paperfeed.services.search import MAX_LIMIT, SearchEngine
from paperfeed.services.subscriptions import (
    Prefs,
    unsubscribe_token,
    unsubscribe_url,
)
from paperfeed.store import Store
from paperfeed.store import subscriptions as outbox
from paperfeed.store.schema import daily_entries, papers
from paperfeed.store.subscriptions import OutboxItem

log = logging.getLogger(__name__)

SECTION_LIMIT = 10
ABSTRACT_CHARS = 280
MAX_AUTHORS_SHOWN = 5
BATCH = 500
# How long a digest left pending by temporary errors is retried by later runs.
RETRY_DAYS = 2

# Recommendations, provided by the recommender when there is one:
# (user id, papers since) -> the papers to show, best first.
ForYou = Callable[[int, datetime], list[PaperView]]


class DigestError(PaperfeedError):
    """A digest run that cannot start or had to stop; the message says why."""


@dataclass(frozen=True)
class Period:
    key: str  # 'daily:2026-11-25' or 'weekly:2026-W47': one outbox row per subscriber
    frequency: str
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.frequency == "daily":
            return self.start.strftime("%a %d %b %Y")
        year, week, _ = self.start.isocalendar()
        return f"week {week} of {year} ({self.start:%d %b} - {self.end:%d %b %Y})"

    @property
    def short_label(self) -> str:
        """For subjects, short enough that the header is never folded."""
        if self.frequency == "daily" or self.start.month == self.end.month:
            return (
                f"{self.start:%d}-{self.end:%d %b %Y}" if self.frequency == "weekly" else self.label
            )
        return f"{self.start:%d %b}-{self.end:%d %b %Y}"


def daily_period(day: date) -> Period:
    return Period(f"daily:{day.isoformat()}", "daily", day, day)


def weekly_period(day: date) -> Period:
    """The ISO week that contains `day`."""
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period(f"weekly:{year}-W{week:02d}", "weekly", monday, monday + timedelta(days=6))


def period_of(key: str) -> Period:
    """The Period an outbox row's key names."""
    frequency, _, when = key.partition(":")
    if frequency == "weekly":
        year, week = when.split("-W")
        return weekly_period(date.fromisocalendar(int(year), int(week), 1))
    return daily_period(date.fromisoformat(when))


def due_periods(day: date) -> list[Period]:
    """What a run for `day` sends: that day's daily digest on weekdays, and the weekly
    digest of the week before."""
    due = [daily_period(day)] if day.weekday() < 5 else []
    return [*due, weekly_period(day - timedelta(days=7))]


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
            lambda: self._matching(ParsedQuery(text="", authors=[words_of(name)])),
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


@dataclass
class SendSummary:
    day: date
    periods: list[str]
    dry_run: bool = False
    sent: int = 0
    empty: int = 0
    cancelled: int = 0
    failed: int = 0  # permanent: 5xx
    uncertain: int = 0  # no answer after handing the message over: not resent
    retry_later: int = 0  # temporary errors after every retry: pending for the next run
    taken_elsewhere: int = 0  # claimed by a concurrent run
    stopped: str | None = None  # why the run stopped early
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.stopped is None and not (self.failed or self.uncertain or self.retry_later)

    def line(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        parts = [f"{verb} {self.sent}", f"nothing new for {self.empty}"]
        for name, value in (
            ("failed", self.failed),
            ("delivery unknown", self.uncertain),
            ("left pending", self.retry_later),
            ("unsubscribed meanwhile", self.cancelled),
            ("taken by another run", self.taken_elsewhere),
        ):
            if value:
                parts.append(f"{name} {value}")
        return f"digests for {self.day} ({', '.join(self.periods)}): " + ", ".join(parts)


def _record(summary: SendSummary, error: str) -> None:
    if len(summary.errors) < 20:
        summary.errors.append(error)


class _Sender:
    """Delivers one message with retries, and records the outcome in its outbox row."""

    def __init__(
        self, store: Store, mailer: SmtpMailer, retries: int, backoff_s: float, summary: SendSummary
    ) -> None:
        self.store, self.mailer, self.summary = store, mailer, summary
        self.retries, self.backoff_s = retries, backoff_s

    def deliver(self, item: OutboxItem, message: EmailMessage, count: int) -> None:
        to = item.subscription.email
        for attempt in range(self.retries + 1):
            try:
                self.mailer.send(message)
            except TemporaryMailError as exc:
                if attempt < self.retries:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                self._finish(item, "pending", str(exc), attempt)
                self.summary.retry_later += 1
                _record(self.summary, f"{to}: {exc}")
                if isinstance(exc, ServerUnavailable):
                    self.summary.stopped = f"{exc} (after {self.retries + 1} tries)"
                return
            except PermanentMailError as exc:
                self._finish(item, "failed", str(exc), attempt)
                self.summary.failed += 1
                _record(self.summary, f"{to}: {exc}")
                return
            except UncertainDelivery as exc:
                self._finish(item, "unknown", f"{exc}; not resent (at most once)", attempt)
                self.summary.uncertain += 1
                _record(self.summary, f"{to}: {exc}")
                return
            self._finish(item, "sent", None, attempt, count)
            self.summary.sent += 1
            return

    def _finish(
        self, item: OutboxItem, status: str, error: str | None, retries: int, count: int = 0
    ) -> None:
        with self.store.engine.begin() as conn:
            outbox.finish(conn, item.id, status, error, count or None, retries)


def send_digests(
    store: Store,
    settings: Settings,
    day: date | None = None,
    dry_run: bool = False,
    for_you: ForYou | None = None,
    mailer: SmtpMailer | None = None,
    retries: int = 3,
    backoff_s: float = 2.0,
    on_progress: Callable[[int], None] | None = None,
    search: SearchEngine | None = None,
) -> SendSummary:
    """Send the digests due on `day` (default: the newest day with papers) to every
    confirmed subscriber who has not had them yet. Safe to rerun and to run concurrently;
    see the module docstring for what an interruption leaves behind.

    `search`: the process's SearchEngine, whose keyword index is brought up to date
    before a period's digests are composed; without one, a keyword index of the whole
    store is built in memory when there is something to send (fine for a small store,
    slow for a large one)."""
    with store.engine.connect() as conn:
        day = day or latest_day(conn)
    if day is None:
        raise DigestError("no papers in the store yet: nothing to send")
    search = search or SearchEngine(store, None)  # its index is built on first use
    periods = {p.key: p for p in due_periods(day)}
    if dry_run:
        summary = SendSummary(day, list(periods), dry_run=True)
        return _dry_run(store, summary, periods, for_you, search)
    if mailer is None:
        mailer = open_mailer(settings)
    signing_key = tokens.link_key(store)
    with store.write() as conn:  # read-then-insert while other runs write
        for period in periods.values():
            outbox.add_outbox_rows(
                conn, period.key, outbox.active_subscription_ids(conn, period.frequency)
            )
        # Digests an earlier run left pending (temporary errors) go out late, not never.
        since = utcnow() - timedelta(days=RETRY_DAYS)
        for key in outbox.pending_periods(conn, since):
            periods.setdefault(key, period_of(key))
    summary = SendSummary(day, list(periods))
    sender = _Sender(store, mailer, retries, backoff_s, summary)
    contents: dict[str, PeriodPapers] = {}
    after_id = 0
    try:
        while summary.stopped is None:
            with store.engine.connect() as conn:
                items = outbox.pending_items(conn, list(periods), after_id, BATCH)
                for key in {i.period for i in items} - contents.keys():
                    contents[key] = PeriodPapers(conn, periods[key], search)
            if not items:
                break
            for item in items:
                after_id = item.id
                new = contents[item.period]
                _send_one(store, settings, signing_key, sender, item, new, for_you)
                if on_progress is not None:
                    on_progress(1)
                if summary.stopped is not None:
                    break
    finally:
        mailer.close()
    return summary


def _send_one(
    store: Store,
    settings: Settings,
    key: bytes,
    sender: _Sender,
    item: OutboxItem,
    new: PeriodPapers,
    for_you: ForYou | None,
) -> None:
    subscription, summary = item.subscription, sender.summary
    if subscription.status != "active":
        with store.engine.begin() as conn:
            outbox.finish(conn, item.id, "cancelled")
        summary.cancelled += 1
        return
    sections = compose(Prefs.from_json(subscription.prefs), subscription.user_id, new, for_you)
    if not sections:
        with store.engine.begin() as conn:
            outbox.finish(conn, item.id, "empty", papers=0)
        summary.empty += 1
        return
    # The id is fixed before the claim and kept across retries, so should a row ever be
    # resent by hand, mail clients see one message.
    message_id = item.message_id or make_msgid("digest", domain=host_of(settings.base_url))
    link = unsubscribe_url(settings, unsubscribe_token(key, subscription))
    message = digest_message(settings, subscription.email, new.period, sections, message_id, link)
    with store.engine.begin() as conn:
        claimed = outbox.claim(conn, item.id, message_id)
        if not claimed and outbox.outbox_status(conn, item.id) == "pending":
            outbox.finish(conn, item.id, "cancelled")  # unsubscribed since the batch was read
            summary.cancelled += 1
            return
    if not claimed:
        summary.taken_elsewhere += 1
        return
    sender.deliver(item, message, sum(len(s.papers) for s in sections))


def _dry_run(
    store: Store,
    summary: SendSummary,
    periods: dict[str, Period],
    for_you: ForYou | None,
    search: SearchEngine,
) -> SendSummary:
    """Count what a run would send, writing nothing."""
    with store.engine.connect() as conn:
        for period in periods.values():
            new = PeriodPapers(conn, period, search)
            done = outbox.subscriptions_done(conn, period.key)
            for subscription in outbox.active_subscriptions(conn, period.frequency):
                if subscription.id in done:
                    continue
                prefs = Prefs.from_json(subscription.prefs)
                if compose(prefs, subscription.user_id, new, for_you):
                    summary.sent += 1
                else:
                    summary.empty += 1
    return summary


def due_day(store: Store, before: date, max_lag_days: int = 4) -> date | None:
    """The newest day with papers before `before`, when it is at most `max_lag_days` old
    (an old archive never mails anyone by itself); else None."""
    with store.engine.connect() as conn:
        found = [
            conn.execute(sa.select(sa.func.max(column)).where(column < before)).scalar()
            for column in (daily_entries.c.day, papers.c.announced_date)
        ]
    newest = max((d for d in found if d is not None), default=None)
    if newest is None or (before - newest).days > max_lag_days:
        return None
    return newest


class DigestScheduler:
    """Sends due digests from inside `paperfeed serve`: every `interval_s`, the digests of
    the newest day with papers before today (a finished day: its papers are in), when that
    day is at most `max_lag_days` old. The outbox makes every check after the first one
    for a day a no-op."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        interval_s: float = 900,
        max_lag_days: int = 4,
        for_you: ForYou | None = None,
        search: SearchEngine | None = None,
    ) -> None:
        self.store, self.settings, self.for_you = store, settings, for_you
        self.search = search
        self.max_lag_days = max_lag_days
        self.job = PeriodicJob(
            "digests",
            interval_s,
            lambda _stop: self.run_once(),
            max_backoff_s=interval_s,  # the outbox keeps its own retry schedule
            expected=(MailError, DigestError),
        )

    def start(self) -> None:
        open_mailer(self.settings).close()  # a missing PAPERFEED_SMTP_URL fails at start
        self.job.start()

    def stop(self) -> None:
        self.job.close()

    def due_day(self, today: date | None = None) -> date | None:
        return due_day(self.store, today or datetime.now(UTC).date(), self.max_lag_days)

    def run_once(self) -> SendSummary | None:
        day = self.due_day()
        if day is None:
            return None
        summary = send_digests(
            self.store, self.settings, day, for_you=self.for_you, search=self.search
        )
        if summary.sent or not summary.ok:
            log.warning(
                "%s%s", summary.line(), f"; stopped: {summary.stopped}" * bool(summary.stopped)
            )
        return summary
