"""For you: the ranking on invented vectors, the service on both engines (invented papers
on three topics, embedded by the real model), and `paperfeed eval recommend` on a small
invented daily-papers file."""

from __future__ import annotations

import importlib.util
import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from paperfeed.cli import cli
from paperfeed.index.embedder import DIM, Embedder, paper_text
from paperfeed.records import PaperRecord, utcnow
from paperfeed.services.accounts import create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.services.recommend import (
    BULK_CURATOR_MIN,
    RankSettings,
    Recommender,
    interest_centroids,
    load_eval_corpus,
    rank,
    shared_authors,
)
from paperfeed.services.search import SearchEngine
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.store import Store
from paperfeed.store.papers import upsert_papers
from paperfeed.store.schema import (
    collection_items,
    collections,
    daily_entries,
    interest_seeds,
    not_interested,
    paper_embeddings,
    votes,
)

FIXTURE = Path(__file__).parent / "fixtures" / "hf_daily_recommend.jsonl"
NONE = np.zeros((0, DIM), dtype=np.float32)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def topic(axis: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[axis] = 1.0
    return vector


def near(axis: int, count: int, seed: int, spread: float = 0.4) -> np.ndarray:
    """`count` unit vectors scattered around the axis-th basis vector."""
    rng = np.random.default_rng(seed)
    return unit(topic(axis) + spread * rng.normal(size=(count, DIM)) / np.sqrt(DIM) * 3)


# --- rank, on plain arrays ---------------------------------------------------------------


def test_the_liked_topic_ranks_first():
    liked = near(0, 5, seed=1)
    candidates = np.concatenate([near(1, 10, seed=2), near(0, 10, seed=3), near(2, 10, seed=4)])
    picks = rank(liked, NONE, candidates, limit=10, settings=RankSettings(diversity=0.0))
    assert sorted(p.row for p in picks) == list(range(10, 20))
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)


def test_two_interests_are_kept_apart_not_averaged():
    # Liked: graphs and speech. Their average is a paper about neither.
    liked = np.concatenate([near(0, 8, seed=1), near(1, 8, seed=2)])
    graph, speech = near(0, 1, seed=3, spread=0.1)[0], near(1, 1, seed=4, spread=0.1)[0]
    middle = unit(topic(0) + topic(1))
    candidates = np.stack([middle, graph, speech])
    assert len(interest_centroids(liked)) == 2
    picks = rank(liked, NONE, candidates, limit=3, settings=RankSettings(diversity=0.0))
    assert picks[-1].row == 0
    # With a single centroid (the mean), the in-between paper would win: what k-means avoids.
    mean_only = rank(liked, NONE, candidates, 3, RankSettings(max_centroids=1, diversity=0.0))
    assert mean_only[0].row == 0


def test_not_interested_pushes_a_paper_and_its_neighbours_down():
    liked = near(0, 6, seed=1)
    candidates = near(0, 12, seed=2)
    before = [p.row for p in rank(liked, NONE, candidates, limit=12)]
    disliked = candidates[before[0]][None, :]
    after = [p.row for p in rank(liked, disliked, candidates, limit=12)]
    assert after.index(before[0]) > 5
    assert after[0] != before[0]


def test_diversity_breaks_up_near_duplicates():
    liked = near(0, 4, seed=1)
    duplicate = near(0, 1, seed=2)[0]
    copies = unit(duplicate + 0.01 * np.random.default_rng(3).normal(size=(5, DIM)))
    others = near(0, 5, seed=4, spread=0.9)
    candidates = np.concatenate([copies, others])
    plain = rank(liked, NONE, candidates, limit=3, settings=RankSettings(diversity=0.0))
    assert {p.row for p in plain} <= set(range(5))  # the copies score highest
    diverse = rank(liked, NONE, candidates, limit=3, settings=RankSettings(diversity=0.3))
    assert len({p.row for p in diverse} & set(range(5))) == 1


