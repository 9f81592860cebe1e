"""The `paperfeed` command: help, stats, and one clear line for every user error."""

import json

import pytest
from click.testing import CliRunner

from paperfeed.cli import cli
from tests.feeds import atom_feed, hf_api_entry, listing_line, paper
from tests.loopback import Reply

COMMANDS = [
    [],
    ["ingest"],
    ["ingest", "arxiv"],
    ["ingest", "oai"],
    ["ingest", "jsonl"],
    ["ingest", "hf-daily"],
    ["stats"],
    ["serve"],
    ["demo"],
    ["index"],
    ["search"],
    ["similar"],
    ["eval"],
    ["eval", "beir"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "paperfeed")
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 5


def test_ingest_then_stats_json(run_cli, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(listing_line(paper(n)) for n in range(1, 4)) + "\n{broken\n")
    result = run_cli("ingest", "jsonl", str(path), "--no-progress")
    assert result.exit_code == 0
    assert "3 added, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert f"rejected {path}:4: invalid JSON" in result.stderr
    daily = tmp_path / "2026-11-03.json"
    daily.write_text(json.dumps([hf_api_entry(paper(1), upvotes=7), hf_api_entry(paper(9))]))
    result = run_cli("ingest", "hf-daily", str(daily), "--no-progress")
    assert "2 added" in result.stdout and "1 new papers" in result.stdout
    stats = json.loads(run_cli("stats", "--json").stdout)
    assert (stats["papers"], stats["daily_entries"], stats["imported_upvotes"]) == (4, 2, 10)
    assert stats["by_category"] == {"cs.CL": 3, "cs.LG": 3}
    assert stats["by_month"]["2026-11"] == {"papers_announced": 3, "daily_entries": 2}
    assert stats["semantic_coverage"] == {"embedded": 0, "total": 4, "percent": 0.0}
    text = run_cli("stats").stdout
    assert "papers:        4" in text
    assert "embeddings:    semantic results cover 0 of 4 papers (0%)" in text


def test_live_sources_from_the_cli(run_cli_sqlite, http_server):
    http_server.route("/api/query", lambda p: Reply(atom_feed([paper(1), paper(2)], 2)))
    http_server.route("/api/daily_papers", lambda p: Reply(json.dumps([hf_api_entry(paper(2))])))
    result = run_cli_sqlite(
        "ingest",
        "arxiv",
        "-c",
        "cs.CL",
        "--since",
        "2026-11-01",
        "--base-url",
        f"{http_server.url}/api/query",
        "--no-progress",
    )
    assert "2 added" in result.stdout
    result = run_cli_sqlite(
        "ingest",
        "hf-daily",
        "--date",
        "2026-11-03",
        "--base-url",
        f"{http_server.url}/api",
        "--no-progress",
    )
    assert "1 added" in result.stdout and "new papers" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "jsonl", "/nonexistent/file.jsonl"], "cannot read /nonexistent/file.jsonl"),
        (["ingest", "hf-daily"], "give a PATH or at least one --date"),
        (
            ["ingest", "arxiv", "-c", "cs.CL", "--base-url", "ftp://example.org"],
            "not an http(s) URL",
        ),
        (
            ["ingest", "arxiv", "-c", "cs.CL", "--since", "2026-11-05", "--until", "2026-11-01"],
            "is after --until",
        ),
        (["ingest", "oai", "--base-url", "http://127.0.0.1:9/oai"], "gave up after 3 attempts"),
        (["ingest", "arxiv", "-c", "cs.CL", "--since", "yesterday"], "Invalid value for '--since'"),
    ],
)
def test_user_errors_are_one_clear_line_and_non_zero(run_cli_sqlite, args, message):
    result = run_cli_sqlite(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unsupported database 'mysql'"),
        ("nonsense", "bad database URL"),
        ("postgresql://nobody@127.0.0.1:9/none", "cannot open database"),
    ],
)
def test_bad_database_urls(url, message):
    result = CliRunner().invoke(cli, ["--db", url, "stats"])
    assert result.exit_code == 1
    assert message in result.output


def test_index_search_and_similar_from_the_cli(run_cli_sqlite, tmp_path):
    from tests.test_search import corpus_lines

    path = tmp_path / "topics.jsonl"
    path.write_text("\n".join(corpus_lines()))
    run_cli_sqlite("ingest", "jsonl", str(path), "--no-progress")
    # Keyword search works before any embedding, and says so.
    early = run_cli_sqlite("search", "tactile", "--json")
    data = json.loads(early.stdout)
    assert [h["arxiv_id"] for h in data["hits"]] == ["2611.00005"]
    assert data["semantic_available"] is False
    indexed = run_cli_sqlite("index", "--no-progress")
    assert "8 embedded" in indexed.stderr
    found = run_cli_sqlite("search", "robot hand picks up breakable items by feel")
    assert found.stdout.splitlines()[0].endswith("Grasping fragile objects with tactile feedback")
    similar = json.loads(run_cli_sqlite("similar", "2611.00002", "--json").stdout)
    assert "2611.00002" not in [h["arxiv_id"] for h in similar["hits"]]
    pasted = run_cli_sqlite("similar", "--text", "speech transcription for rare languages")
    assert "Speech recognition for low resource languages" in pasted.stdout.splitlines()[0]
    assert run_cli_sqlite("search", "x" * 3000).exit_code == 1
    assert run_cli_sqlite("similar").exit_code == 2


def test_demo_loads_the_demo_files_and_a_rerun_changes_nothing(run_cli_sqlite, tmp_path):
    import gzip

    from tests.feeds import hf_flat_line

    data = tmp_path / "data"
    (data / "hf-daily-papers").mkdir(parents=True)
    (data / "arxiv-cs-daily").mkdir()
    (data / "hf-daily-papers" / "hf_daily_papers_demo_last90d.jsonl.gz").write_bytes(
        gzip.compress(hf_flat_line(paper(1), "2026-08-20").encode())
    )
    (data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz").write_bytes(
        gzip.compress(
            "\n".join(
                [
                    listing_line(paper(1), "2026-08-20"),
                    listing_line(paper(2), "2026-08-21"),
                    listing_line(paper(3), "2025-01-02"),
                ]
            ).encode()
        )
    )
    run_cli_sqlite.env["PAPERFEED_DEMO_DATA"] = str(data)
    first = run_cli_sqlite("demo", "--no-serve")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout.splitlines()[-1])["papers"] == 2  # 2025 is before the window
    again = run_cli_sqlite("demo", "--no-serve")  # the same files: nothing is read again
    assert again.exit_code == 0, again.output
    assert "is loaded already" in again.output and "added" not in again.output
    assert json.loads(again.stdout.splitlines()[-1])["papers"] == 2
    # Another version of a file is loaded: its new records go in, the rest are unchanged.
    (data / "hf-daily-papers" / "hf_daily_papers_demo_last90d.jsonl.gz").write_bytes(
        gzip.compress(
            "\n".join(
                [hf_flat_line(paper(1), "2026-08-20"), hf_flat_line(paper(4), "2026-08-21")]
            ).encode()
        )
    )
    changed = run_cli_sqlite("demo", "--no-serve")
    assert "1 added, 0 updated, 1 unchanged" in changed.stdout
    assert json.loads(changed.stdout.splitlines()[-1])["papers"] == 3
