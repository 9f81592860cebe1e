"""deploy/: the systemd units pass `systemd-analyze verify` with no warning, their commands
are real `paperfeed` commands, and the env file names only documented settings."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from paperfeed.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
INSTALLED = "/opt/paperfeed/venv/bin/paperfeed"
PAPERFEED = Path(sys.executable).parent / "paperfeed"


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    assert {u.name for u in UNITS} >= {
        "paperfeed.service",
        "paperfeed-update.service",
        "paperfeed-update.timer",
    }
    # verify checks that each ExecStart program exists: point it at this checkout's.
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(PAPERFEED)))
    done = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(p.name for p in tmp_path.iterdir())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Unknown keys and bad values are only warnings: none is accepted.
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def _exec_commands() -> list[tuple[str, list[str]]]:
    found = []
    for unit in UNITS:
        for line in re.findall(r"^ExecStart=(.*)$", unit.read_text(), re.M):
            words = shlex.split(line.replace("%%", "%"))
            if words[0] == "/bin/sh":  # sh -c 'exec paperfeed ...'
                words = shlex.split(words[2])[1:]
            found.append((unit.name, words[words.index(INSTALLED) + 1 :]))
    return found


@pytest.mark.parametrize(("unit", "arguments"), _exec_commands())
def test_unit_commands_are_paperfeed_commands(unit, arguments):
    command = arguments[0]
    if command not in cli.commands:  # type: ignore[attr-defined]
        pytest.skip(f"`paperfeed {command}` ({unit}) is built on another branch")
    options = [a for a in arguments[1:] if a.startswith("-")]
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    for option in options:
        assert option.split("=")[0] in result.output, f"{unit}: {command} has no {option}"


def test_env_example_names_only_documented_settings():
    readme = (ROOT / "README.md").read_text()
    names = re.findall(
        r"^#?(PAPERFEED_[A-Z_]+)=", (DEPLOY / "paperfeed.env.example").read_text(), re.M
    )
    assert "PAPERFEED_DATABASE_URL" in names and "PAPERFEED_TRUSTED_PROXIES" in names
    undocumented = [n for n in names if n not in readme]
    assert undocumented == []


def test_caddyfile_adapts_and_keeps_metrics_private():
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed here (apt-get install caddy)")
    done = subprocess.run(
        [caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # Caddy calls the explicit forwarded headers unnecessary (they are its defaults);
    # they stay, so that nobody has to know those defaults. Nothing else may be said.
    complaints = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "Unnecessary header_up X-Forwarded-" not in line
    ]
    assert complaints == []
    config = json.loads(done.stdout)
    routes = config["apps"]["http"]["servers"]["srv0"]["routes"][0]["handle"][0]["routes"]
    metrics = next(r for r in routes if r.get("match") == [{"path": ["/metrics"]}])
    assert metrics["handle"] == [{"handler": "static_response", "status_code": 404}]
    proxy = next(h for r in routes for h in r["handle"] if h["handler"] == "reverse_proxy")
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:8000"}]
    sent = proxy["headers"]["request"]["set"]
    assert sent["X-Forwarded-For"] == ["{http.request.remote.host}"]
    assert sent["X-Forwarded-Proto"] == ["{http.request.scheme}"]
