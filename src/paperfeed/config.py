"""Settings, read from PAPERFEED_* environment variables; the CLI overrides them with flags.

Every PAPERFEED_* setting is read here and only here (`Settings.from_env`), typed and
bounded: a bad value is a SettingError whose one line names the variable, and the CLI
prints that line and exits 1 before any command runs. README's configuration table lists
every variable (tests/test_settings.py holds the two to each other).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from platformdirs import user_data_dir

from paperfeed.errors import PaperfeedError
from paperfeed.logs import LOG_FORMATS

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1/128")
# What `paperfeed update` can fetch: arXiv's announcements and Hugging Face's daily lists.
UPDATE_SOURCES = ("arxiv", "hf-daily")
_CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z-]+)?$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Where semantic search finds nearest papers (index/vectors.py: open_vector_backend).
VECTOR_BACKENDS = ("memory", "pgvector")
# pgvector's hnsw.ef_search: the graph walk's candidate list. Recall@10 against exact
# search at 104k papers (stand-in vectors, benchmarks/vectors_agreement.py): 0.93-0.95 at
# 100, 0.96-0.98 at 200, at about the same latency; 0.998 and 1.0 on SciFact's 5k.
HNSW_EF_SEARCH = 200


def default_database_url() -> str:
    return f"sqlite:///{Path(user_data_dir('paperfeed')) / 'paperfeed.db'}"


class SettingError(PaperfeedError, ValueError):
    """A setting whose value does not parse; the message names the setting."""


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '1d' or plain seconds -> seconds. ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h, 1d)")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    if not 0 < seconds <= 366 * 86400:
        raise ValueError(f"duration out of range: {text!r}")
    return seconds


def _number_env(name: str, default: float, low: float, high: float, kind: type = float) -> float:
    """A number between `low` and `high` (NaN and infinities are not)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SettingError(f"{name}: {raw[:60]!r} is not {what}") from None
    return _bounded(name, value, low, high)


def _int_env(name: str, default: int, low: int, high: int) -> int:
    return int(_number_env(name, default, low, high, int))


