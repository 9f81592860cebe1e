"""The daily job: fetch what is new from each source, bring the indexes up to date, send
the digests due. Run by `paperfeed update` (cron, a systemd timer) and by
`paperfeed serve --update-every` (a PeriodicJob); both call run_update.

- Exclusive: the job holds the `update` lease (services/jobs.JobLease) while it runs, so
  one run at a time does the work, across workers and machines sharing the database.
- Resumable and idempotent: each source is an ingest (checkpointed batches of idempotent
  upserts); its window (since, until) depends only on the last *successful* run of that
  source and on today, so a run killed anywhere is resumed by the next one from the same
  checkpoint. Indexing is incremental; the digest outbox sends each digest once.
- Sources fail alone: an error is recorded in `update_runs`, the others go on, the
  summary is not ok, and the next run starts that source from the same place again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.index.embedder import model_id
from paperfeed.index.vectors import count_stale
from paperfeed.records import utcnow
from paperfeed.services import sources
from paperfeed.services.digest import send_digests
from paperfeed.services.digest_schedule import due_day
from paperfeed.services.indexer import update_indexes
from paperfeed.services.ingest import IngestSummary, run_ingest
from paperfeed.services.jobs import JobLease, LeaseBusy, PeriodicJob
from paperfeed.services.mailer import MailError
from paperfeed.services.recommend import Recommender, digest_section
from paperfeed.services.search import SearchEngine
from paperfeed.sources.http import HttpClient
from paperfeed.store import Store, leases
from paperfeed.store.migrations import current_version
from paperfeed.store.schema import papers, subscriptions, update_runs

log = logging.getLogger("paperfeed.update")

LEASE = "update"
SHOW_REJECTIONS = 20
# Digests go out for the newest day with papers up to today, when at most this old.
DIGEST_MAX_LAG_DAYS = 4


@dataclass
class UpdateRun:
    """One source's part of one run, as recorded in `update_runs`."""

    source: str
    status: str  # 'running', 'ok', 'failed', 'interrupted'
    since: date
    until: date
    via: str | None
    added: int
    updated: int
    unchanged: int
    rejected: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            key: value.isoformat() if isinstance(value, date | datetime) else value
            for key, value in asdict(self).items()
        }


@dataclass
class SourceResult:
    source: str
    since: date
    until: date
    via: str | None = None
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = None
    fallback_from: str | None = None  # why the first way failed, when another answered
    rejections: list[str] = field(default_factory=list)

    def count(self, summary: IngestSummary) -> None:
        self.added += summary.added
        self.updated += summary.updated
        self.unchanged += summary.unchanged
        self.rejected += summary.rejected
        room = SHOW_REJECTIONS - len(self.rejections)
        self.rejections += [f"{r.where}: {r.reason}" for r in summary.rejections[:room]]

    def line(self) -> str:
        how = f" via {self.via}" if self.via else ""
        counts = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        fallback = f" (after: {self.fallback_from})" if self.fallback_from and self.via else ""
        outcome = f"FAILED: {self.error}; " if self.error else ""
        return f"{self.source} {self.since}..{self.until}{how}: {outcome}{counts}{fallback}"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        return data


@dataclass
class UpdateSummary:
    today: date
    dry_run: bool = False
    sources: list[SourceResult] = field(default_factory=list)
    indexed: int = 0
    embedded: int = 0
    digests_sent: int = 0
    digests: str | None = None  # what the digest step did, or why it did nothing
    digest_error: str | None = None
    plan: list[str] = field(default_factory=list)  # --dry-run: what a run would do

    @property
    def ok(self) -> bool:
        return self.digest_error is None and not any(s.error for s in self.sources)

    def to_json(self) -> dict[str, object]:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "ok": self.ok,
            "sources": {s.source: s.to_json() for s in self.sources},
            "indexed": self.indexed,
            "embedded": self.embedded,
            "digests_sent": self.digests_sent,
            "digests": self.digests,
            "digest_error": self.digest_error,
            **({"plan": self.plan} if self.dry_run else {}),
        }


def _run_of(row: sa.RowMapping) -> UpdateRun:
    return UpdateRun(**{name: row[name] for name in UpdateRun.__dataclass_fields__})


def last_updates(store: Store, status: str | None = None) -> dict[str, UpdateRun]:
    """The newest run of each source (only those with `status`, e.g. 'ok', when given):
    for `paperfeed status` and the metrics."""
    newest = sa.select(sa.func.max(update_runs.c.id)).group_by(update_runs.c.source)
    if status is not None:
        newest = newest.where(update_runs.c.status == status)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(update_runs)
            .where(update_runs.c.id.in_(newest))
            .order_by(update_runs.c.source)
        ).mappings()
        return {row["source"]: _run_of(row) for row in rows}


