"""The `paperfeed` command. Each subcommand is a thin wrapper over a library call."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from platformdirs import user_cache_dir
from tqdm import tqdm

from paperfeed.config import (
    VECTOR_BACKENDS,
    SettingError,
    Settings,
    parse_duration,
    parse_trusted_proxies,
)
from paperfeed.errors import PaperfeedError
from paperfeed.index.embedder import model_id
from paperfeed.index.vectors import count_stale, coverage_in_store
from paperfeed.logs import LOG_FORMATS, configure_logging
from paperfeed.records import has_forbidden_chars, parse_arxiv_id
from paperfeed.services import sources
from paperfeed.services.accounts import create_user, set_admin, user_by_name
from paperfeed.services.backup import backup, restore
from paperfeed.services.collections import get_collection
from paperfeed.services.digest import send_digests
from paperfeed.services.evaluate import evaluate, load_corpus
from paperfeed.services.indexer import switch_vectors, update_indexes
from paperfeed.services.ingest import IngestSummary, run_ingest
from paperfeed.services.jobs import LeaseBusy
from paperfeed.services.library import library_items
from paperfeed.services.library_import import import_references
from paperfeed.services.paper_map import build_map
from paperfeed.services.portability import export_data
from paperfeed.services.portability_import import import_data
from paperfeed.services.recommend import Recommender, digest_section
from paperfeed.services.recommend_eval import METHODS, evaluate_recommenders, load_eval_corpus
from paperfeed.services.references import FORMATS, Format, write_references
from paperfeed.services.search import (
    MAX_LIMIT,
    MODES,
    SearchEngine,
    SearchHit,
    engine_from_settings,
)
from paperfeed.services.stats import store_stats
from paperfeed.services.subscriptions import (
    FREQUENCIES,
    add_subscriber,
    clean_prefs,
    list_subscribers,
    remove_subscriber,
)
from paperfeed.services.tldr import count_stale_tldrs
from paperfeed.services.tldr_eval import ROUGE_TYPES, evaluate_tldr, held_out, read_pairs
from paperfeed.services.tldr_weights import HELD_OUT_FROM
from paperfeed.services.trends import GRANULARITIES, trends
from paperfeed.services.update import (
    UpdateSummary,
    run_update,
    service_status,
)
from paperfeed.sources.base import Source
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.sources.http import HttpClient
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store


class _Date(click.DateTime):
    """YYYY-MM-DD from 1900 to 9998: the weeks and days either side of such a date still
    exist (date arithmetic near year 1 or 9999 overflows)."""

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        converted = super().convert(value, param, ctx)
        if not 1900 <= converted.year <= 9998:
            self.fail(f"{value!r} is not between 1900-01-01 and 9998-12-31", param, ctx)
        return converted


DATE = _Date(formats=["%Y-%m-%d"])


def _today() -> date:
    return datetime.now(UTC).date()


class Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def open_store(self) -> Store:
        return Store(self.settings.database_url, self.settings.replica_urls)

    def search_engine(
        self, store: Store, device: str = "cpu", bulk: bool = False, folder: str | None = None
    ) -> SearchEngine:
        return engine_from_settings(store, self.settings, device, bulk, folder)


class _RootGroup(click.Group):
    """Refuses, before any command runs, an argument that no text column can hold: the
    same rule as the web edge (a NUL, or a lone surrogate, which is how Python decodes
    bytes of argv that are not UTF-8)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            if has_forbidden_chars(arg):
                raise click.UsageError(
                    f"argument {ascii(arg)[:80]} holds a NUL or a byte that is not UTF-8", ctx
                )
        return super().parse_args(ctx, args)


@click.group(cls=_RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
# Flags override settings; the environment is read once, by Settings.from_env, so no
# option here names an envvar.
@click.option(
    "--db",
    "database_url",
    help="Database URL: sqlite:///PATH (default: a file in your user data dir) or "
    "postgresql://USER:PASS@HOST:PORT/DB. Env: PAPERFEED_DATABASE_URL.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for index files and caches (default: beside the SQLite file). "
    "Env: PAPERFEED_DATA_DIR.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    help="Log lines (one per request and per job step) as text or JSON, on stderr "
    "[default: text]. Env: PAPERFEED_LOG_FORMAT.",
)
@click.version_option(package_name="paperfeed")
@click.pass_context
def cli(
    ctx: click.Context, database_url: str | None, data_dir: Path | None, log_format: str | None
) -> None:
    """paperfeed: a self-hosted feed of research papers.

    Ingest arXiv metadata and Hugging Face daily papers into a store (SQLite by default,
    PostgreSQL when you name one), then serve the site.

    \b
    Quick start:
      paperfeed demo                       # load a demo set and serve it
      paperfeed ingest jsonl arxiv.jsonl.gz
      paperfeed serve --port 8000
    """
    try:
        settings = Settings.from_env()
    except SettingError as exc:  # one line that names the variable, exit 1
        raise click.ClickException(str(exc)) from exc
    settings = settings.with_overrides(
        database_url=database_url, data_dir=data_dir, log_format=log_format
    )
    configure_logging(settings.log_format)
    ctx.obj = Context(settings)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors the user can act on into one line and a non-zero exit."""
    try:
        yield
    except PaperfeedError as exc:
        raise click.ClickException(str(exc)) from exc


def _shown(text: str) -> str:
    """Data (titles, ids, categories, reasons quoting them) for a terminal: control and
    format characters written as escapes, so that an ESC sequence or a bidi override in an
    ingested title cannot retitle, clear or rewrite the operator's terminal."""
    return "".join(
        char.encode("unicode_escape").decode()
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")
        else char
        for char in text
    )


def _report(summary: IngestSummary, what: str, show_rejected: int) -> None:
    for rejected in summary.rejections[:show_rejected]:
        click.echo(f"rejected {_shown(rejected.where)}: {_shown(rejected.reason)}", err=True)
    hidden = summary.rejected - min(show_rejected, len(summary.rejections))
    if hidden > 0:
        click.echo(f"... and {hidden} more rejected records", err=True)
    if summary.resumed_from:
        click.echo(f"resumed an interrupted run (cursor {summary.resumed_from})", err=True)
    click.echo(summary.line(what))


def ingest_source(
    ctx: Context, source: Source, what: str, progress: bool, show_rejected: int
) -> None:
    with ctx.open_store() as store:
        try:
            summary = run_ingest(store, source, show_progress=progress)
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted: everything before the last checkpoint is saved; "
                "rerun the same command to resume.",
                err=True,
            )
            sys.exit(130)
    _report(summary, what, show_rejected)


