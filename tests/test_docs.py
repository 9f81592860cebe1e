"""The README is checked: its two commands, and every `paperfeed` command it shows exists."""

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from paperfeed.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_exactly_two_setup_commands():
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/paperfeed demo",
        "bash scripts/test",
    ]
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()


def _documented_commands():
    for line in re.findall(r"`(paperfeed [^`]+)`", README):
        words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))
        path = []
        for word in words[1:]:
            if word.startswith("-") or word.isupper() or "/" in word or "." in word:
                break
            path.append(word)
        yield line, path


@pytest.mark.parametrize(("line", "path"), list(_documented_commands()))
def test_documented_commands_exist(line, path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, f"README shows `{line}`, but `paperfeed {' '.join(path)}` fails"


def test_readme_benchmark_numbers_are_the_committed_results():
    import importlib.util

    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    assert report.readme_block() in README, "run: python benchmarks/report.py --write"


def test_benchmarks_readme_lists_every_script_and_each_exists():
    folder = ROOT / "benchmarks"
    listed = set(re.findall(r"^\| `([a-z_]+\.py)` \|", (folder / "README.md").read_text(), re.M))
    scripts = {p.name for p in folder.glob("*.py")} - {"common.py"}
    assert listed == scripts


def test_every_benchmark_a_file_cites_exists():
    cited = set()
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("src/**/*.py")]:
        cited.update(re.findall(r"benchmarks/[a-z_]+\.py", path.read_text()))
    assert cited and {c for c in cited if not (ROOT / c).exists()} == set()


def test_readme_layout_names_every_module():
    """ "How it is built" is where a newcomer looks first: every package module is in it."""
    layout = re.search(r"## How it is built\n.*?```\n(.*?)```", README, re.S).group(1)
    package = ROOT / "src" / "paperfeed"
    modules = {
        p.stem
        for p in package.rglob("*.py")
        if p.stem not in ("__init__", "__main__") and p.parent.name != "web"
    }
    assert {m for m in modules if not re.search(rf"\b{m}\b", layout)} == set()