def service_status(store: Store, settings: Settings) -> dict[str, object]:
    """`paperfeed status`: the last update of each source, who runs one now, the papers
    not embedded yet, the store's size and schema version, subscribers pending."""
    last = last_updates(store)
    last_ok = last_updates(store, status="ok")
    with store.engine.connect() as conn:
        lease = leases.current(conn, LEASE)
        pending = conn.execute(
            sa.select(sa.func.count()).where(subscriptions.c.status == "pending")
        ).scalar_one()
        paper_count = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
        version = current_version(conn)
        size = _store_bytes(store, conn)
    return {
        "store": store.display_url,
        "store_bytes": size,
        "schema_version": version,
        "papers": paper_count,
        "not_embedded": count_stale(store, model_id(settings.embed_max_tokens)),
        "subscribers_pending": pending,
        "update_running": (
            {"holder": lease.holder, "since": lease.acquired_at.isoformat()}
            if lease is not None and lease.expires_at > utcnow()
            else None
        ),
        "sources": {
            name: {
                "last": last[name].to_json() if name in last else None,
                "last_ok_at": (
                    last_ok[name].finished_at.isoformat()
                    if name in last_ok and last_ok[name].finished_at
                    else None
                ),
            }
            for name in dict.fromkeys([*settings.sources, *last])
        },
    }


