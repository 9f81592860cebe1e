"""The data model, as SQLAlchemy Core tables: the one definition both engines share.

Papers hold arXiv metadata, which ingest may overwrite with newer versions. Everything the
community adds (daily entries, votes, comments, links) lives in its own tables keyed by
paper id, so a re-ingest of metadata never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# JSON lists (authors in order, categories) as JSONB on PostgreSQL, JSON text on SQLite.
JsonList = sa.JSON().with_variant(JSONB(), "postgresql")

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)

papers = sa.Table(
    "papers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("arxiv_id", sa.Text, nullable=False, unique=True),
    sa.Column("version", sa.Integer),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("abstract", sa.Text, nullable=False),
    sa.Column("authors", JsonList, nullable=False),
    sa.Column("categories", JsonList, nullable=False),
    sa.Column("primary_category", sa.Text),
    sa.Column("comment", sa.Text),
    sa.Column("journal_ref", sa.Text),
    sa.Column("doi", sa.Text),
    sa.Column("license", sa.Text),
    sa.Column("published_at", sa.DateTime),  # first version submitted
    sa.Column("updated_at", sa.DateTime),  # latest version submitted
    sa.Column("announced_date", sa.Date),  # first listed in arXiv's daily announcement
    # How authoritative the stored metadata is (see store.papers.SOURCE_RANK).
    sa.Column("metadata_rank", sa.Integer, nullable=False),
    sa.Column("ingested_at", sa.DateTime, nullable=False),
    sa.Index("ix_papers_announced_date", "announced_date"),
    sa.Index("ix_papers_published_at", "published_at"),
    # Indexes find what changed since their last sync by this column. Version 3.
    sa.Index("ix_papers_ingested_at", "ingested_at"),
)

paper_categories = sa.Table(
    "paper_categories",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("category", sa.Text, primary_key=True),
    sa.Index("ix_paper_categories_category", "category", "paper_id"),
)

# Local accounts only (since version 6; imported submitters are `imported_submitters`).
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("email", sa.Text, unique=True),
    sa.Column("password_hash", sa.Text),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    # 'local'; before version 6 also 'huggingface' (login-less imported submitters).
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # records.identity_key of username and email: what log-in, reset and sign-up match on,
    # unique so that names differing only in case or Unicode form are one account.
    # Version 6. An account that collided when the keys were introduced holds a key
    # ending in '#dup<id>' (see store/migrations.py), which no input folds to.
    sa.Column("username_key", sa.Text),
    sa.Column("email_key", sa.Text),
    sa.Index("ux_users_username_key", "username_key", unique=True),
    sa.Index("ux_users_email_key", "email_key", unique=True),
)

# People known only from imported data (a Hugging Face daily list's submitters), by
# source: never a local account, whatever the name. Version 6.
imported_submitters = sa.Table(
    "imported_submitters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),  # 'huggingface'
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("source", "name", name="uq_imported_submitters_source_name"),
)

daily_entries = sa.Table(
    "daily_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    # A local account's submission (origin 'local') ...
    sa.Column("submitted_by", sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("submitted_at", sa.DateTime),
    # Upvotes and comments counted by the source (Hugging Face) when it was read; votes
    # cast here are rows in `votes`, added on top.
    sa.Column("imported_upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("imported_comments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("origin", sa.Text, nullable=False),  # 'huggingface' or 'local'
    sa.UniqueConstraint("paper_id", "day", name="uq_daily_entries_paper_day"),
    sa.Index("ix_daily_entries_day", "day"),
    # ... or an imported one's (origin 'huggingface'). Version 6.
    sa.Column(
        "imported_submitter_id", sa.ForeignKey("imported_submitters.id", ondelete="SET NULL")
    ),
    sa.Index("ix_daily_entries_imported_submitter", "imported_submitter_id"),
)

votes = sa.Table(
    "votes",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_votes_paper", "paper_id", "created_at"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("parent_id", sa.ForeignKey("comments.id", ondelete="CASCADE")),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_comments_paper", "paper_id", "created_at"),
)

paper_links = sa.Table(
    "paper_links",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("github_repo", sa.Text),
    sa.Column("github_stars", sa.Integer),
    sa.Column("project_page", sa.Text),
    sa.Column("organization", sa.Text),
    sa.Column("ai_summary", sa.Text),  # Hugging Face's, labelled as theirs on pages
    sa.Column("ai_keywords", JsonList),
    # The daily list these values come from: a newer list's values replace older ones.
    sa.Column("as_of", sa.Date, nullable=False),
)

# Where an interrupted ingest job stopped; removed when the job finishes.
ingest_checkpoints = sa.Table(
    "ingest_checkpoints",
    metadata,
    sa.Column("job", sa.Text, primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# One vector per paper per embedding model (float32 bytes, unit length). Version 2.
paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    # When the vector was computed: a paper ingested again after it is embedded again.
    sa.Column("embedded_at", sa.DateTime, nullable=False),
    sa.Index("ix_paper_embeddings_model", "model", "embedded_at"),
)

# --- Accounts and personal data (version 4) ---

# A signed-in browser: the cookie holds a random token; only its SHA-256 is stored, so a
# leaked database does not leak live sessions.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Index("ix_sessions_user", "user_id"),
)

# Keys the site signs with (CSRF tokens, email links), created once and shared by every
# worker on the database.
app_secrets = sa.Table(
    "app_secrets",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Recent log-in and sign-up attempts per bucket (e.g. "login:<ip>"), for rate limits that
# hold across workers.
auth_attempts = sa.Table(
    "auth_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_auth_attempts_bucket", "bucket", "at"),
)

collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_collections_user", "user_id"),
)

collection_items = sa.Table(
    "collection_items",
    metadata,
    sa.Column(
        "collection_id", sa.ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("added_at", sa.DateTime, nullable=False),
)

# "Not interested" marks on recommendations: negative examples for the user's model.
not_interested = sa.Table(
    "not_interested",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Cold-start interests a user states: kind is 'category', 'author', 'paper' (an arXiv id)
# or 'text' (a pasted abstract).
interest_seeds = sa.Table(
    "interest_seeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("user_id", "kind", "value", name="uq_interest_seeds"),
)

# --- Email digests and alerts (version 5) ---

# One row per email address. status: 'pending' (waiting for the double opt-in),
# 'active', 'unsubscribed'. A new request from the site for an address that exists waits
# in pending_prefs until its own confirmation link is used, so nobody can change
# another person's subscription without access to their mailbox.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("frequency", sa.Text, nullable=False),  # 'daily' or 'weekly'
    # {"trending": bool, "for_you": bool, "categories": [...], "queries": [...], "authors": [...]}
    sa.Column("prefs", sa.JSON, nullable=False),
    sa.Column("pending_prefs", sa.JSON),
    # Binds a confirmation link to the request that sent it: a newer request voids it.
    sa.Column("confirm_nonce", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("confirmed_at", sa.DateTime),
    sa.Column("unsubscribed_at", sa.DateTime),
    sa.Index("ix_subscriptions_status", "status", "frequency"),
    # records.identity_key(email), unique: one subscription per address however it is
    # written. Version 6; a collision found then holds a '#dup<id>' key.
    sa.Column("email_key", sa.Text),
    sa.Index("ux_subscriptions_email_key", "email_key", unique=True),
)

# One row per (subscription, digest period), e.g. period 'daily:2026-11-25' or
# 'weekly:2026-W47'. status: 'pending' -> 'sending' (claimed, committed before any byte
# goes to the SMTP server) -> 'sent' | 'failed' (permanent 5xx) | 'unknown' (the server
# never answered after the message was handed over: not resent, see docs/digest.md);
# 'empty' (nothing new for this subscriber) and 'cancelled' (unsubscribed meanwhile) end
# a row without mail.
digest_outbox = sa.Table(
    "digest_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "subscription_id", sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("papers", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("sent_at", sa.DateTime),
    sa.UniqueConstraint("subscription_id", "period", name="uq_digest_outbox_subscription_period"),
    sa.Index("ix_digest_outbox_period_status", "period", "status"),
)

# --- The daily update job (version 7) ---

# Who runs a job now, so that one update runs at a time across processes and machines.
# Taken with a conditional UPDATE (free, expired, or ours) or an INSERT that a unique key
# settles; the holder renews `expires_at` while it works, so a holder killed mid-run
# frees the job when its lease runs out. See store/leases.py.
job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),  # host:pid:random
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# One row per source per `paperfeed update` run: what it fetched and how it ended.
# status: 'running' (or killed while running), 'ok', 'failed'. The newest 'ok' row's
# `until` is where the source's next run starts (the last OAI datestamp harvested, the
# last Hugging Face day seen), so a failed source is retried from the same place.
update_runs = sa.Table(
    "update_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),  # 'arxiv', 'hf-daily'
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("since", sa.Date, nullable=False),
    sa.Column("until", sa.Date, nullable=False),
    sa.Column("via", sa.Text),  # what answered: 'oai', 'arxiv-api', 'hf-api'
    sa.Column("added", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rejected", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Index("ix_update_runs_source_status", "source", "status", "id"),
)

# --- Vector search with pgvector (issue 15; version 9) ---
# Not in `metadata`: its column type needs PostgreSQL's `vector` extension, which SQLite
# lacks and a server may not offer. index/pgvector.py creates it when it can (migration 9,
# `paperfeed index --vectors pgvector`, or the first start with PAPERFEED_VECTORS unset).
pgvector_metadata = sa.MetaData()


class HalfVector(sa.types.UserDefinedType):
    """pgvector's `halfvec(n)`: n float16 values (half the disk and cache of `vector`)."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def get_col_spec(self, **kw: object) -> str:
        return f"halfvec({self.dim})"


