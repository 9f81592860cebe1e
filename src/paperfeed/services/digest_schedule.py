"""When digests go out by themselves: the day that is due, and the scheduler that
`paperfeed serve --send-digests` runs (a PeriodicJob, services/jobs.py)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.services.digest import DigestError, SendSummary, send_digests
from paperfeed.services.digest_compose import ForYou
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.mailer import MailError, open_mailer
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.store.schema import daily_entries, papers

log = logging.getLogger(__name__)


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
    """Sends due digests from inside `paperfeed serve`: every `interval_s` (default:
    PAPERFEED_DIGEST_EVERY, 15 minutes), the digests of
    the newest day with papers before today (a finished day: its papers are in), when that
    day is at most `max_lag_days` old. The outbox makes every check after the first one
    for a day a no-op."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        interval_s: float | None = None,
        max_lag_days: int = 4,
        for_you: ForYou | None = None,
        search: SearchEngine | None = None,
    ) -> None:
        self.store, self.settings, self.for_you = store, settings, for_you
        self.search = search
        self.max_lag_days = max_lag_days
        interval_s = interval_s if interval_s is not None else settings.digest_every_s
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
