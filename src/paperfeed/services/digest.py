"""Email digests, sent safely: the delivery of what services/digest_compose.py writes for
the periods of services/digest_periods.py (services/digest_schedule.py decides when).

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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.records import utcnow
from paperfeed.services import tokens
from paperfeed.services.digest_compose import ForYou, PeriodPapers, compose, digest_message
from paperfeed.services.digest_periods import Period, due_periods, period_of
from paperfeed.services.follows import following
from paperfeed.services.mailer import (
    PermanentMailError,
    ServerUnavailable,
    SmtpMailer,
    TemporaryMailError,
    UncertainDelivery,
    host_of,
    open_mailer,
)
from paperfeed.services.paper_views import latest_day
from paperfeed.services.search import SearchEngine
from paperfeed.services.subscriptions import Prefs, unsubscribe_token, unsubscribe_url
from paperfeed.store import Store
from paperfeed.store import subscriptions as outbox
from paperfeed.store.subscriptions import OutboxItem, Subscription

BATCH = 500
# How long a digest left pending by temporary errors is retried by later runs.
RETRY_DAYS = 2


class DigestError(PaperfeedError):
    """A digest run that cannot start or had to stop; the message says why."""


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


def prefs_with_follows(conn: sa.Connection, subscription: Subscription) -> Prefs:
    """What the subscription asks for, plus the authors and categories its reader follows
    on the site (services/follows.py)."""
    prefs = Prefs.from_json(subscription.prefs)
    if subscription.user_id is not None:
        for item in following(conn, subscription.user_id):
            chosen = prefs.authors if item.kind == "author" else prefs.categories
            if item.value not in chosen:
                chosen.append(item.value)
    return prefs


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
    with store.engine.connect() as conn:
        prefs = prefs_with_follows(conn, subscription)
    sections = compose(prefs, subscription.user_id, new, for_you)
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
                prefs = prefs_with_follows(conn, subscription)
                if compose(prefs, subscription.user_id, new, for_you):
                    summary.sent += 1
                else:
                    summary.empty += 1
    return summary