def test_explanations_name_the_nearest_liked_papers():
    liked = unit(np.stack([topic(0), topic(1), topic(2)]))
    candidates = unit(np.stack([topic(1) + 0.2 * topic(2), topic(2) + 0.1 * topic(0)]))
    picks = {p.row: p.nearest for p in rank(liked, NONE, candidates, limit=2)}
    assert picks[0] == [1, 2]
    assert picks[1] == [2, 0]


def test_shared_authors_counts_names_case_insensitively():
    shared = shared_authors(
        [["Ada Lovelace", "Bo Chen"], ["bo chen"], ["Someone Else"]],
        [["Bo Chen", "Cy Park"], ["ada lovelace", "BO CHEN"]],
    )
    assert shared.tolist() == [[1, 2], [1, 1], [0, 0]]


def test_a_shared_author_lifts_a_paper_and_explains_it():
    liked = near(0, 4, seed=1)
    candidates = near(0, 6, seed=2)
    plain = [p.row for p in rank(liked, NONE, candidates, limit=6)]
    shared = np.zeros((6, 4), dtype=np.float32)
    shared[plain[-1], 3] = 2  # the last one shares two authors with liked paper 3
    lifted = rank(liked, NONE, candidates, limit=6, shared=shared)
    assert lifted[0].row == plain[-1]
    assert lifted[0].nearest[0] == 3
    no_authors = rank(liked, NONE, candidates, 6, RankSettings(author_weight=0.0), shared)
    assert [p.row for p in no_authors] == plain


def test_empty_inputs_give_an_empty_list():
    assert rank(NONE, NONE, near(0, 5, seed=1)) == []
    assert rank(near(0, 3, seed=1), NONE, NONE) == []
    # Fewer candidates than asked for: all of them, no error.
    assert len(rank(near(0, 3, seed=1), near(1, 2, seed=2), near(0, 4, seed=3), 20)) == 4


# --- Recommender.for_user on a store -----------------------------------------------------