def _ingest_options(func):
    func = click.option(
        "--progress/--no-progress", default=True, help="Show a progress bar on stderr."
    )(func)
    return click.option(
        "--show-rejected",
        default=20,
        show_default=True,
        help="How many rejected records to list, with file:line and reason.",
    )(func)


@cli.group()
def ingest() -> None:
    """Load papers and community data from arXiv and Hugging Face.

    Every source is idempotent (a rerun changes nothing) and resumable (after Ctrl-C or a
    crash, rerun the same command and it continues from the last checkpoint).
    """


@ingest.command("arxiv")
@click.option(
    "--category",
    "-c",
    "categories",
    multiple=True,
    required=True,
    help="arXiv category, e.g. cs.CL (repeatable).",
)
@click.option("--since", type=DATE, help="First submission date [default: 7 days ago].")
@click.option("--until", type=DATE, help="Last submission date [default: today].")
@click.option(
    "--page-size", default=2000, show_default=True, help="Results per request (max 2000)."
)
@click.option(
    "--base-url",
    help="arXiv API endpoint. Env: PAPERFEED_ARXIV_API_URL.",
)
@_ingest_options
@click.pass_obj
def ingest_arxiv(
    ctx: Context,
    categories: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    page_size: int,
    base_url: str | None,
    progress: bool,
    show_rejected: int,
) -> None:
    """Fetch recent papers from the arXiv Atom API (3 s between requests, as arXiv asks).

    Example: paperfeed ingest arxiv --category cs.CL --category cs.LG --since 2026-11-01
    """
    settings = ctx.settings.with_overrides(arxiv_api_url=base_url)
    until_day = until.date() if until else _today()
    since_day = since.date() if since else until_day - timedelta(days=7)
    with _user_errors(), HttpClient(settings.http) as client:
        source = sources.arxiv_api(
            settings, client, list(categories), since_day, until_day, page_size=page_size
        )
        ingest_source(ctx, source, "papers", progress, show_rejected)


@ingest.command("oai")
@click.option(
    "--set",
    "set_spec",
    default="cs",
    show_default=True,
    help="OAI-PMH set, e.g. cs, math, physics:hep-th.",
)
@click.option("--from", "since", type=DATE, help="First datestamp (inclusive).")
@click.option("--until", type=DATE, help="Last datestamp (inclusive).")
@click.option(
    "--format",
    "metadata_prefix",
    type=click.Choice(["arXiv", "arXivRaw"]),
    default="arXivRaw",
    show_default=True,
    help="arXivRaw carries versions and their dates; arXiv carries author parts.",
)
@click.option("--base-url", help="OAI-PMH endpoint. Env: PAPERFEED_OAI_URL.")
@_ingest_options
@click.pass_obj
def ingest_oai(
    ctx: Context,
    set_spec: str,
    since: datetime | None,
    until: datetime | None,
    metadata_prefix: str,
    base_url: str | None,
    progress: bool,
    show_rejected: int,
) -> None:
    """Harvest arXiv metadata over OAI-PMH (ListRecords, following resumption tokens).

    Example: paperfeed ingest oai --set cs --from 2026-11-01
    """
    settings = ctx.settings.with_overrides(oai_url=base_url)
    with _user_errors(), HttpClient(settings.http) as client:
        source = sources.oai(
            settings,
            client,
            set_spec,
            since.date() if since else None,
            until.date() if until else None,
            metadata_prefix,
        )
        ingest_source(ctx, source, "papers", progress, show_rejected)


@ingest.command("jsonl")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--since", type=DATE, help="Only papers listed (or last updated) on or after this date."
)
@_ingest_options
@click.pass_obj
def ingest_jsonl(
    ctx: Context,
    paths: tuple[Path, ...],
    since: datetime | None,
    progress: bool,
    show_rejected: int,
) -> None:
    """Load arXiv metadata snapshots in JSON Lines (plain or .gz).

    Reads Kaggle's arXiv metadata snapshot and the daily-listing layout of
    ../shared/data/arxiv-cs-daily. Malformed lines are rejected with file:line; the rest
    goes in.
    """
    with _user_errors():
        for path in paths:
            source = JsonlSource(path, since.date() if since else None)
            ingest_source(ctx, source, f"papers from {path}", progress, show_rejected)


