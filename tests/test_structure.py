"""Module boundaries: data flows one way, and only search/ touches Whoosh."""

from __future__ import annotations

import ast
from pathlib import Path

from search.config import reference_markdown, setting_fields

REPO = Path(__file__).resolve().parents[1]


def imports(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path] = names
    return found


def offenders(package: str, forbidden: set[str]) -> list[str]:
    return [f"{p.relative_to(REPO)}: {sorted(n & forbidden)}" for p, n in imports(package).items() if n & forbidden]


def test_web_never_imports_engines_or_sklearn():
    assert offenders("web", {"whoosh", "tantivy", "sklearn", "scipy", "numpy"}) == []


def test_only_search_imports_the_engines():
    for package in ("indexer", "web", "kindred"):
        assert offenders(package, {"whoosh", "tantivy"}) == []
    engine_users = [p.relative_to(REPO).as_posix() for p, names in imports("search").items() if names & {"whoosh", "tantivy"}]
    assert sorted(engine_users) == ["search/engines/tantivy.py", "search/engines/whoosh.py"]


def test_search_core_imports_neither_flask_nor_sklearn_nor_indexer():
    assert offenders("search", {"flask", "sklearn", "indexer", "analytics", "web", "kindred"}) == []


def test_analytics_imports_only_the_core():
    assert offenders("analytics", {"flask", "indexer", "web", "kindred", "sklearn", "numpy"}) == []


def test_indexer_never_imports_web():
    assert offenders("indexer", {"flask", "web", "kindred"}) == []


def test_only_the_settings_module_reads_the_environment():
    readers = set()
    for package in ("search", "indexer", "web", "kindred"):
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # Setting a variable for a library (os.environ[X] = ...) is not reading settings.
            written = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store)}
            for node in ast.walk(tree):
                if ast.unparse(node) in ("os.environ", "os.getenv") and id(node) not in written:
                    readers.add(path.relative_to(REPO).as_posix())
    assert sorted(readers) == ["search/config.py"]


def test_the_settings_reference_is_current():
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert docs == reference_markdown(), "run `make docs` to regenerate docs/configuration.md"
    assert all(f"`{f.name}`" in docs for f in setting_fields())