# A searchable copy of paper_embeddings (which stays the float32 record), with the
# paper's day (YYYYMMDD, 0 when undated) and categories beside each vector, so that
# filtered searches never join papers while walking the HNSW graph.
paper_vectors = sa.Table(
    "paper_vectors",
    pgvector_metadata,
    sa.Column(
        "paper_id",
        sa.Integer,
        sa.ForeignKey(papers.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("embedding", HalfVector(384), nullable=False),  # index/embedder.py's DIM
    sa.Column("day", sa.Integer, nullable=False),
    sa.Column("categories", sa.ARRAY(sa.Text), nullable=False),
    sa.Column("embedded_at", sa.DateTime, nullable=False),
    sa.Index("ix_paper_vectors_model", "model", "embedded_at"),
    sa.Index("ix_paper_vectors_day", "day"),
    sa.Index("ix_paper_vectors_categories", "categories", postgresql_using="gin"),
)


# --- One-line summaries (TL;DR), version 10 ---

# A paper's TL;DR: one sentence of its abstract chosen by services/tldr.py. `method`
# names the scorer's weights (tldr_weights.METHOD): a paper summarized by another
# method, or ingested again since, is summarized again. `tldr` is NULL for an abstract
# with no sentence.
paper_tldrs = sa.Table(
    "paper_tldrs",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("tldr", sa.Text),
    sa.Column("computed_at", sa.DateTime, nullable=False),
)

# --- Trends: rising topics (version 11) ---

# The phrases of titles and abstracts whose share of papers grew most in the last weeks
# (services/rising.py), replaced as a whole by the indexing job; `rank` 1 is the best.
rising_phrases = sa.Table(
    "rising_phrases",
    metadata,
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("phrase", sa.Text, nullable=False),
    sa.Column("recent_papers", sa.Integer, nullable=False),  # papers with it, recent window
    sa.Column("before_papers", sa.Integer, nullable=False),  # papers with it, the weeks before
    sa.Column("log_odds", sa.Float, nullable=False),
    sa.Column("z_score", sa.Float, nullable=False),
)

# The last computation of rising_phrases (one row): the windows it compared, and the newest
# `papers.ingested_at` it saw (the job recomputes only when papers changed since).
rising_runs = sa.Table(
    "rising_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("computed_at", sa.DateTime, nullable=False),
    sa.Column("clock", sa.Date),  # the window's last day; None: no dated paper yet
    sa.Column("recent_total", sa.Integer, nullable=False),
    sa.Column("before_total", sa.Integer, nullable=False),
    sa.Column("papers_ingested_until", sa.DateTime),
)

# --- Your library: reading state and private notes (version 14) ---

# A reader's mark on a paper: 'read' or 'later' (read later); no row, no mark.
reading_states = sa.Table(
    "reading_states",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_reading_states_user", "user_id", "updated_at"),
)

# A reader's private note on a paper (Markdown, shown sanitized like comments).
paper_notes = sa.Table(
    "paper_notes",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_paper_notes_user", "user_id", "updated_at"),
)


# --- Personal data: the one list "your data" downloads and account deletion follows ---


@dataclass(frozen=True)
class PersonalTable:
    """A table holding what a reader made or is. `owner`: its column naming users.id.
    `on_delete` when the account goes: 'delete' the rows; 'detach' (set `owner` to NULL:
    the row is not theirs alone, e.g. a paper they put on a daily list); 'anonymize'
    (comments: given to the deleted-user placeholder, or deleted if the reader asks).
    `email_key`: a column also matched against the reader's email key (a subscription
    made before signing up). `secret`: columns never downloaded. `download` False: the
    rows are the site's bookkeeping (sessions), deleted but not handed out. Rows of
    tables that reference a personal table (a collection's items) go with their parent."""

    table: str
    owner: str
    on_delete: Literal["delete", "detach", "anonymize"] = "delete"
    email_key: str | None = None
    secret: tuple[str, ...] = ()
    download: bool = True


PERSONAL_DATA: tuple[PersonalTable, ...] = (
    PersonalTable("users", "id", secret=("password_hash", "username_key", "email_key")),
    PersonalTable("sessions", "user_id", download=False),
    PersonalTable("votes", "user_id"),
    PersonalTable("comments", "user_id", on_delete="anonymize"),
    PersonalTable("daily_entries", "submitted_by", on_delete="detach"),
    PersonalTable("collections", "user_id"),
    PersonalTable("not_interested", "user_id"),
    PersonalTable("interest_seeds", "user_id"),
    PersonalTable(
        "subscriptions", "user_id", email_key="email_key", secret=("confirm_nonce", "email_key")
    ),
    PersonalTable("reading_states", "user_id"),
    PersonalTable("paper_notes", "user_id"),
    PersonalTable("follows", "user_id"),
    PersonalTable("feed_tokens", "user_id", secret=("token_hash",)),
    # decided_by (the admin who decided) is set to NULL by its foreign key when they go.
    PersonalTable("author_claims", "user_id"),
)
# Tables that reference users.id but hold nothing of the reader's: none today. Each
# entry says why (tests/test_your_data.py holds every reference to one list or the other).
PERSONAL_DATA_EXEMPT: dict[str, str] = {}

# --- Authors: one matcher, follows, feed tokens, claims (version 13) ---
# Personal data (what a data download holds and an account deletion removes): `follows`,
# `feed_tokens` and `author_claims` rows of the user (author_claims.decided_by also
# names the admin who decided: set to NULL when that admin's account goes).

# Each author of each paper as the matcher reads it (paperfeed/authors.py): written once
# at ingest, so that author pages find a name's papers by key without reading every paper.
paper_authors = sa.Table(
    "paper_authors",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),  # as the paper writes it
    sa.Column("key", sa.Text, nullable=False),  # "y lecun"
    sa.Column("first", sa.Text),  # "yann"; NULL when the paper gives initials only
    sa.Index("ix_paper_authors_key", "key", "paper_id"),
)

# Authors and categories a reader follows: kind 'author' (value: the name as followed) or
# 'category' (an arXiv category).
follows = sa.Table(
    "follows",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# The secret of a reader's personal Atom feed: only its SHA-256 is stored (like sessions);
# a new token replaces the old one, deleting the row revokes it.
feed_tokens = sa.Table(
    "feed_tokens",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# "I am this author of this paper". status: 'pending' -> 'approved' | 'rejected' (by an
# admin). A rejected claim may be made again, with a note: a new row.
author_claims = sa.Table(
    "author_claims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author_name", sa.Text, nullable=False),  # as the paper writes it
    sa.Column("author_key", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Index("ix_author_claims_status", "status", "created_at"),
    sa.Index("ix_author_claims_paper", "paper_id"),
    sa.Index("ix_author_claims_key", "author_key", "status"),
)


# --- A map of papers (version 12) ---

# Where each embedded paper sits on the 2D map: placed by the full layout
# (`paperfeed index --map`, placed_by 'layout') or, between layouts, at the mean position
# of its nearest placed neighbours in embedding space ('neighbours').
map_points = sa.Table(
    "map_points",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("x", sa.Float, nullable=False),
    sa.Column("y", sa.Float, nullable=False),
    sa.Column("region", sa.Integer, nullable=False),
    sa.Column("placed_by", sa.Text, nullable=False),
    sa.Column("placed_at", sa.DateTime, nullable=False),
    sa.Index("ix_map_points_xy", "x", "y"),
)

# The labelled groups of the layout: a label from the group's distinctive title words,
# its centroid on the map and how many papers it held when laid out.
map_regions = sa.Table(
    "map_regions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("x", sa.Float, nullable=False),
    sa.Column("y", sa.Float, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("laid_out_at", sa.DateTime, nullable=False),
)

# --- Stored similar papers (version 15) ---

# Each embedded paper's nearest papers when its list was computed (index/similar.py):
# NEIGHBOURS_KEPT pairs of (paper id int64, cosine float32), best first, packed. Derived
# data, as the vectors are: the indexer computes it again when it is missing or old.
similar_papers = sa.Table(
    "similar_papers",
    metadata,
    sa.Column("paper_id", sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("neighbours", sa.LargeBinary, nullable=False),
    sa.Column("computed_at", sa.DateTime, nullable=False),
)