def _store_bytes(store: Store, conn: sa.Connection) -> int | None:
    if store.dialect == "postgresql":
        return conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None
    files = [Path(database + suffix) for suffix in ("", "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def window(conn: sa.Connection, source: str, today: date, backfill_days: int) -> tuple[date, date]:
    """The days a source's next run fetches: from the last day its last successful run
    reached (again: lists grow during a day) to today; a source never fetched goes back
    `backfill_days`."""
    reached = conn.execute(
        sa.select(update_runs.c.until)
        .where(update_runs.c.source == source, update_runs.c.status == "ok")
        .order_by(update_runs.c.id.desc())
        .limit(1)
    ).scalar()
    since = reached if reached is not None else today - timedelta(days=backfill_days)
    return min(since, today), today


def run_update(
    store: Store,
    settings: Settings,
    search: Callable[[], SearchEngine],
    today: date | None = None,
    dry_run: bool = False,
    wait: bool = False,
    stop: threading.Event | None = None,
    on_step: Callable[[str], None] | None = None,
) -> UpdateSummary:
    """One update. `search` gives the engine whose indexes to bring up to date (the
    server's own, or a new one for the command); it is called after the fetch. Raises
    LeaseBusy when another run holds the lease (unless `wait`). Each step is a log line
    with `job=update step=...` (paperfeed.logs), also passed to `on_step` (the benchmark
    times the phases with it)."""
    today = today or settings.today or datetime.now(UTC).date()
    summary = UpdateSummary(today, dry_run=dry_run)

    def say(step: str, line: str, failed: bool = False) -> None:
        (log.warning if failed else log.info)(line, extra={"job": "update", "step": step})
        if on_step is not None:
            on_step(line)

    if dry_run:
        _plan(store, settings, summary)
        return summary
    with JobLease(store, LEASE, settings.update_lease_s, wait=wait, stop=stop) as lease:
        _close_interrupted(store)
        with HttpClient(settings.http) as client:
            for name in settings.sources:
                lease.check()
                say(name, f"fetch {name}")
                result = _fetch(store, settings, client, name, today, lease.holder)
                summary.sources.append(result)
                say(name, result.line(), failed=bool(result.error))
        lease.check()
        say("index", "index")
        engine = search()
        summary.indexed, summary.embedded = update_indexes(engine, stop=stop, today=settings.today)
        say("index", f"indexed {summary.indexed} papers for keywords, embedded {summary.embedded}")
        lease.check()
        _send(store, settings, engine, summary)
        say("digests", f"digests: {summary.digests}")
    return summary


def _close_interrupted(store: Store) -> None:
    """Rows left 'running' by a run that died (we hold the lease: nobody else runs)."""
    with store.write() as conn:
        conn.execute(
            update_runs.update()
            .where(update_runs.c.status == "running")
            .values(status="interrupted", error="the run stopped before this source finished")
        )


def _fetch(
    store: Store,
    settings: Settings,
    client: HttpClient,
    name: str,
    today: date,
    holder: str,
) -> SourceResult:
    with store.write() as conn:
        since, until = window(conn, name, today, settings.backfill_days)
        run_id = conn.execute(
            update_runs.insert().values(
                source=name,
                holder=holder,
                status="running",
                since=since,
                until=until,
                started_at=utcnow(),
            )
        ).inserted_primary_key[0]
    result = SourceResult(name, since, until)
    try:
        if name == "arxiv":
            _fetch_arxiv(store, settings, client, result)
        else:
            _fetch_hf_daily(store, settings, client, result)
    except PaperfeedError as exc:
        result.error = str(exc)
    except Exception as exc:  # one source's bug must not stop the others
        log.exception("update: %s failed", name)
        result.error = f"{type(exc).__name__}: {exc}"
    with store.write() as conn:
        conn.execute(
            update_runs.update()
            .where(update_runs.c.id == run_id)
            .values(
                status="failed" if result.error else "ok",
                via=result.via,
                added=result.added,
                updated=result.updated,
                unchanged=result.unchanged,
                rejected=result.rejected,
                error=result.error,
                finished_at=utcnow(),
            )
        )
    return result


def _fetch_arxiv(
    store: Store, settings: Settings, client: HttpClient, result: SourceResult
) -> None:
    """OAI-PMH first (one harvest per archive, kept to the configured categories); the
    Atom API for the same days if the OAI-PMH server fails."""
    categories = list(settings.categories)
    try:
        for set_spec in dict.fromkeys(sources.oai_set(c) for c in categories):
            harvest = sources.oai(settings, client, set_spec, result.since, result.until)
            result.via = "oai"
            result.count(run_ingest(store, sources.InCategories(harvest, categories), False))
        return
    except PaperfeedError as exc:
        log.warning("update: OAI-PMH failed (%s); trying the arXiv API", exc)
        result.fallback_from = f"OAI-PMH: {exc}"
        result.via = None
    api = sources.arxiv_api(settings, client, categories, result.since, result.until)
    result.count(run_ingest(store, api, False))
    result.via = "arxiv-api"


def _fetch_hf_daily(
    store: Store, settings: Settings, client: HttpClient, result: SourceResult
) -> None:
    """Day by day, so that one malformed day does not keep the others out; the source
    fails (and the next run tries again from the same day) if any day did."""
    result.via = "hf-api"
    failed = []
    for day in sources.days_between(result.since, result.until):
        try:
            result.count(run_ingest(store, sources.hf_daily_api(settings, client, [day]), False))
        except PaperfeedError as exc:
            failed.append(f"{day}: {exc}")
    if failed:
        raise PaperfeedError(
            "; ".join(failed[:3])
            + (f" (and {len(failed) - 3} more days)" if len(failed) > 3 else "")
        )


def _send(store: Store, settings: Settings, engine: SearchEngine, summary: UpdateSummary) -> None:
    if not settings.smtp_url:
        summary.digests = "not sent: no mail server (PAPERFEED_SMTP_URL)"
        return
    day = due_day(store, summary.today + timedelta(days=1), DIGEST_MAX_LAG_DAYS)
    if day is None:
        summary.digests = f"none due: no papers from the last {DIGEST_MAX_LAG_DAYS} days"
        return
    try:
        sent = send_digests(
            store,
            settings,
            day,
            for_you=digest_section(Recommender(store, engine)),
            search=engine,  # the job's own index: up to date, no second build in memory
        )
    except (MailError, PaperfeedError) as exc:
        summary.digest_error = str(exc)
        summary.digests = f"not sent: {exc}"
        return
    summary.digests_sent = sent.sent
    summary.digests = sent.line()
    if not sent.ok:
        summary.digest_error = sent.stopped or "; ".join(sent.errors[:3]) or "some not delivered"


def _plan(store: Store, settings: Settings, summary: UpdateSummary) -> None:
    """What a run would fetch and do; reads the store, changes nothing."""
    with store.engine.connect() as conn:
        for name in settings.sources:
            since, until = window(conn, name, summary.today, settings.backfill_days)
            summary.sources.append(SourceResult(name, since, until))
            if name == "arxiv":
                sets = ", ".join(dict.fromkeys(sources.oai_set(c) for c in settings.categories))
                summary.plan.append(
                    f"arxiv: OAI-PMH ListRecords {settings.oai_url} set {sets} from {since} "
                    f"until {until}, keeping {', '.join(settings.categories)} (the arXiv API "
                    f"{settings.arxiv_api_url} if OAI-PMH fails)"
                )
            else:
                days = len(sources.days_between(since, until))
                summary.plan.append(
                    f"hf-daily: {settings.hf_api_url}/daily_papers for {since}..{until} "
                    f"({days} days)"
                )
    summary.plan.append("then: the keyword index and the embeddings of new papers")
    summary.plan.append(
        "then: the digests due (newest day with papers)"
        if settings.smtp_url
        else "no digests: PAPERFEED_SMTP_URL is not set"
    )


def periodic_update(
    store: Store, settings: Settings, engine: SearchEngine, interval_s: float
) -> PeriodicJob:
    """`serve --update-every`: the same job in a background thread, on this worker's own
    engine (its indexes see the papers at once; other workers' indexers within their
    interval). A round that finds the lease taken leaves the work to its holder."""

    def round_(stop: threading.Event) -> None:
        try:
            summary = run_update(store, settings, lambda: engine, stop=stop)
        except LeaseBusy as busy:
            log.info("update: %s", busy, extra={"job": "update"})
            return
        if not summary.ok:
            log.warning("update: a step failed; the next round retries it", extra={"job": "update"})

    # Workers started together spread their first rounds over up to 30 s.
    return PeriodicJob("update", interval_s, round_, jitter_s=min(interval_s, 30.0))
