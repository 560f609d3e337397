"""Boundaries that must hold when the code runs, not only in its import statements: what a
process loads, who touches another module's private state, and which way imports point."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "indexer", "web", "kindred", "analytics")
# The writing side: what a serving worker and the reading commands never load.
WRITING_SIDE = {"sklearn", "scipy", "numpy", "sparse_dot_topn", "nltk", "indexer.build", "indexer.related",
                "indexer.sources", "indexer.writes", "yaml", "selectolax", "markdown_it", "defusedxml", "dask",
                "distributed"}
# Who may load what at import time (engines load when an index is opened, not before).
NEVER_LOADED = {
    "web.app": WRITING_SIDE | {"indexer", "whoosh", "tantivy"},
    "search.service": WRITING_SIDE | {"whoosh", "tantivy", "flask", "web", "analytics", "kindred"},
    "kindred.cli": WRITING_SIDE | {"whoosh", "tantivy", "flask", "web"},
    # The related batch loads Dask only when related_cluster asks for a cluster.
    "indexer.build": {"dask", "distributed", "indexer.related_cluster"},
}
# Underscore names of other modules that are public by their library's own convention.
PUBLIC_UNDERSCORED = {"os._exit"}


def loaded_by(module: str) -> set[str]:
    script = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("module", sorted(NEVER_LOADED))
def test_importing_loads_nothing_of_the_writing_side(module):
    loaded = loaded_by(module)
    forbidden = {name for name in NEVER_LOADED[module] if name in loaded}
    assert not forbidden, f"`import {module}` loads {sorted(forbidden)}"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def test_no_module_touches_another_objects_private_state():
    touched = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                    and ast.unparse(node) not in PUBLIC_UNDERSCORED):
                touched.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert touched == []


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, wherever in the file (lazy imports too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycle_between_files():
    graph = import_graph()
    cycles = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_imports_point_down_only():
    """kindred -> web -> indexer -> search; analytics beside indexer: nobody imports upward."""
    layer = {"search": 0, "analytics": 1, "indexer": 1, "web": 2, "kindred": 3}
    upward = [f"{module} imports {target}" for module, targets in import_graph().items() for target in targets
              if layer[target.split(".")[0]] > layer[module.split(".")[0]]
              or {module.split(".")[0], target.split(".")[0]} == {"analytics", "indexer"}]
    assert upward == []
