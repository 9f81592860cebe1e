"""The store on both engines: migrations, idempotent upserts, merge rules, community data."""

from datetime import date, datetime

import sqlalchemy as sa

from paperfeed.records import DailyRecord, PaperRecord, validate_daily, validate_paper
from paperfeed.store import Store
from paperfeed.store.community import upsert_daily
from paperfeed.store.migrations import LATEST_VERSION, MIGRATIONS, current_version
from paperfeed.store.papers import upsert_papers
from paperfeed.store.schema import comments, paper_categories, papers, users, votes


def rec(n=1, **changes) -> PaperRecord:
    base = dict(
        arxiv_id=f"2601.{n:05d}",
        title=f"Paper {n}",
        abstract="Abstract.",
        authors=["Ada", "Bo"],
        categories=["cs.CL"],
        version=1,
    )
    base.update(changes)
    return validate_paper(PaperRecord(**base))


def daily(n=1, day=date(2026, 1, 5), upvotes=3, **changes) -> DailyRecord:
    paper = rec(n, version=None, categories=[], title=f"HF title {n}")
    return validate_daily(DailyRecord(paper=paper, day=day, upvotes=upvotes, **changes))


def row(store: Store, arxiv_id: str) -> dict:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(sa.select(papers).where(papers.c.arxiv_id == arxiv_id)).mappings().one()
        )


def write(store: Store, records, source="arxiv"):
    with store.engine.begin() as conn:
        return [status for _, status in upsert_papers(conn, records, source)]


def test_fresh_store_is_migrated_and_reopening_changes_nothing(empty_db_url):
    with Store(empty_db_url) as store, store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
    with Store(empty_db_url) as store, store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        assert sa.inspect(conn).has_table("daily_entries")


def test_sqlite_store_uses_wal_and_foreign_keys(sqlite_db):
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upsert_is_idempotent(fresh_db):
    assert write(fresh_db, [rec(1), rec(2)]) == ["added", "added"]
    assert write(fresh_db, [rec(1), rec(2)]) == ["unchanged", "unchanged"]
    stored = row(fresh_db, "2601.00001")
    assert stored["authors"] == ["Ada", "Bo"]
    assert stored["categories"] == ["cs.CL"]


def test_newer_version_updates_and_older_version_does_not(fresh_db):
    write(fresh_db, [rec(1, version=2, title="Second version")])
    assert write(fresh_db, [rec(1, version=1, title="First version")]) == ["unchanged"]
    assert row(fresh_db, "2601.00001")["title"] == "Second version"
    assert write(
        fresh_db, [rec(1, version=3, title="Third version", categories=["cs.LG", "cs.AI"])]
    ) == ["updated"]
    stored = row(fresh_db, "2601.00001")
    assert (stored["title"], stored["version"]) == ("Third version", 3)
    with fresh_db.engine.connect() as conn:
        cats = set(conn.execute(sa.select(paper_categories.c.category)).scalars())
    assert cats == {"cs.LG", "cs.AI"}


def test_dates_keep_earliest_publication_and_latest_update(fresh_db):
    write(
        fresh_db,
        [
            rec(
                1,
                published_at=datetime(2026, 1, 2),
                updated_at=datetime(2026, 1, 2),
                announced_date=date(2026, 1, 3),
            )
        ],
    )
    write(
        fresh_db,
        [
            rec(
                1,
                version=2,
                published_at=datetime(2026, 1, 2),
                updated_at=datetime(2026, 2, 1),
                announced_date=date(2026, 2, 2),
            )
        ],
    )
    stored = row(fresh_db, "2601.00001")
    assert stored["published_at"] == datetime(2026, 1, 2)
    assert stored["updated_at"] == datetime(2026, 2, 1)
    assert stored["announced_date"] == date(2026, 1, 3)


def test_less_authoritative_source_only_fills_blanks_in_either_order(fresh_db, tmp_path):
    arxiv = rec(1, comment="10 pages", version=None, announced_date=date(2026, 1, 3))
    hf = daily(1, submitted_by="alice")
    with fresh_db.engine.begin() as conn:
        upsert_papers(conn, [arxiv], "jsonl")
        upsert_daily(conn, [hf])
    first = row(fresh_db, "2601.00001")
    with Store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        with other.engine.begin() as conn:
            upsert_daily(conn, [daily(1, submitted_by="alice")])
            upsert_papers(
                conn,
                [rec(1, comment="10 pages", version=None, announced_date=date(2026, 1, 3))],
                "jsonl",
            )
        second = row(other, "2601.00001")
    keys = ("title", "categories", "comment", "announced_date", "published_at", "metadata_rank")
    assert {k: first[k] for k in keys} == {k: second[k] for k in keys}
    assert first["title"] == "Paper 1"  # the arXiv title, not HF's copy
    assert first["categories"] == ["cs.CL"]


def test_equal_sources_that_disagree_settle_on_the_first_and_rerun_unchanged(fresh_db):
    batch = [daily(1, day=date(2026, 1, 5)), daily(1, day=date(2026, 1, 6))]
    batch[1].paper.title = "A retitled copy"
    for expected in (["added", "added"], ["unchanged", "unchanged"]):
        with fresh_db.engine.begin() as conn:
            assert [s for *_, s in upsert_daily(conn, batch)] == expected
    assert row(fresh_db, "2601.00001")["title"] == "HF title 1"


