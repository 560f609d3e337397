"""Product code knows no evaluation collection: defaults must hold on sites nobody measured."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("search", "indexer", "web", "kindred")
# The shared evaluation corpora (../shared/corpora) and their usual spellings. ADI and TIME
# are also English words: they count in capitals, as the collections are named, or as a path.
NAMES = re.compile(
    r"(?i:\b(cranfield|cisi|cacm|lisa|medquad|bbc|psychoactive[-_ ]substances|psychonautwiki|wikipedia[-_]2015"
    r"|20[-_ ]?newsgroups?)\b)|\bADI\b|\bTIME\b|(?i:corpora[/\\])")


def mentions() -> list[str]:
    found = []
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*")):
            if path.suffix not in (".py", ".txt", ".html", ".js", ".css", ".toml") or "__pycache__" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if NAMES.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return found


def test_product_code_names_no_evaluation_collection():
    assert mentions() == []


def test_the_check_sees_a_collection_name(tmp_path):
    assert NAMES.search("if corpus == 'lisa': k1 = 1.5")
    assert NAMES.search("# tuned on Cranfield")
    assert NAMES.search("path = '../shared/corpora/time'")
    assert not NAMES.search("import time; started = time.perf_counter()")
