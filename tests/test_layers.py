"""The layers, held by the imports: data flows one way (docs/architecture.md).

    interfaces: web/, cli.py        may import anything below
    services/                       the rules; never an interface
    sources/, store/, index/        never services or an interface
    records, query, errors, config, logs: the base every layer shares; imports only itself

An import inside a function counts as much as one at the top: a lazy import that runs
upward is still a cycle waiting to happen.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "paperfeed"
BASE = {"records", "query", "errors", "config", "logs", "authors"}
INTERFACES = {"web", "cli", "__main__"}
# What each layer may not import (top-level names under paperfeed).
FORBIDDEN = {
    "base": {"sources", "store", "index", "services"} | INTERFACES,
    "sources": {"services", "store", "index"} | INTERFACES,
    "store": {"services", "sources", "index"} | INTERFACES,
    "index": {"services", "sources"} | INTERFACES,
    "services": INTERFACES,
}


def _layer(path: Path) -> str | None:
    top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if top in BASE:
        return "base"
    return top if top in FORBIDDEN else None


def _imported(tree: ast.AST, path: Path) -> set[str]:
    """The paperfeed top-level names a module imports (absolute or relative)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                package = path.relative_to(PACKAGE).parent.parts
                base = package[: len(package) - node.level + 1]
                module = ".".join(("paperfeed", *base, *([node.module] if node.module else [])))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                module = node.module or ""
                # `from paperfeed import services` imports the name, not just the package.
                names = (
                    [f"{module}.{a.name}" for a in node.names]
                    if module == "paperfeed"
                    else [module]
                )
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "paperfeed" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) is not None)


def test_the_layers_cover_the_package():
    """A new top-level module or folder must be given a layer here (or be an interface)."""
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert tops - BASE - set(FORBIDDEN) - INTERFACES == {"__init__"}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_upward(path):
    upward = _imported(ast.parse(path.read_text()), path) & FORBIDDEN[_layer(path)]
    assert not upward, f"{path.relative_to(PACKAGE)} ({_layer(path)}) imports {sorted(upward)}"


def test_the_check_sees_each_kind_of_import():
    """The parser catches the forms an upward import can take."""
    path = PACKAGE / "store" / "papers.py"
    for source, expected in (
        ("import paperfeed.services.search", {"services"}),
        ("from paperfeed.web import app", {"web"}),
        ("from paperfeed import cli", {"cli"}),
        ("def f():\n    from paperfeed.services.paper_views import PaperView", {"services"}),
        ("from ..services import search", {"services"}),
        ("from . import schema", {"store"}),
    ):
        assert _imported(ast.parse(source), path) == expected, source


def _interfaces() -> list[Path]:
    return sorted(
        p
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0].removesuffix(".py") in INTERFACES
    )


@pytest.mark.parametrize("path", _interfaces(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_interfaces_hold_no_sql(path):
    """The data-access rule (README, "How it is built"): web/ and cli.py import no table
    and build no statement; they call services inside the transaction they open."""
    tree = ast.parse(path.read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "paperfeed.store.schema" not in modules
    statements = {"select", "insert", "update", "delete", "union", "text"}
    built = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "sa"
        and node.attr in statements
    }
    assert not built, f"{path.relative_to(PACKAGE)} builds SQL: sa.{sorted(built)}"