@ingest.command("hf-daily")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--date",
    "dates",
    type=DATE,
    multiple=True,
    help="Fetch this day's list from the live API (repeatable).",
)
@click.option(
    "--base-url",
    help="Hugging Face API root. Env: PAPERFEED_HF_API_URL.",
)
@_ingest_options
@click.pass_obj
def ingest_hf_daily(
    ctx: Context,
    paths: tuple[Path, ...],
    dates: tuple[datetime, ...],
    base_url: str | None,
    progress: bool,
    show_rejected: int,
) -> None:
    """Load Hugging Face daily papers: upvotes, comments, submitters, code links.

    PATHS are files or folders of /api/daily_papers answers (YYYY-MM-DD.json) or the
    JSON Lines export in ../shared/data/hf-daily-papers. With --date, fetch live.
    """
    if not paths and not dates:
        raise click.UsageError("give a PATH or at least one --date")
    settings = ctx.settings.with_overrides(hf_api_url=base_url)
    with _user_errors():
        for path in paths:
            ingest_source(
                ctx, HfDailyFileSource(path), f"daily entries from {path}", progress, show_rejected
            )
        if dates:
            with HttpClient(settings.http) as client:
                source = sources.hf_daily_api(settings, client, [d.date() for d in dates])
                ingest_source(ctx, source, "daily entries", progress, show_rejected)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def stats(ctx: Context, as_json: bool) -> None:
    """Counts of papers, daily entries and votes, by category and by month."""
    with _user_errors(), ctx.open_store() as store:
        with store.engine.connect() as conn:
            data = store_stats(conn)
        coverage = coverage_in_store(store, model_id(ctx.settings.embed_max_tokens))
    data["semantic_coverage"] = coverage.to_json()
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
        return
    click.echo(f"store:         {store.display_url}")
    for key in ("papers", "daily_entries", "daily_days", "votes", "comments", "users"):
        click.echo(f"{key + ':':<15}{data[key]:,}")
    if data["last_daily_day"]:
        click.echo(f"daily lists:   {data['first_daily_day']} .. {data['last_daily_day']}")
    click.echo(f"embeddings:    {coverage}")
    if data["interrupted_ingest_jobs"]:
        click.echo(f"interrupted ingest jobs: {data['interrupted_ingest_jobs']} (rerun to resume)")
    if data["by_category"]:
        click.echo("\ntop categories:")
        for category, count in list(data["by_category"].items())[:15]:
            click.echo(f"  {_shown(category):<12}{count:>9,}")
    if data["by_month"]:
        click.echo("\nmonth      announced   daily")
        for month, counts in data["by_month"].items():
            click.echo(f"  {month}  {counts['papers_announced']:>9,} {counts['daily_entries']:>7,}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--send-digests",
    is_flag=True,
    help="Also send due email digests from a background thread, once a day's papers are "
    "in (needs PAPERFEED_SMTP_URL; see docs/digest.md).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="A reverse proxy (IP or CIDR) whose X-Forwarded-For/-Proto headers are believed; "
    "repeatable. Default: none. Env: PAPERFEED_TRUSTED_PROXIES (comma-separated).",
)
@click.option(
    "--update-every",
    "update_every",
    metavar="DURATION",
    help="Also run `paperfeed update` in the background every DURATION (30m, 1h, 1d). "
    "Several workers may: one does each run (a lease in the database). "
    "Env: PAPERFEED_UPDATE_EVERY.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Server processes on the one port; the first writes the keyword index and runs "
    "the background jobs (docs/scaling.md) [default: 1]. Env: PAPERFEED_WORKERS.",
)
@click.pass_obj
def serve(
    ctx: Context,
    host: str,
    port: int,
    send_digests: bool,
    trusted_proxies: tuple[str, ...],
    update_every: str | None,
    workers: int | None,
) -> None:
    """Serve the site on HOST:PORT."""
    from paperfeed.web.workers import ServeOptions, run_worker, serve_workers

    try:
        settings = ctx.settings.with_overrides(
            trusted_proxies=parse_trusted_proxies(trusted_proxies) or None, workers=workers
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-proxy") from exc

    try:
        settings = settings.with_overrides(
            update_every_s=parse_duration(update_every) if update_every else None
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--update-every") from exc
    options = ServeOptions(host, port, send_digests)
    with _user_errors():
        # Opened here too for the line below, and so that a bad URL is one line and exit 1.
        with ctx.open_store() as store:
            shown = store.display_url
        click.echo(
            f"paperfeed on http://{host}:{port} (store: {shown}, "
            f"{settings.workers} worker{'s' if settings.workers > 1 else ''})",
            err=True,
        )
        if settings.workers == 1:
            # The indexer brings keywords up first (seconds), then embeds in the background.
            run_worker(settings, options)
        else:
            serve_workers(settings, options, settings.workers)


@cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.pass_obj
def backup_command(ctx: Context, path: Path, force: bool) -> None:
    """Write a consistent copy of the store to PATH, while the site serves and writes.

    SQLite: one file, made with SQLite's online backup API and checked. PostgreSQL:
    pg_dump's custom format (pg_dump must be installed, as new as the server).
    """
    with _user_errors(), ctx.open_store() as store:
        click.echo(backup(store, path, force=force).line("backed up to"))


@cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a store that is not empty.")
@click.pass_obj
def restore_command(ctx: Context, path: Path, force: bool) -> None:
    """Put the backup at PATH into the store (then migrate it to this version).

    Refuses a store that holds papers, users or subscribers unless --force. Stop the
    site first: on restore, everything written since the backup is gone.
    """
    with _user_errors(), ctx.open_store() as store:
        click.echo(restore(store, path, force=force).line("restored from"))


@cli.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--with-secrets",
    is_flag=True,
    help="Include password hashes (and subscription confirmation nonces), so that "
    "accounts can log in on the new instance. Keep such an export private.",
)
@click.pass_obj
def export_command(ctx: Context, folder: Path, with_secrets: bool) -> None:
    """Write everything people made here to FOLDER as JSON Lines, one file per kind.

    Accounts, votes, comments, submissions, collections, subscriptions, interests and
    not-interested marks, with a manifest.json. Papers are not exported: ingest them
    on the new instance, then `paperfeed import FOLDER` there.
    """
    with _user_errors(), ctx.open_store() as store:
        click.echo(export_data(store, folder, with_secrets=with_secrets).line())


@cli.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--show-rejected",
    default=20,
    show_default=True,
    help="How many rejected rows to list, with file:line and reason.",
)
@click.pass_obj
def import_command(ctx: Context, folder: Path, show_rejected: int) -> None:
    """Add what an export in FOLDER holds and this store lacks (importing twice changes
    nothing). Rows that name a paper not in this store are skipped and listed."""
    with _user_errors(), ctx.open_store() as store:
        summary = import_data(store, folder)
    for rejected in summary.rejections[:show_rejected]:
        click.echo(f"rejected {rejected.where}: {rejected.reason}", err=True)
    if len(summary.rejections) > show_rejected:
        click.echo(f"... and {len(summary.rejections) - show_rejected} more rejected", err=True)
    if summary.missing_papers:
        shown = ", ".join(sorted(summary.missing_papers)[:20])
        click.echo(
            f"{len(summary.missing_papers)} papers are not in this store: {shown}"
            f"{' ...' if len(summary.missing_papers) > 20 else ''} (ingest them, then import "
            "again: what is there already is kept)",
            err=True,
        )
    click.echo(summary.line())


EXIT_BUSY = 75  # EX_TEMPFAIL: another update holds the lease; try again later