def _duration_env(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise SettingError(f"{name}: {exc}") from None


def _choice_env(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if not raw:
        return default
    if raw.strip() not in choices:
        raise SettingError(f"{name}: {raw[:60]!r} is not one of {', '.join(choices)}")
    return raw.strip()


def parse_networks(text: str | tuple[str, ...], setting: str) -> tuple[IpNetwork, ...]:
    """Comma-separated addresses or CIDR blocks (`10.0.0.0/8, ::1`); items of a tuple may
    themselves be comma-separated. A bad one is an error that names the setting, not a
    site that silently allows nobody (or everybody)."""
    items = [text] if isinstance(text, str) else list(text)
    networks = []
    for item in (i.strip() for value in items for i in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingError(
                f"{setting}: {item[:60]!r} is not an IP address or CIDR network"
            ) from None
    return tuple(networks)


def parse_trusted_proxies(values: str | tuple[str, ...]) -> tuple[str, ...]:
    """Proxy networks as uvicorn's `forwarded_allow_ips` takes them."""
    return tuple(str(n) for n in parse_networks(values, "PAPERFEED_TRUSTED_PROXIES"))


def _check_category(value: str) -> str:
    if not _CATEGORY.match(value):
        raise SettingError(f"PAPERFEED_CATEGORIES: {value!r} is not an arXiv category")
    return value


def _check_source(value: str) -> str:
    if value not in UPDATE_SOURCES:
        raise SettingError(
            f"PAPERFEED_SOURCES: unknown source {value!r} (use {', '.join(UPDATE_SOURCES)})"
        )
    return value


def _check_replica_url(value: str) -> str:
    if not re.match(r"^postgres(ql)?(\+psycopg)?://", value):
        raise SettingError(
            f"PAPERFEED_DATABASE_REPLICA_URL: {value[:60]!r} is not a postgresql:// URL"
        )
    return value


def _list_env(name: str, default: tuple[str, ...], check) -> tuple[str, ...]:
    """A comma-separated setting; each item checked, duplicates dropped, order kept."""
    raw = os.environ.get(name)
    if not raw:
        return default
    return tuple(dict.fromkeys(check(v.strip()) for v in raw.split(",") if v.strip()))


def _bounded(name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise SettingError(f"{name}: {value} is not between {low} and {high}")
    return value


def _date_env(name: str) -> date | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise SettingError(f"{name}: {raw!r} is not a date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class HttpSettings:
    """How sources talk to remote servers: politeness, timeouts, retries."""

    # arXiv asks API clients for at least 3 s between requests.
    min_interval_s: float = 3.0
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_base_s: float = 2.0
    # Longest wait we accept from a server's Retry-After before giving up on it.
    max_retry_after_s: float = 600.0
    user_agent: str = "paperfeed/0.1 (self-hosted paper feed)"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    # PostgreSQL streaming replicas of the database: anonymous pages, feeds, search and
    # the API read from them (web/routing.py says which requests); writes never do.
    replica_urls: tuple[str, ...] = ()
    # Processes `paperfeed serve` runs (web/workers.py); 1: the server alone.
    workers: int = 1
    data_dir: Path | None = None
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    oai_url: str = "https://oaipmh.arxiv.org/oai"
    hf_api_url: str = "https://huggingface.co/api"
    http: HttpSettings = field(default_factory=HttpSettings)
    # Tokens of title + abstract the embedding model reads (see benchmarks/search_quality.py).
    embed_max_tokens: int = 256
    # Where readers reach this site: links in emails and feeds are built from it.
    base_url: str = "http://127.0.0.1:8000"
    # Outgoing mail: smtp://user:pass@host:port (STARTTLS: ?starttls=1; SSL: smtps://...).
    smtp_url: str | None = None
    # Sender of digests and account emails.
    mail_from: str = "paperfeed <paperfeed@localhost>"
    # How old (days since first submitted to arXiv) a paper may be to be submitted here;
    # Hugging Face's daily papers use 14.
    submission_max_age_days: int = 14
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDR
    # networks). None by default: any client could otherwise claim any address and so
    # escape the per-address rate limits.
    trusted_proxies: tuple[str, ...] = ()
    # Who may read /metrics: loopback only unless the operator lists more.
    metrics_allow: tuple[IpNetwork, ...] = field(
        default_factory=lambda: parse_networks(LOOPBACK, "PAPERFEED_METRICS_ALLOW")
    )
    # The daily update (`paperfeed update`, `serve --update-every`): arXiv categories to
    # fetch, which sources, how many days a first run on an empty store goes back.
    categories: tuple[str, ...] = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
    sources: tuple[str, ...] = UPDATE_SOURCES
    backfill_days: int = 7
    # How long an update's lease outlives its last heartbeat: after a kill -9, the next
    # run waits at most this long.
    update_lease_s: float = 120.0
    # The date the update job takes for today (replays and tests); None: the UTC date.
    # Trends and rising topics end there too (None: at the newest paper's day).
    today: date | None = None
    # Background jobs of `paperfeed serve`: the indexer's round (how soon a worker
    # searches papers another process ingested), how often the digest scheduler looks
    # for a due day (--send-digests), and the update job's interval (None: not run).
    index_every_s: float = 15.0
    digest_every_s: float = 900.0
    update_every_s: float | None = None
    # How long an anonymous page, and a day's list for anyone, is reused before it is
    # read again (0: never): new papers show within this plus index_every_s.
    page_cache_s: float = 30.0
    # Log lines on stderr: "text" or "json".
    log_format: str = "text"
    # The vector backend: "memory" (each process holds every vector) or "pgvector"
    # (PostgreSQL answers, no copy per worker). None: pgvector when the store is
    # PostgreSQL and the extension can be used, else memory.
    vectors: str | None = None
    hnsw_ef_search: int = HNSW_EF_SEARCH
    # The largest reference file (BibTeX, RIS, CSL-JSON) a reader may import: a few
    # thousand entries fit in 5 MB; a larger upload is refused before it is read.
    import_max_bytes: int = 5_000_000

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        base = cls()
        return cls(
            database_url=env.get("PAPERFEED_DATABASE_URL") or base.database_url,
            replica_urls=_list_env(
                "PAPERFEED_DATABASE_REPLICA_URL", base.replica_urls, _check_replica_url
            ),
            workers=_int_env("PAPERFEED_WORKERS", base.workers, 1, 64),
            data_dir=Path(env["PAPERFEED_DATA_DIR"]) if env.get("PAPERFEED_DATA_DIR") else None,
            arxiv_api_url=env.get("PAPERFEED_ARXIV_API_URL") or base.arxiv_api_url,
            oai_url=env.get("PAPERFEED_OAI_URL") or base.oai_url,
            hf_api_url=env.get("PAPERFEED_HF_API_URL") or base.hf_api_url,
            http=HttpSettings(
                min_interval_s=_number_env(
                    "PAPERFEED_HTTP_MIN_INTERVAL", base.http.min_interval_s, 0, 3600
                ),
                timeout_s=_number_env("PAPERFEED_HTTP_TIMEOUT", base.http.timeout_s, 0.01, 3600),
                max_retries=_int_env("PAPERFEED_HTTP_MAX_RETRIES", base.http.max_retries, 0, 100),
                backoff_base_s=_number_env(
                    "PAPERFEED_HTTP_BACKOFF", base.http.backoff_base_s, 0, 600
                ),
            ),
            # MiniLM reads at most 512 tokens.
            embed_max_tokens=_int_env("PAPERFEED_EMBED_MAX_TOKENS", base.embed_max_tokens, 8, 512),
            base_url=(env.get("PAPERFEED_BASE_URL") or base.base_url).rstrip("/"),
            smtp_url=env.get("PAPERFEED_SMTP_URL") or None,
            mail_from=env.get("PAPERFEED_MAIL_FROM") or base.mail_from,
            submission_max_age_days=_int_env(
                "PAPERFEED_SUBMISSION_MAX_AGE_DAYS", base.submission_max_age_days, 0, 3650
            ),
            trusted_proxies=parse_trusted_proxies(env.get("PAPERFEED_TRUSTED_PROXIES", "")),
            metrics_allow=parse_networks(
                env.get("PAPERFEED_METRICS_ALLOW") or LOOPBACK, "PAPERFEED_METRICS_ALLOW"
            ),
            categories=_list_env("PAPERFEED_CATEGORIES", base.categories, _check_category),
            sources=_list_env("PAPERFEED_SOURCES", base.sources, _check_source),
            backfill_days=_int_env("PAPERFEED_BACKFILL_DAYS", base.backfill_days, 0, 366),
            update_lease_s=_number_env(
                "PAPERFEED_UPDATE_LEASE_SECONDS", base.update_lease_s, 1, 86_400
            ),
            today=_date_env("PAPERFEED_TODAY"),
            index_every_s=_duration_env("PAPERFEED_INDEX_EVERY", base.index_every_s),
            digest_every_s=_duration_env("PAPERFEED_DIGEST_EVERY", base.digest_every_s),
            update_every_s=_duration_env("PAPERFEED_UPDATE_EVERY", base.update_every_s),
            page_cache_s=_number_env("PAPERFEED_PAGE_CACHE_SECONDS", base.page_cache_s, 0, 3600),
            log_format=_choice_env("PAPERFEED_LOG_FORMAT", base.log_format, LOG_FORMATS),
            vectors=_choice_env("PAPERFEED_VECTORS", "", VECTOR_BACKENDS) or None,
            hnsw_ef_search=_int_env("PAPERFEED_HNSW_EF_SEARCH", base.hnsw_ef_search, 1, 1000),
            import_max_bytes=_int_env(
                "PAPERFEED_IMPORT_MAX_BYTES", base.import_max_bytes, 1_000, 100_000_000
            ),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def resolved_data_dir(self) -> Path:
        """Index files and caches: PAPERFEED_DATA_DIR, else beside a SQLite file, else the
        user's data dir."""
        if self.data_dir is not None:
            return self.data_dir
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///")).expanduser().parent
        return Path(user_data_dir("paperfeed"))
