from datetime import datetime, timedelta

from paperfeed.services.trending import Vote, score

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