def _echo_update(summary: UpdateSummary) -> None:
    for line in summary.plan:
        click.echo(f"would fetch {line}" if line.startswith(("arxiv", "hf-daily")) else line)
    if summary.dry_run:
        return
    for result in summary.sources:
        click.echo(result.line())
        for rejected in result.rejections:
            click.echo(f"  rejected {rejected}", err=True)
    click.echo(f"indexed {summary.indexed} papers for keywords, embedded {summary.embedded}")
    click.echo(f"digests: {summary.digests}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--dry-run", is_flag=True, help="Say what would be fetched and done; change nothing.")
@click.option(
    "--wait",
    is_flag=True,
    help="If another update is running, wait for it to end instead of exiting (code 75).",
)
@click.option(
    "--today",
    type=DATE,
    help="The date to take for today (replays and tests) [default: PAPERFEED_TODAY, else the "
    "UTC date].",
)
@click.pass_obj
def update(ctx: Context, as_json: bool, dry_run: bool, wait: bool, today: datetime | None) -> None:
    """The daily job: fetch what is new, index and embed it, send the digests due.

    \b
    Per source (PAPERFEED_SOURCES): arXiv announcements in PAPERFEED_CATEGORIES over
    OAI-PMH (the Atom API if that fails) and Hugging Face's daily lists, from where the
    last successful run of that source stopped up to today (a first run goes back
    PAPERFEED_BACKFILL_DAYS). Then the keyword index and the embeddings, then the
    digests when PAPERFEED_SMTP_URL is set. Safe to rerun and to kill: a rerun resumes.
    One update runs at a time (a lease in the database).

    Exit codes: 0 done; 1 a source or the digests failed (the next run retries);
    75 another update is running (with --wait: waits for it).
    """
    with _user_errors(), ctx.open_store() as store:
        try:
            summary = run_update(
                store,
                ctx.settings,
                # Its own keyword index: a server beside it keeps (and syncs) its own.
                lambda: ctx.search_engine(store, bulk=True, folder="update"),
                today=today.date() if today else None,
                dry_run=dry_run,
                wait=wait,
            )
        except LeaseBusy as busy:
            click.echo(f"paperfeed update: {busy}", err=True)
            sys.exit(EXIT_BUSY)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        _echo_update(summary)
    if not summary.ok:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def status(ctx: Context, as_json: bool) -> None:
    """The service at a glance: the last update of each source and its result, whether
    one runs now, papers not embedded yet, store size, schema version, subscribers
    waiting for their confirmation."""
    with _user_errors(), ctx.open_store() as store:
        data = service_status(store, ctx.settings)
    if as_json:
        click.echo(json.dumps(data))
        return
    size = data["store_bytes"]
    click.echo(f"store:          {data['store']}")
    click.echo(f"size:           {'unknown' if size is None else f'{size / 1e6:,.1f} MB'}")
    click.echo(f"schema version: {data['schema_version']}")
    click.echo(f"papers:         {data['papers']:,} ({data['not_embedded']:,} not embedded yet)")
    click.echo(f"subscribers waiting for confirmation: {data['subscribers_pending']}")
    running = data["update_running"]
    if running:
        click.echo(f"update running now: {running['holder']} since {running['since']}")
    for name, state in data["sources"].items():
        last = state["last"]
        if last is None:
            click.echo(f"{name}: never updated")
            continue
        outcome = last["status"] + (f" ({last['error']})" if last["error"] else "")
        click.echo(
            f"{name}: last run {last['started_at']} {outcome}: {last['added']} added, "
            f"{last['updated']} updated, {last['rejected']} rejected; "
            f"last success {state['last_ok_at'] or 'never'}"
        )


@cli.group("users")
def users_group() -> None:
    """Local accounts: create one from the shell, give or take the admin role. (Readers
    sign up on the site; admins hide comments and remove submissions there.)"""


@users_group.command("add")
@click.argument("username")
@click.option("--email", required=True, help="The account's email address.")
@click.option("--admin", is_flag=True, help="Make the account an admin.")
@click.password_option(
    envvar="PAPERFEED_NEW_PASSWORD", help="Asked for (twice) unless PAPERFEED_NEW_PASSWORD is set."
)
@click.pass_obj
def users_add(ctx: Context, username: str, email: str, admin: bool, password: str) -> None:
    """Create the account USERNAME."""
    with _user_errors(), ctx.open_store() as store, store.write() as conn:
        user = create_user(conn, username, email, password, is_admin=admin)
    click.echo(f"created {user.username}{' (admin)' if admin else ''}")


@users_group.command("admin")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Take the admin role away instead.")
@click.pass_obj
def users_admin(ctx: Context, username: str, revoke: bool) -> None:
    """Give USERNAME (a local account) the admin role."""
    with _user_errors(), ctx.open_store() as store, store.write() as conn:
        set_admin(conn, username, not revoke)
    click.echo(f"{username} is {'no longer ' if revoke else ''}an admin")


def build_indexes(ctx: Context, store: Store, device: str, progress: bool) -> SearchEngine:
    """Bring the keyword index and the embeddings up to date, with progress bars."""
    engine = ctx.search_engine(store, device, bulk=True)
    stale = count_stale(store, engine.embedder.model_id)
    hide = None if progress else True
    with (
        tqdm(desc="keyword index", unit=" papers", file=sys.stderr, disable=hide) as keyword_bar,
        tqdm(
            total=stale, desc="embeddings", unit=" papers", file=sys.stderr, disable=hide
        ) as embed_bar,
    ):

        def on_keyword(done: int, total: int) -> None:
            keyword_bar.total, keyword_bar.n = total, done
            keyword_bar.refresh()

        with tqdm(
            total=count_stale_tldrs(store),
            desc="TL;DRs",
            unit=" papers",
            file=sys.stderr,
            disable=hide,
        ) as tldr_bar:
            update_indexes(
                engine,
                on_keyword=on_keyword,
                on_embedded=embed_bar.update,
                on_tldr=tldr_bar.update,
                today=ctx.settings.today,
            )
    click.echo(
        f"indexed: {engine.keyword.num_docs():,} papers for keywords, "
        f"{len(engine.vectors):,} embedded ({engine.embedder.model_id})",
        err=True,
    )
    return engine


