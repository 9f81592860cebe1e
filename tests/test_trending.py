from datetime import date, datetime, timedelta

import sqlalchemy as sa

from paperfeed.records import DailyRecord, PaperRecord, validate_daily, validate_paper
from paperfeed.services.accounts import create_user
from paperfeed.services.community import set_vote
from paperfeed.services.trending import Vote, reference_time, score, trending
from paperfeed.store.community import upsert_daily
from paperfeed.store.schema import papers

NOW = datetime(2026, 8, 21, 12)


def test_recent_votes_count_more_than_old_ones():
    fresh = score([Vote(NOW - timedelta(hours=1), 10)], NOW - timedelta(days=2), NOW)
    stale = score([Vote(NOW - timedelta(days=5), 10)], NOW - timedelta(days=2), NOW)
    assert fresh > 5 * stale


def test_a_vote_loses_half_its_weight_every_36_hours():
    born = NOW
    assert score([Vote(NOW - timedelta(hours=36))], born, NOW) == 0.5


def test_older_papers_need_more_votes():
    votes = [Vote(NOW - timedelta(hours=2), 20)]
    new_paper = score(votes, NOW - timedelta(days=1), NOW)
    old_paper = score(votes, NOW - timedelta(days=365), NOW)
    assert new_paper > 50 * old_paper
    assert score([Vote(NOW, 1)], NOW - timedelta(days=7), NOW) == 1 / 2**1.5


def test_more_votes_at_the_same_time_rank_higher_and_no_votes_score_zero():
    born = NOW - timedelta(days=1)
    assert score([Vote(NOW, 30)], born, NOW) > score([Vote(NOW, 29)], born, NOW)
    assert score([], born, NOW) == 0
    # A vote from the future (clock skew) counts as now, never more.
    assert score([Vote(NOW + timedelta(days=1))], NOW, NOW) == 1


def _featured(store, count: int, day: date) -> None:
    """`count` papers on the Hugging Face list of `day`, paper n with n imported upvotes."""
    entries = [
        validate_daily(
            DailyRecord(
                paper=validate_paper(
                    PaperRecord(
                        arxiv_id=f"2608.{n:05d}",
                        title=f"Featured {n}",
                        abstract="An abstract.",
                        authors=["Ada"],
                        categories=[],
                    )
                ),
                day=day,
                upvotes=n,
            )
        )
        for n in range(1, count + 1)
    ]
    with store.engine.begin() as conn:
        upsert_daily(conn, entries)


def test_local_votes_on_old_data_keep_the_list_full(fresh_db):
    """The demo case: imported votes months old, then a reader votes today. The list
    keeps every featured paper, and the local votes count (as cast at the data's end)."""
    _featured(fresh_db, 40, date(2026, 8, 20))
    with fresh_db.engine.begin() as conn:
        before = trending(conn, limit=50)
        reader = create_user(conn, "reader", "reader@example.org", "a long password")
        for n in (1, 2, 3, 4):
            set_vote(conn, reader.id, f"2608.{n:05d}", True)
    with fresh_db.engine.connect() as conn:
        after = trending(conn, limit=50)
        assert reference_time(conn).date() == date(2026, 8, 21)
    assert len(before) == len(after) == 40
    scores_before, scores_after = dict(before), dict(after)
    assert (
        scores_after[paper_id(fresh_db, "2608.00040")]
        == scores_before[paper_id(fresh_db, "2608.00040")]
    )
    # Paper 4 had 4 imported upvotes; one local vote more moves it above paper 5 (5 upvotes).
    ranked = [pid for pid, _ in after]
    assert ranked.index(paper_id(fresh_db, "2608.00004")) < ranked.index(
        paper_id(fresh_db, "2608.00005")
    )


def paper_id(store, arxiv_id: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(papers.c.id).where(papers.c.arxiv_id == arxiv_id)).scalar()