# Three topics; each paper's abstract takes one of six angles on its topic.
TOPICS = {
    0: ("Graph", "cs.LG", date(2026, 1, 10), "graph neural networks and message passing"),
    1: ("Speech", "cs.CL", date(2026, 2, 10), "speech recognition of spoken audio"),
    2: ("Robot", "cs.RO", date(2026, 3, 10), "robot arms grasping objects"),
}
ANGLES = [
    "a new architecture",
    "a benchmark",
    "scaling laws",
    "a survey",
    "efficient training",
    "robustness",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(max_tokens=128)


@pytest.fixture(scope="module")
def topic_papers(embedder: Embedder) -> tuple[list[PaperRecord], np.ndarray]:
    """Six invented papers per topic (arXiv ids 2601.AANNN, AA = topic), embedded once."""
    records = [
        PaperRecord(
            arxiv_id=f"2601.{axis:02d}{n:03d}",
            title=f"{name} paper {n}",
            abstract=f"We study {subject}: {angle}.",
            authors=[f"{name} Author", f"Person {n}"],
            categories=[category],
            primary_category=category,
            announced_date=announced,
            published_at=datetime.combine(announced, datetime.min.time()),
        )
        for axis, (name, category, announced, subject) in TOPICS.items()
        for n, angle in enumerate(ANGLES)
    ]
    vectors = embedder.embed([paper_text(r.title, r.abstract) for r in records])
    return records, vectors


@pytest.fixture
def library(
    fresh_db: Store, tmp_path: Path, embedder: Embedder, topic_papers
) -> tuple[Recommender, dict[str, int]]:
    """The topic papers with their vectors in a store, users, and a Recommender on it."""
    records, vectors = topic_papers
    now = utcnow()
    with fresh_db.engine.begin() as conn:
        ids = [pid for pid, _ in upsert_papers(conn, records, "jsonl")]
        conn.execute(
            paper_embeddings.insert(),
            [
                {
                    "paper_id": pid,
                    "model": embedder.model_id,
                    "vector": v.tobytes(),
                    "embedded_at": now,
                }
                for pid, v in zip(ids, vectors, strict=True)
            ],
        )
        user_ids = {
            name: create_user(conn, name, f"{name}@example.org", "correct horse").id
            for name in ("alice", "bob", "carol", "dan")
        }
    paper = {r.arxiv_id: pid for r, pid in zip(records, ids, strict=True)}
    engine = SearchEngine(fresh_db, tmp_path / "data", embedder=embedder)
    for _ in engine.keyword.sync(fresh_db):  # the liked authors' papers are found there
        pass
    return Recommender(fresh_db, engine), {**paper, **user_ids}


def _arxiv_ids(found) -> list[str]:
    return [r.paper.arxiv_id for r in found]


def test_for_user_learns_from_votes_collections_and_submissions(library, fresh_db):
    recommender, ids = library
    alice, now = ids["alice"], utcnow()
    with fresh_db.engine.begin() as conn:
        conn.execute(
            votes.insert(),
            [
                {"user_id": alice, "paper_id": ids[f"2601.00{n:03d}"], "created_at": now}
                for n in (0, 1)
            ],
        )
        collection = conn.execute(
            collections.insert().values(
                user_id=alice, name="Graphs", created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]
        conn.execute(
            collection_items.insert().values(
                collection_id=collection, paper_id=ids["2601.00002"], added_at=now
            )
        )
        conn.execute(
            daily_entries.insert().values(
                paper_id=ids["2601.00003"],
                day=date(2026, 1, 12),
                submitted_by=alice,
                origin="local",
            )
        )
        conn.execute(
            not_interested.insert().values(
                user_id=alice, paper_id=ids["2601.00004"], created_at=now
            )
        )
    found = recommender.for_user(alice, limit=5)
    assert len(found) == 5
    # The one graph paper she has neither seen nor dismissed comes first.
    assert found[0].paper.arxiv_id == "2601.00005"
    assert not {"2601.00000", "2601.00001", "2601.00002", "2601.00003", "2601.00004"} & set(
        _arxiv_ids(found)
    )
    liked = {f"2601.00{n:03d}" for n in range(4)}
    assert found[0].because and {ref for ref, _ in found[0].because} <= liked
    assert found[0].because[0][1].startswith("Graph paper")
    # Diversity may reorder the rest, never the best match.
    assert found[0].score == max(r.score for r in found)
    as_json = found[0].to_json()
    assert as_json["arxiv_id"] == "2601.00005"
    assert as_json["because"][0] == dict(zip(("ref", "title"), found[0].because[0], strict=True))


def test_for_user_follows_the_authors_of_liked_papers(library, fresh_db):
    recommender, ids = library
    with fresh_db.engine.begin() as conn:
        conn.execute(
            votes.insert().values(
                user_id=ids["dan"], paper_id=ids["2601.00001"], created_at=utcnow()
            )
        )
    found = recommender.for_user(ids["dan"], limit=7)
    # The other graph papers, then the two of other topics by "Person 1", his co-author.
    assert {a[:7] for a in _arxiv_ids(found[:5])} == {"2601.00"}
    assert set(_arxiv_ids(found[5:])) == {"2601.01001", "2601.02001"}
    assert found[5].because[0] == ("2601.00001", "Graph paper 1")


def test_for_user_since_keeps_recent_papers_only(library, fresh_db):
    recommender, ids = library
    with fresh_db.engine.begin() as conn:
        conn.execute(
            votes.insert().values(
                user_id=ids["alice"], paper_id=ids["2601.00000"], created_at=utcnow()
            )
        )
    found = recommender.for_user(ids["alice"], limit=20, since=date(2026, 3, 1))
    assert found and all(r.paper.announced_date >= date(2026, 3, 1) for r in found)
    assert len(found) == 6  # the robot papers: the graph papers are older


@pytest.mark.parametrize(
    ("kind", "value", "topic_prefix", "because"),
    [
        ("category", "cs.CL", "2601.01", ("category:cs.CL", "cs.CL")),
        ("author", "Robot Author", "2601.02", ("author:Robot Author", "Robot Author")),
        ("text", "A pasted abstract on speech", "2601.01", ("text", "A pasted abstract on speech")),
        ("paper", "2601.02000", "2601.02", ("2601.02000", "Robot paper 0")),
    ],
)
def test_seeds_start_a_new_user(library, fresh_db, kind, value, topic_prefix, because):
    recommender, ids = library
    with fresh_db.engine.begin() as conn:
        conn.execute(
            interest_seeds.insert().values(
                user_id=ids["bob"], kind=kind, value=value, created_at=utcnow()
            )
        )
    found = recommender.for_user(ids["bob"], limit=5)
    assert len(found) == 5
    assert all(a.startswith(topic_prefix) for a in _arxiv_ids(found))
    if kind == "paper":
        assert value not in _arxiv_ids(found)  # a seed paper is not recommended back
    assert found[0].because == [because]


def test_no_signals_and_no_seeds_is_an_empty_list(library):
    recommender, ids = library
    assert recommender.for_user(ids["carol"]) == []
    assert recommender.for_user(999_999) == []


# --- the offline evaluation -------------------------------------------------------------


def test_eval_recommend_ends_with_one_json_line(tmp_path):
    result = CliRunner().invoke(
        cli, ["eval", "recommend", str(FIXTURE), "--work-dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["users"] == 3  # graph-fan, speech-fan, robot-fan; one-off submitters are not
    assert {"for_you", "most_upvoted", "tfidf_svm"} <= set(summary)
    for method in ("for_you", "most_upvoted"):
        assert set(summary[method]) == {"recall@20", "ndcg@20"}
    # Each user's three later papers are on their topic, among 40 more upvoted ones.
    assert summary["for_you"]["recall@20"] == 1.0
    assert summary["most_upvoted"]["recall@20"] < 0.5
    if importlib.util.find_spec("sklearn"):
        assert summary["tfidf_svm"]["recall@20"] > summary["most_upvoted"]["recall@20"]
    else:  # the baseline needs pip install -e '.[bench]'
        assert summary["tfidf_svm"] is None
    # A rerun finds the papers embedded already and gives the same numbers.
    again = CliRunner().invoke(
        cli, ["eval", "recommend", str(FIXTURE), "--work-dir", str(tmp_path), "--json"]
    )
    assert json.loads(again.output.strip().splitlines()[-1]) == summary


@pytest.mark.slow
def test_the_benchmark_users_of_the_real_archive(shared_data, sqlite_db):
    path = shared_data / "hf-daily-papers" / "hf_daily_papers.jsonl.gz"
    run_ingest(sqlite_db, HfDailyFileSource(path), show_progress=False)
    corpus = load_eval_corpus(sqlite_db, model="none")  # the split needs no vectors
    assert corpus.curators == [("taesiri", 1100), ("akhaliq", 701)]
    assert all(count >= BULK_CURATOR_MIN for _, count in corpus.curators)
    assert len(corpus.users) == 75
    for user in corpus.users:
        assert len(user.liked) >= 5 and user.truth
        assert all(corpus.last_featured[r] >= user.split_day for r in user.truth)
        assert user.truth <= set(corpus.candidates(user).tolist())
        assert not set(user.liked) & set(corpus.candidates(user).tolist())


# --- the /for-you page and its actions, over HTTP ------------------------------------------


def test_for_you_page_explains_and_learns_from_not_interested(library, fresh_db):
    from tests.conftest import live_site
    from tests.forms import session_client

    recommender, ids = library
    with fresh_db.engine.begin() as conn:
        conn.execute(
            votes.insert(),
            [
                {"user_id": ids["bob"], "paper_id": ids[f"2601.01{n:03d}"], "created_at": utcnow()}
                for n in range(3)
            ],
        )
    with live_site(fresh_db, search=recommender.search) as site:
        assert site.get("/for-you.json").status_code == 401
        assert "Log in" in site.get("/for-you").text
        client, csrf = session_client(fresh_db, str(site.base_url), ids["bob"])
        headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
        with client:
            found = client.get("/for-you.json").json()["papers"]
            assert found and found[0]["arxiv_id"].startswith("2601.01")  # speech, like his votes
            assert found[0]["because"][0]["ref"].startswith("2601.01")
            page = client.get("/for-you").text
            assert "Because of" in page and "Not interested" in page
            first = found[0]["arxiv_id"]
            marked = client.post(f"/papers/{first}/not-interested", headers=headers)
            assert marked.json() == {"paper": first, "not_interested": True}
            after = [p["arxiv_id"] for p in client.get("/for-you.json").json()["papers"]]
            assert first not in after
            assert client.post("/papers/2601.01000/not-interested").status_code == 403  # no CSRF

            # Stated interests: bad ones refused, good ones listed and removable.
            bad = client.post(
                "/for-you/interests", data={"kind": "mood", "value": "x"}, headers=headers
            )
            assert bad.status_code == 400
            added = client.post(
                "/for-you/interests", data={"kind": "category", "value": "cs.RO"}, headers=headers
            )
            assert added.json() == {"added": True}
            assert "category: cs.RO" in client.get("/for-you").text
            refs = {
                b["ref"] for p in client.get("/for-you.json").json()["papers"] for b in p["because"]
            }
            assert "category:cs.RO" in refs


def test_the_digest_for_you_section_comes_from_the_recommender(library, fresh_db, smtp_server):
    from paperfeed.config import Settings
    from paperfeed.services.accounts import create_user
    from paperfeed.services.digest import send_digests
    from paperfeed.services.recommend import digest_section
    from paperfeed.services.subscriptions import Prefs, add_subscriber

    recommender, ids = library
    settings = Settings(smtp_url=smtp_server.url, base_url="http://paperfeed.test")
    with fresh_db.engine.begin() as conn:
        ada = create_user(conn, "ada", "ada@example.org", "correct horse battery")
        conn.execute(
            votes.insert(),
            [
                {"user_id": ada.id, "paper_id": ids[f"2601.01{n:03d}"], "created_at": utcnow()}
                for n in range(3)
            ],
        )
    add_subscriber(
        fresh_db, settings, "ada@example.org", "daily", Prefs(trending=False, for_you=True), True
    )
    # 2026-02-10, a Tuesday, is the day the speech papers were announced.
    summary = send_digests(
        fresh_db, settings, date(2026, 2, 10), for_you=digest_section(recommender)
    )
    assert summary.sent == 1
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "== For you ==" in text
    assert "Speech paper 3" in text and "Speech paper 0" not in text  # liked ones left out


def test_stated_interests_are_checked_and_bounded(sqlite_db):
    from paperfeed.errors import ActionError
    from paperfeed.services.interests import MAX_TEXT_SEEDS, add_seed, seeds_of

    with sqlite_db.write() as conn:
        user_id = create_user(conn, "ada", "ada@example.org", "correct horse").id
        assert add_seed(conn, user_id, "paper", "https://arxiv.org/abs/2601.00001v2")
        assert not add_seed(conn, user_id, "paper", "2601.00001")  # the same paper
        for n in range(MAX_TEXT_SEEDS):
            assert add_seed(conn, user_id, "text", f"An abstract about topic {n}.")
        with pytest.raises(ActionError, match="pasted texts"):
            add_seed(conn, user_id, "text", "One abstract too many.")
        assert add_seed(conn, user_id, "category", "cs.CL")  # other kinds still fit
        for kind, value in [("mood", "x"), ("category", ""), ("paper", "not an id")]:
            with pytest.raises(ActionError):
                add_seed(conn, user_id, kind, value)
        seeds = seeds_of(conn, user_id)
    assert [s.value for s in seeds if s.kind == "paper"] == ["2601.00001"]
    assert len(seeds) == MAX_TEXT_SEEDS + 2