@cli.command("index")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where to compute embeddings (cuda needs onnxruntime-gpu).",
)
@click.option("--progress/--no-progress", default=True, help="Show progress bars on stderr.")
@click.option(
    "--vectors",
    type=click.Choice(VECTOR_BACKENDS),
    default=None,
    help="Switch the vector backend: pgvector copies the vectors into PostgreSQL "
    "(HNSW index); memory drops that copy. Set PAPERFEED_VECTORS to match.",
)
@click.option(
    "--map",
    "relayout",
    is_flag=True,
    help="Then lay out the map of papers (/map) again from all embeddings (minutes at 100k).",
)
@click.pass_obj
def index_command(
    ctx: Context, device: str, progress: bool, vectors: str | None, relayout: bool
) -> None:
    """Build or update the search indexes: keywords (fast) and embeddings (slow on a CPU).

    Incremental: only papers added or changed since the last run are indexed. Keyword
    search works as soon as this starts; semantic search covers papers as they are
    embedded. Interrupt it at any time: finished batches are kept. New papers join the
    map beside their neighbours; --map recomputes the whole layout and its regions.
    """
    with _user_errors(), ctx.open_store() as store:
        if vectors is not None:
            changed = switch_vectors(store, vectors)
            ctx.settings = ctx.settings.with_overrides(vectors=vectors)
            done = "copied into pgvector" if vectors == "pgvector" else "pgvector copy dropped"
            click.echo(f"vectors: {done if changed else 'no pgvector copy'}", err=True)
        engine = build_indexes(ctx, store, device, progress)
        if relayout:
            lay_out_map(store, engine.embedder.model_id, progress)


def lay_out_map(store: Store, model: str, progress: bool) -> None:
    """The full map layout (services/paper_map.build_map), with a progress bar."""
    with tqdm(
        total=100, desc="map", unit="%", file=sys.stderr, disable=None if progress else True
    ) as bar:

        def on_progress(stage: str, fraction: float) -> None:
            bar.set_description(f"map: {stage}")
            bar.n = round(100 * fraction)
            bar.refresh()

        summary = build_map(store, model, on_progress)
    click.echo(
        f"map: {summary.points:,} papers in {summary.regions} "
        f"region{'' if summary.regions == 1 else 's'} ({summary.seconds:.0f} s)",
        err=True,
    )


def _print_hits(hits: list[SearchHit]) -> None:
    for i, hit in enumerate(hits, start=1):
        authors = ", ".join(hit.paper.authors[:3]) + (
            " et al." if len(hit.paper.authors) > 3 else ""
        )
        click.echo(
            f"{i:>3}. {_shown(hit.paper.title)}\n     arXiv:{hit.paper.arxiv_id}  {_shown(authors)}"
        )


@cli.command()
@click.argument("query")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=10,
    show_default=True,
    help="How many results.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def search(ctx: Context, query: str, mode: str, limit: int, as_json: bool) -> None:
    """Search papers by words and meaning.

    \b
    Syntax: words, "exact phrases", -excluded, author:NAME, cat:cs.CL,
    since:2026-01, until:2026-06-30, has:code; or an arXiv id / abs or PDF URL.
    Example: paperfeed search '"chain of thought" author:wei since:2026-01'
    """
    with _user_errors(), ctx.open_store() as store:
        engine = ctx.search_engine(store)
        engine.refresh()
        results = engine.search(query, mode=mode, limit=limit)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "query": query,
                    "mode": mode,
                    "semantic_available": results.semantic_available,
                    "hits": [h.to_json() for h in results.hits],
                }
            )
        )
        return
    if not results.semantic_available and mode != "keyword":
        click.echo("(no embeddings yet: keyword results only; run `paperfeed index`)", err=True)
    if not results.hits:
        click.echo("no results")
    _print_hits(results.hits)


@cli.command()
@click.argument("arxiv_id", required=False)
@click.option("--text", help="Instead of a paper: an abstract or passage to match.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def similar(
    ctx: Context, arxiv_id: str | None, text: str | None, limit: int, as_json: bool
) -> None:
    """Papers similar to a paper (by embedding), or to a pasted abstract (--text).

    \b
    Examples: paperfeed similar 2501.01234
              paperfeed similar --text "We distill a diffusion model into one step..."
    """
    if bool(arxiv_id) == bool(text):
        raise click.UsageError("give an ARXIV_ID or --text, not both")
    with _user_errors(), ctx.open_store() as store:
        engine = ctx.search_engine(store)
        if text:
            hits = engine.by_abstract(text, limit=limit)
        else:
            parsed = parse_arxiv_id(arxiv_id)
            hits = engine.similar(parsed[0] if parsed else arxiv_id, limit=limit)
    if as_json:
        click.echo(json.dumps({"arxiv_id": arxiv_id, "hits": [h.to_json() for h in hits]}))
        return
    if not hits:
        raise click.ClickException(f"no paper {arxiv_id!r} here, or nothing embedded yet")
    _print_hits(hits)


@cli.group("eval")
def eval_group() -> None:
    """Measure retrieval quality."""


@eval_group.command("beir")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True)
@click.option(
    "--mode",
    "modes",
    type=click.Choice(MODES),
    multiple=True,
    help="Modes to evaluate (repeatable) [default: all three].",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the scratch store and indexes here, to reuse embeddings next time.",
)
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of the results.")
@click.pass_obj
def eval_beir(
    ctx: Context,
    path: Path,
    split: str,
    modes: tuple[str, ...],
    work_dir: Path | None,
    as_json: bool,
) -> None:
    """nDCG@10, recall@100 and MRR@10 on a BEIR-layout folder (e.g. scifact-beir).

    Loads the corpus into a scratch store, indexes it, and runs the split's queries.
    """
    with _user_errors(), tempfile.TemporaryDirectory() as scratch:
        folder = work_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        settings = ctx.settings.with_overrides(
            database_url=f"sqlite:///{folder / 'beir.db'}", data_dir=folder
        )
        scratch_ctx = Context(settings)
        with scratch_ctx.open_store() as store:
            click.echo(f"corpus: {load_corpus(store, path):,} documents", err=True)
            engine = build_indexes(scratch_ctx, store, "cpu", progress=True)
            results = [evaluate(engine, path, split, mode) for mode in (modes or MODES)]
    click.echo(f"{'mode':<10}{'queries':>8}{'nDCG@10':>9}{'R@100':>8}{'MRR@10':>8}")
    for r in results:
        click.echo(
            f"{r.mode:<10}{r.queries:>8}{r.ndcg_at_10:>9.4f}{r.recall_at_100:>8.4f}"
            f"{r.mrr_at_10:>8.4f}"
        )
    if as_json:
        # The first mode's numbers at the top level, every mode under "modes".
        summary = {**results[0].to_json(), "modes": {r.mode: r.to_json() for r in results}}
        click.echo(json.dumps(summary))