def test_at_equal_rank_a_versioned_record_beats_an_unversioned_one_in_either_order(fresh_db):
    unversioned = rec(1, version=None, title="Listing title")
    versioned = rec(1, version=2, title="Snapshot title")
    assert write(fresh_db, [unversioned], "jsonl") == ["added"]
    assert write(fresh_db, [versioned], "jsonl") == ["updated"]
    assert write(fresh_db, [unversioned], "jsonl") == ["unchanged"]
    assert row(fresh_db, "2601.00001")["title"] == "Snapshot title"
    assert write(fresh_db, [rec(2, version=2, title="Snapshot title")], "jsonl") == ["added"]
    assert write(fresh_db, [rec(2, version=None, title="Listing title")], "jsonl") == ["unchanged"]


def test_same_paper_twice_in_one_batch(fresh_db):
    assert write(fresh_db, [rec(1), rec(1, version=2, title="v2")]) == ["added", "updated"]
    assert row(fresh_db, "2601.00001")["title"] == "v2"


def test_daily_upsert_counts_only_grow_and_reingest_keeps_local_votes(fresh_db):
    with fresh_db.engine.begin() as conn:
        statuses = [s for *_, s in upsert_daily(conn, [daily(1, upvotes=5, submitted_by="al")])]
    assert statuses == ["added"]
    with fresh_db.engine.begin() as conn:
        paper_id = conn.execute(sa.select(papers.c.id)).scalar_one()
        user_id = conn.execute(
            users.insert().values(
                username="reader", origin="local", created_at=datetime(2026, 1, 1)
            )
        ).inserted_primary_key[0]
        conn.execute(
            votes.insert().values(
                user_id=user_id, paper_id=paper_id, created_at=datetime(2026, 1, 5)
            )
        )
        conn.execute(
            comments.insert().values(
                paper_id=paper_id, user_id=user_id, body="Nice", created_at=datetime(2026, 1, 5)
            )
        )
    with fresh_db.engine.begin() as conn:
        # An older snapshot with fewer upvotes, then a new arXiv version.
        assert [s for *_, s in upsert_daily(conn, [daily(1, upvotes=2)])] == ["unchanged"]
        assert [s for *_, s in upsert_daily(conn, [daily(1, upvotes=9)])] == ["updated"]
        upsert_papers(conn, [rec(1, version=4, title="New version")], "arxiv")
    with fresh_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(comments)).scalar() == 1
        upvotes = conn.exec_driver_sql("SELECT imported_upvotes FROM daily_entries").scalar()
        submitter = conn.exec_driver_sql(
            "SELECT s.name FROM daily_entries d"
            " JOIN imported_submitters s ON s.id = d.imported_submitter_id"
        ).scalar()
    assert (upvotes, submitter) == (9, "al")
    assert row(fresh_db, "2601.00001")["title"] == "New version"


def test_links_from_the_newest_list_win_and_reruns_change_nothing(fresh_db):
    older = daily(
        1,
        day=date(2026, 1, 5),
        github_repo="https://github.com/a/b",
        github_stars=3,
        project_page="https://old.example",
    )
    newer = daily(1, day=date(2026, 1, 9), github_stars=10, project_page="https://p.example")
    with fresh_db.engine.begin() as conn:
        upsert_daily(conn, [newer])
        result = upsert_daily(conn, [older])  # an older list only fills the blank repo
        assert result[0][2] == "added"  # a new (paper, day) entry
        rerun = upsert_daily(conn, [older, newer])
    assert [r[2] for r in rerun] == ["unchanged", "unchanged"]
    with fresh_db.engine.connect() as conn:
        links = conn.exec_driver_sql(
            "SELECT github_repo, github_stars, project_page FROM paper_links"
        ).one()
    assert tuple(links) == ("https://github.com/a/b", 10, "https://p.example")


def test_workers_starting_together_migrate_once(empty_db_url):
    """Several app workers opening one fresh database at the same moment."""
    from concurrent.futures import ThreadPoolExecutor

    def open_store(_):
        with Store(empty_db_url) as store, store.engine.connect() as conn:
            return current_version(conn)

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(open_store, range(6)))
    assert versions == [LATEST_VERSION] * 6
    with Store(empty_db_url) as store, store.engine.connect() as conn:
        applied = conn.exec_driver_sql("SELECT count(*) FROM schema_migrations").scalar()
    assert applied == len(MIGRATIONS)  # one row per step; numbers may have gaps


def test_an_older_database_is_upgraded_step_by_step(db_url):
    """A store at version 1 (no embeddings table, no ingested_at index) is brought to the
    latest version on open, and keeps its papers."""
    with Store(db_url) as store, store.engine.begin() as conn:
        upsert_papers(conn, [rec(1)], "arxiv")
        conn.exec_driver_sql("DROP TABLE paper_embeddings")
        conn.exec_driver_sql("DROP INDEX ix_papers_ingested_at")
        conn.exec_driver_sql("DELETE FROM schema_migrations WHERE version > 1")
    with Store(db_url) as store, store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        inspector = sa.inspect(conn)
        assert inspector.has_table("paper_embeddings")
        assert "ix_papers_ingested_at" in {i["name"] for i in inspector.get_indexes("papers")}
        assert conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() == 1


def test_a_step_below_the_newest_applied_one_still_runs(sqlite_url):
    """Branches number steps ahead of each other: a database may have 7 and not 6."""
    import sqlalchemy as sa

    from paperfeed.store.schema import schema_migrations

    with Store(sqlite_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE digest_outbox"))
        conn.execute(sa.text("DROP TABLE subscriptions"))
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version == 5))
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        assert sa.inspect(conn).has_table("digest_outbox")
        versions = set(conn.execute(sa.select(schema_migrations.c.version)).scalars())
    assert versions == {v for v, _, _ in MIGRATIONS}
