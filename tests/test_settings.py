"""Settings: read in one place (config.py), each in README's table, a bad value one line."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from paperfeed.cli import cli
from paperfeed.config import SettingError, Settings

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "src" / "paperfeed" / "config.py"
README = (ROOT / "README.md").read_text()


def _readme_table_variables() -> set[str]:
    table = re.search(r"## Configuration\n(.*?)\n\n(?!\|)", README, re.S).group(1)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    return {name for row in rows for name in re.findall(r"PAPERFEED_[A-Z_]+", row.split("|")[3])}


def test_every_setting_read_in_config_is_in_the_readme_table():
    read = set(re.findall(r'"(PAPERFEED_[A-Z_]+)"', CONFIG.read_text()))
    assert len(read) >= 25  # the regex still finds them
    assert read - _readme_table_variables() == set()
    assert _readme_table_variables() - read == set(), "the table lists a setting nobody reads"


def test_no_setting_is_read_outside_config():
    """One place for each setting: no click envvar=, no os.environ of a PAPERFEED_* name
    elsewhere in the package (PAPERFEED_DEMO_DATA, a path the demo command looks in, and
    PAPERFEED_NEW_PASSWORD, a secret one command reads instead of a prompt, are inputs of
    those commands, not settings)."""
    inputs = {"PAPERFEED_DEMO_DATA", "PAPERFEED_NEW_PASSWORD"}
    for path in (ROOT / "src" / "paperfeed").rglob("*.py"):
        if path == CONFIG:
            continue
        text = path.read_text()
        for match in re.finditer(
            r'(?:envvar=|getenv\(|environ(?:\.get)?[\[(])\s*"(PAPERFEED_[A-Z_]+)"', text
        ):
            assert match.group(1) in inputs, f"{path.name} reads {match.group(1)}"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PAPERFEED_HTTP_TIMEOUT", "abc", "'abc' is not a number"),
        ("PAPERFEED_HTTP_TIMEOUT", "nan", "is not between"),
        ("PAPERFEED_HTTP_MAX_RETRIES", "2.5", "is not a whole number"),
        ("PAPERFEED_HTTP_BACKOFF", "-1", "is not between 0 and 600"),
        ("PAPERFEED_EMBED_MAX_TOKENS", "100000", "is not between 8 and 512"),
        ("PAPERFEED_SUBMISSION_MAX_AGE_DAYS", "ten", "is not a whole number"),
        ("PAPERFEED_INDEX_EVERY", "soon", "not a duration"),
        ("PAPERFEED_DIGEST_EVERY", "0s", "duration out of range"),
        ("PAPERFEED_UPDATE_EVERY", "1w", "not a duration"),
        ("PAPERFEED_PAGE_CACHE_SECONDS", "-1", "is not between 0 and 3600"),
        ("PAPERFEED_PAGE_CACHE_SECONDS", "inf", "is not between 0 and 3600"),
        ("PAPERFEED_LOG_FORMAT", "xml", "is not one of text, json"),
        ("PAPERFEED_METRICS_ALLOW", "localhost", "is not an IP address"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError, match=f"^{name}: .*{re.escape(says)}"):
        Settings.from_env()
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {name}: ") and says in result.output
    assert result.output.count("\n") == 1  # one line: no usage text, no traceback


def test_durations_and_flags_override_the_environment(monkeypatch, tmp_path):
    every = ("PAPERFEED_INDEX_EVERY", "PAPERFEED_DIGEST_EVERY", "PAPERFEED_UPDATE_EVERY")
    for name in every:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings.from_env()
    for name, value in zip(every, ("2m", "90", "1h"), strict=True):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAPERFEED_LOG_FORMAT", "json")
    monkeypatch.setenv("PAPERFEED_HTTP_TIMEOUT", " 7.5 ")
    settings = Settings.from_env()
    assert (settings.index_every_s, settings.digest_every_s, settings.update_every_s) == (
        120,
        90,
        3600,
    )
    assert settings.log_format == "json" and settings.http.timeout_s == 7.5
    assert (defaults.index_every_s, defaults.digest_every_s, defaults.update_every_s) == (
        15,
        900,
        None,
    )
    # The flag wins over the variable, which the CLI no longer reads a second time.
    db = tmp_path / "flag.db"
    monkeypatch.setenv("PAPERFEED_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = CliRunner().invoke(cli, ["--log-format", "text", "--db", f"sqlite:///{db}", "stats"])
    assert result.exit_code == 0, result.output
    assert db.exists() and not (tmp_path / "env.db").exists()