@cli.group()
def digest() -> None:
    """Email digests: send the ones due (for cron, after the day's ingest).

    Safe to rerun: each subscriber gets each digest once (see docs/digest.md).
    """


@digest.command("send")
@click.option(
    "--date",
    "day",
    type=DATE,
    help="The day whose digests to send: its daily digest, and the weekly digest of the "
    "week before (default: the newest day with papers).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be sent; send and write nothing.")
@click.option("--retries", default=3, show_default=True, help="Retries of a temporary SMTP error.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
@click.pass_obj
def digest_send(
    ctx: Context, day: datetime | None, dry_run: bool, retries: int, progress: bool
) -> None:
    """Send the digests due on a day to every confirmed subscriber not served yet."""
    with (
        _user_errors(),
        ctx.open_store() as store,
        tqdm(
            desc="digests", unit=" subscribers", file=sys.stderr, disable=None if progress else True
        ) as bar,
    ):
        engine = ctx.search_engine(store)
        recommender = Recommender(store, engine)
        summary = send_digests(
            store,
            ctx.settings,
            day.date() if day else None,
            dry_run=dry_run,
            for_you=digest_section(recommender),
            retries=retries,
            on_progress=bar.update,
            search=engine,
        )
    for error in summary.errors:
        click.echo(f"error: {error}", err=True)
    click.echo(summary.line())
    if summary.stopped:
        raise click.ClickException(
            f"stopped: {summary.stopped}. Unsent digests stay pending: rerun later."
        )
    if not summary.ok:
        sys.exit(1)


@cli.group()
def subscribers() -> None:
    """Digest subscribers: add, list (with delivery status and errors), remove."""


@subscribers.command("add")
@click.argument("email")
@click.option("--frequency", type=click.Choice(FREQUENCIES), default="daily", show_default=True)
@click.option(
    "--confirmed",
    is_flag=True,
    help="Active at once; otherwise a confirmation email is sent (double opt-in).",
)
@click.option("--trending/--no-trending", default=True, show_default=True)
@click.option("--category", "categories", multiple=True, help="An arXiv category, e.g. cs.CL.")
@click.option("--query", "queries", multiple=True, help="A saved search, in the search syntax.")
@click.option("--author", "authors", multiple=True, help="An author to follow.")
@click.pass_obj
def subscribers_add(
    ctx: Context,
    email: str,
    frequency: str,
    confirmed: bool,
    trending: bool,
    categories: tuple[str, ...],
    queries: tuple[str, ...],
    authors: tuple[str, ...],
) -> None:
    """Subscribe EMAIL to the digest."""
    with _user_errors(), ctx.open_store() as store:
        prefs = clean_prefs(trending, False, categories, queries, authors)
        found = add_subscriber(store, ctx.settings, email, frequency, prefs, confirmed)
    if found.status == "active" and found.pending_prefs is None:
        click.echo(f"{found.email}: subscribed ({found.frequency})")
    else:
        click.echo(f"{found.email}: confirmation email sent; digests start once it is confirmed")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.pass_obj
def subscribers_list(ctx: Context, as_json: bool) -> None:
    """Every subscriber, with the newest digest's status and error."""
    with _user_errors(), ctx.open_store() as store:
        found = list_subscribers(store)
    if as_json:
        click.echo(json.dumps(found))
        return
    for row in found:
        last = row["last_digest"]
        delivery = "no digest yet"
        if last is not None:
            delivery = f"{last['period']} {last['status']}"
            if last["error"]:
                delivery += f" ({last['error']})"
        prefs = row["prefs"]
        wants = [
            *(["trending"] if prefs.get("trending") else []),
            *(["for you"] if prefs.get("for_you") else []),
            *prefs.get("categories", []),
            *(f"search {q!r}" for q in prefs.get("queries", [])),
            *(f"author {a!r}" for a in prefs.get("authors", [])),
        ]
        click.echo(
            f"{row['email']:<32} {row['status']:<12} {row['frequency']:<7} "
            f"{', '.join(wants)} | {delivery}"
        )
    click.echo(f"{len(found)} subscribers", err=True)


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
def subscribers_remove(ctx: Context, email: str) -> None:
    """Delete EMAIL's subscription and its digest history."""
    with _user_errors(), ctx.open_store() as store:
        remove_subscriber(store, email)
    click.echo(f"{email.strip()}: removed")


@eval_group.command("recommend")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the scratch store with the embeddings is kept, so that a rerun on the "
    "same file skips embedding [default: paperfeed's cache folder].",
)
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of the results.")
@click.pass_obj
def eval_recommend(ctx: Context, path: Path, work_dir: Path | None, as_json: bool) -> None:
    """recall@20 and nDCG@20 of "For you" against most-upvoted and arxiv-sanity-lite's
    tf-idf + SVM, on Hugging Face daily papers (a JSON Lines file or its folder).

    Each submitter with 8 or more submissions is a user (the bulk curators excepted);
    their earliest 70% are their likes, the rest is what they should be shown among
    all papers featured from their split day on. The same again "beyond co-authorship":
    only the later papers that share no author with the user's likes. Embedding ~10k papers takes ~11 min on
    two cores; the embeddings are kept in --work-dir for the next run.
    """
    with _user_errors():
        source = HfDailyFileSource(path)
        folder = work_dir or Path(user_cache_dir("paperfeed")) / "eval-recommend"
        folder.mkdir(parents=True, exist_ok=True)
        # One store per input (its files' names, sizes and times): inputs never mix.
        name = hashlib.sha1(source.job.encode()).hexdigest()[:12]
        settings = ctx.settings.with_overrides(
            database_url=f"sqlite:///{folder / f'recommend-{name}.db'}", data_dir=folder / name
        )
        scratch_ctx = Context(settings)
        with scratch_ctx.open_store() as store:
            summary = run_ingest(store, source, show_progress=False)
            click.echo(summary.line(f"daily entries from {path}"), err=True)
            engine = build_indexes(scratch_ctx, store, "cpu", progress=True)
            corpus = load_eval_corpus(store, engine.embedder.model_id)
            results = evaluate_recommenders(corpus)
            beyond = evaluate_recommenders(corpus, beyond_coauthors=True)
    curators = ", ".join(f"{n} ({c:,})" for n, c in corpus.curators) or "none"
    click.echo(f"{len(corpus.users)} users; bulk curators left out: {curators}")
    for heading, found in [
        ("every later submission", results),
        ("beyond co-authorship: later papers sharing no author with the likes", beyond),
    ]:
        click.echo(heading)
        click.echo(f"{'method':<14}{'users':>6}{'recall@20':>11}{'nDCG@20':>9}")
        for r in found:
            click.echo(f"{r.method:<14}{r.users:>6}{r.recall:>11.4f}{r.ndcg:>9.4f}")
    if "tfidf_svm" not in {r.method for r in results}:
        click.echo("tfidf_svm: needs scikit-learn (pip install -e '.[bench]')", err=True)
    if as_json:
        by_method = {r.method: r.to_json() for r in results}
        beyond_by_method = {r.method: r.to_json() for r in beyond}
        summary_json = {
            "users": len(corpus.users),
            "curators": dict(corpus.curators),
            **{method: by_method.get(method) for method in METHODS},
            "beyond_coauthors": {
                "users": beyond[0].users if beyond else 0,
                **{method: beyond_by_method.get(method) for method in METHODS},
            },
        }
        click.echo(json.dumps(summary_json))


