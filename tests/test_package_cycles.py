"""No package of ae imports, even lazily or only for types, a package that imports it back.

ruff (tools/ruff.toml, graph/ruff.toml) bans imports up the layers agent -> graph -> tools; this test
reads every import statement of the first-party packages, including those inside functions, and
finds the cycles ruff's per-folder bans cannot see (``prompts`` and ``evals`` have no ruff.toml).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "graph", "tools", "prompts", "evals")


def _imported(source: str) -> Iterator[str]:
    """The top-level names of every module ``source`` imports, wherever the statement sits."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0]


def package_imports(root: Path = ROOT) -> dict[str, dict[str, set[str]]]:
    """package -> the other first-party packages it imports -> the files that import them."""
    edges: dict[str, dict[str, set[str]]] = {package: {} for package in PACKAGES}
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            for name in _imported(file.read_text(encoding="utf-8")):
                if name in PACKAGES and name != package:
                    edges[package].setdefault(name, set()).add(str(file.relative_to(root)))
    return edges


def cycle_through(package: str, edges: dict[str, dict[str, set[str]]]) -> list[str]:
    """A path of imports from ``package`` back to itself (empty when there is none)."""
    path: list[str] = [package]

    def walk(current: str, seen: set[str]) -> bool:
        for following in sorted(edges[current]):
            if following == package:
                path.append(following)
                return True
            if following not in seen:
                path.append(following)
                if walk(following, seen | {following}):
                    return True
                path.pop()
        return False

    return path if walk(package, {package}) else []


def _explain(cycle: list[str], edges: dict[str, dict[str, set[str]]]) -> str:
    steps = pairwise(cycle)
    return "; ".join(f"{a} -> {b} in {', '.join(sorted(edges[a][b]))}" for a, b in steps)


@pytest.mark.parametrize(
    "package",
    ["tools", "prompts", "graph", "agent", "evals"],
)
def test_no_package_is_in_an_import_cycle(package: str) -> None:
    edges = package_imports()
    cycle = cycle_through(package, edges)
    assert not cycle, f"{' -> '.join(cycle)}: {_explain(cycle, edges)}"


def test_prompts_is_data_that_imports_only_tools() -> None:
    """The registry (tools) reads each tool's text; the loader is tools.prompt_text, so prompts may
    re-export it for the planner but tools never imports prompts."""
    edges = package_imports()
    assert "prompts" not in edges["tools"], edges["tools"].get("prompts")
    assert set(edges["prompts"]) <= {"tools"}


def test_the_cycle_finder_sees_a_lazy_import_inside_a_function(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "tools" / "a.py").write_text("def f():\n    from prompts import x\n    return x\n")
    (tmp_path / "prompts" / "__init__.py").write_text("import tools.errors\n")
    edges = package_imports(tmp_path)
    assert cycle_through("tools", edges) == ["tools", "prompts", "tools"]
    assert "tools/a.py" in _explain(cycle_through("tools", edges), edges)
    assert cycle_through("graph", edges) == []
