"""Parallel runs with pytest-xdist (`scripts/test` runs `pytest -n 4 --dist loadgroup`):
which tests go to one worker, and in what order the work is handed out. tests/conftest.py
takes these hooks.

Tests that share a module-scoped fixture (a site, an ingested slice) run on one worker, so
that their setup is built once, not once per worker; every other test is handed out on its
own. The heaviest units go first, so that no long test starts last while the other workers
sit idle. Only the workers collect, so they compute the groups and leave them in a file
for the scheduler in the controlling process (pytest-xdist's own `xdist_group` marks
rename the test ids, which pytest 9.2 no longer lets a plugin do)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

# A test marked slow weighs as much as this many ordinary ones when ordering the work.
SLOW_WEIGHT = 50
GROUPS_DIR = "paperfeed_groups"  # key in each worker's workerinput
_groups_dir = pytest.StashKey[Path]()  # the controlling process's folder for the groups


def _grouping(config: pytest.Config) -> bool:
    return config.getoption("dist", None) == "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    if _grouping(config):  # the controlling process
        config.stash[_groups_dir] = Path(tempfile.mkdtemp(prefix="paperfeed-xdist-"))
        config.option.loadscopereorder = False  # hand out units in the workers' order


def pytest_unconfigure(config: pytest.Config) -> None:
    if _groups_dir in config.stash:
        shutil.rmtree(config.stash[_groups_dir], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    if _groups_dir in node.config.stash:
        node.workerinput[GROUPS_DIR] = str(node.config.stash[_groups_dir])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if _grouping(config):
        return _shared_setup_scheduling(config, log)
    return None


def _shared_setup_scheduling(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        """xdist's scope scheduling with the workers' groups as scopes."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                written = sorted(config.stash[_groups_dir].glob("*.json"))
                self.groups = json.loads(written[0].read_text()) if written else {}
            return self.groups.get(nodeid, nodeid)

    return SharedSetupScheduling(config, log)


@pytest.hookimpl(trylast=True)  # after pytest has ordered the items by fixture
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or GROUPS_DIR not in workerinput:
        return
    groups = {item.nodeid: _group_of(item) for item in items}
    weight: dict[str, int] = {}
    for item in items:
        unit = groups[item.nodeid] or item.nodeid
        weight[unit] = weight.get(unit, 0) + (SLOW_WEIGHT if _heavy(item) else 1)
    # Stable: the order within a unit (pytest's, which reuses fixtures) is kept.
    items.sort(key=lambda item: -weight[groups[item.nodeid] or item.nodeid])
    written = {nodeid: group for nodeid, group in groups.items() if group}
    target = Path(workerinput[GROUPS_DIR]) / f"{workerinput['workerid']}.json"
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(written))
    partial.rename(target)  # the scheduler never reads half a file


def _heavy(item: pytest.Item) -> bool:
    """Marked slow for its own sake, not only by tests/helpers.needs (needing PostgreSQL
    or the browser makes a test slow to the quick loop but no longer than others)."""
    return any("needs" not in mark.kwargs for mark in item.iter_markers("slow"))


def _group_of(item: pytest.Item) -> str | None:
    """The unit a test belongs to: its `xdist_group` mark, or its module and the parameters
    of its module-scoped fixtures (a module's tests on SQLite and on PostgreSQL are
    separate units), or None when it shares no setup."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    shared = [
        name
        for name, definitions in info.name2fixturedefs.items()
        if definitions and definitions[-1].scope in ("module", "package", "class")
    ]
    if not shared:
        return None
    params = getattr(item, "callspec", None)
    values = [str(params.params[name]) for name in shared if params and name in params.params]
    return "-".join([item.path.name, *values])