@eval_group.command("tldr")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of the results.")
def eval_tldr(path: Path, as_json: bool) -> None:
    """ROUGE-1/2/L F1 of the TL;DR against Hugging Face's AI summaries, beside the first
    sentence, the last sentence and the sentence with the most title words, on Hugging
    Face daily papers (a JSON Lines file or its folder).

    Only papers first listed on or after the held-out date are scored: the TL;DR's
    weights were fitted on the earlier ones (docs/tldr.md).
    """
    with _user_errors():
        pairs, rejected = read_pairs(path)
        scored = held_out(pairs)
        results = evaluate_tldr(scored)
    for item in rejected[:5]:
        click.echo(f"rejected {_shown(item.where)}: {_shown(item.reason)}", err=True)
    click.echo(
        f"{len(scored):,} papers with a Hugging Face AI summary listed on or after "
        f"{HELD_OUT_FROM} (held out: the TL;DR's weights were fitted on papers listed "
        f"before it; {len(pairs) - len(scored):,} such here, not scored); "
        f"{len(rejected):,} entries rejected"
    )
    click.echo(f"{'method':<16}{'rouge1':>8}{'rouge2':>8}{'rougeL':>8}")
    for method, scores in results.items():
        click.echo(f"{method:<16}" + "".join(f"{scores[k]:>8.4f}" for k in ROUGE_TYPES))
    best = max(scores["rougeL"] for method, scores in results.items() if method != "tldr")
    click.echo(f"tldr rougeL / best baseline: {results['tldr']['rougeL'] / best:.3f}x")
    if as_json:
        click.echo(
            json.dumps(
                {"papers": len(scored), "held_out_from": HELD_OUT_FROM.isoformat(), **results}
            )
        )


# --- Trends (issue 16) ---


@cli.command("trends")
@click.argument("queries", nargs=-1, required=True)
@click.option("--by", type=click.Choice(GRANULARITIES), default="month", show_default=True)
@click.option("--since", default="", help="First period: YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--until", default="", help="Last period (default: the newest paper's).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def trends_command(
    ctx: Context, queries: tuple[str, ...], by: str, since: str, until: str, as_json: bool
) -> None:
    """How many papers match each QUERY (up to 6, in the search syntax) per week or month,
    and their share of all papers of the period (the same numbers as /trends).

    \b
    Example: paperfeed trends diffusion '"reinforcement learning" cat:cs.LG' --by week
    """
    with _user_errors(), ctx.open_store() as store:
        engine = SearchEngine(store, ctx.settings.resolved_data_dir)  # keywords only: no model
        engine.keyword.catch_up(store)
        result = trends(engine, list(queries), by, since, until, ctx.settings.today)
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    # A column per query: its papers, their share of the period's papers, their upvotes.
    width = max(22, *(len(_shown(s.query)) for s in result.series))
    heads = [_shown(s.query) for s in result.series]
    click.echo(f"{by:<8} {'papers':>8}  " + "  ".join(f"{h:>{width}}" for h in heads))
    click.echo(" " * 18 + "  ".join(f"{'papers   share  votes':>{width}}" for _ in heads))
    for i, period in enumerate(result.periods):
        cells = [
            f"{s.counts[i]:>6,} {100 * s.shares[i]:6.2f}% {s.votes[i]:>6,}" for s in result.series
        ]
        click.echo(
            f"{period.label:<8} {period.papers:>8,}  " + "  ".join(f"{c:>{width}}" for c in cells)
        )


def find_demo_data() -> Path | None:
    """../shared/data beside the checkout or the working directory, or PAPERFEED_DEMO_DATA."""
    candidates = (
        [Path(os.environ["PAPERFEED_DEMO_DATA"])] if os.environ.get("PAPERFEED_DEMO_DATA") else []
    )
    candidates += [
        Path.cwd() / ".." / "shared" / "data",
        Path(__file__).resolve().parents[3] / "shared" / "data",
    ]
    for candidate in candidates:
        if (candidate / "hf-daily-papers").is_dir():
            return candidate.resolve()
    return None


def _demo_files_state(*paths: Path) -> dict[str, object]:
    """What the demo loaded: each file's path, size and modification time."""
    return {"files": [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]}


def _demo_is_loaded(obj: Context, marker: Path, files: dict[str, object]) -> bool:
    """The same files were loaded into this store, and its papers are still there: a
    rerun skips re-reading 100,000 listing records that would change nothing."""
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or recorded.get("files") != files["files"]:
        return False
    with obj.open_store() as store, store.engine.connect() as conn:
        count = store_stats(conn)["papers"]
    return isinstance(recorded.get("papers"), int) and count >= recorded["papers"] > 0


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--serve/--no-serve", "then_serve", default=True, help="Serve after loading.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, then_serve: bool) -> None:
    """Load a demo set, then serve it on http://127.0.0.1:8000.

    From ../shared/data when it exists (the last 90 days of Hugging Face daily papers and
    the arXiv papers listed in the same period), otherwise live from Hugging Face and arXiv.
    Running it again changes nothing and serves at once.
    """
    obj: Context = ctx.obj
    data = find_demo_data()
    if data is not None:
        daily = data / "hf-daily-papers" / "hf_daily_papers_demo_last90d.jsonl.gz"
        listings = data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz"
        marker = obj.settings.resolved_data_dir / "demo-loaded.json"
        loaded = _demo_files_state(daily, listings)
        if _demo_is_loaded(obj, marker, loaded):
            click.echo(f"the demo set from {data} is loaded already ({marker})", err=True)
        else:
            click.echo(f"loading the demo set from {data}", err=True)
            ctx.invoke(
                ingest_hf_daily,
                paths=(daily,),
                dates=(),
                base_url=None,
                progress=True,
                show_rejected=20,
            )
            ctx.invoke(
                ingest_jsonl,
                paths=(listings,),
                since=datetime(2026, 5, 24),
                progress=True,
                show_rejected=20,
            )
            with obj.open_store() as store, store.engine.connect() as conn:
                loaded["papers"] = store_stats(conn)["papers"]
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps(loaded))
    else:
        click.echo(
            "no ../shared/data here: loading the last week live from Hugging Face and arXiv",
            err=True,
        )
        today = _today()
        weekdays = [
            today - timedelta(days=n) for n in range(8) if (today - timedelta(days=n)).weekday() < 5
        ]
        ctx.invoke(
            ingest_hf_daily,
            paths=(),
            dates=tuple(datetime.combine(d, datetime.min.time()) for d in weekdays),
            base_url=None,
            progress=True,
            show_rejected=20,
        )
        ctx.invoke(
            ingest_arxiv,
            categories=("cs.CL", "cs.LG", "cs.CV", "cs.AI"),
            since=datetime.combine(today - timedelta(days=3), datetime.min.time()),
            until=None,
            page_size=2000,
            base_url=None,
            progress=True,
            show_rejected=20,
        )
    if then_serve:
        if not obj.settings.smtp_url:  # mail readable at /admin/outbox, no server needed
            obj.settings = obj.settings.with_overrides(smtp_url="outbox:")
            click.echo(f"mail goes to the outbox: http://{host}:{port}/admin/outbox", err=True)
        ctx.invoke(serve, host=host, port=port)
    else:
        with obj.open_store() as store, store.engine.connect() as conn:
            click.echo(
                json.dumps({k: v for k, v in store_stats(conn).items() if isinstance(v, int)})
            )


# --- Your library: reference files in and out (issue 17) ---


@cli.group("library")
def library_group() -> None:
    """A reader's library from the shell: import a reference manager's file (BibTeX, RIS,
    CSL-JSON) into their collections, export their library or a collection."""


def _reader(conn: sa.Connection, username: str) -> int:
    user = user_by_name(conn, username)
    if user is None:
        raise PaperfeedError(f"no account {username!r}")
    return user.id


@library_group.command("import")
@click.argument("username")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the content.")
@click.option(
    "--collection",
    type=click.IntRange(1, 2**31 - 1),
    help="Into this collection of theirs (default: a new private one).",
)
@click.option("--name", default="", help="The new collection's name.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.pass_obj
def library_import(
    ctx: Context,
    username: str,
    path: Path,
    fmt: Format | None,
    collection: int | None,
    name: str,
    as_json: bool,
) -> None:
    """Import the papers a reference file names into USERNAME's collection; entries not
    found here and refused ones are listed with their place in the file."""
    limit = ctx.settings.import_max_bytes
    with _user_errors():
        if path.stat().st_size > limit:
            raise PaperfeedError(
                f"{path} is larger than {limit:,} bytes (PAPERFEED_IMPORT_MAX_BYTES)"
            )
        data = path.read_bytes()
        with ctx.open_store() as store, store.write() as conn:
            report = import_references(conn, _reader(conn, username), data, collection, name, fmt)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    click.echo(
        f"added {len(report.added)} papers to collection {report.collection_id} "
        f"({len(report.already)} already there, {len(report.not_found)} not found, "
        f"{len(report.refused)} refused)"
    )
    for place, what in report.not_found:
        click.echo(f"not found: {place}: {_shown(what)}")
    for place, why in report.refused:
        click.echo(f"refused: {place}: {_shown(why)}")


@library_group.command("export")
@click.argument("username")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="bibtex", show_default=True)
@click.option(
    "--collection", type=click.IntRange(1, 2**31 - 1), help="One of their collections instead."
)
@click.pass_obj
def library_export(ctx: Context, username: str, fmt: Format, collection: int | None) -> None:
    """Print USERNAME's library (or one of their collections) as BibTeX, RIS or CSL-JSON."""
    with _user_errors(), ctx.open_store() as store, store.engine.connect() as conn:
        user_id = _reader(conn, username)
        if collection is not None:
            found = get_collection(conn, collection, user_id).papers
        else:
            found = [item.paper for item in library_items(conn, user_id)]
    click.echo(write_references(found, fmt), nl=False)


def main() -> None:
    cli(prog_name="paperfeed")
