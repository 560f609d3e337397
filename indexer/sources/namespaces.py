"""Id namespaces: ids only need to be unique inside their source, so each source may put a
prefix before them (setting `id_prefixes`), and WordPress exports read together get one by
default: a post id is only unique inside one WordPress site (docs/sources.md)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from indexer.sources.records import Record, Rejected
from search.article import MAX_ID_CHARS

def id_prefixes(files: Iterable[Path], configured: Mapping[str, str], base_dir: Path) -> dict[Path, str]:
    """The prefix of each file's ids: the configured one of the most specific path that is the
    file or one of its directories, else the default (only for WordPress exports read with others)."""
    files = list(files)
    paths = {(base_dir / key).resolve(): prefix for key, prefix in configured.items()}
    prefixes = _wordpress_defaults(files)
    for file in files:
        resolved = file.resolve()
        owners = [p for p in paths if p == resolved or p in resolved.parents]
        if owners:
            prefixes[file] = paths[max(owners, key=lambda p: len(p.parts))]
    return prefixes


def _wordpress_defaults(files: list[Path]) -> dict[Path, str]:
    """A post id is only unique inside its site: when several exports are read together, each
    gets its site's host as a namespace, or its file name where two share a site (or name none)."""
    from indexer.sources.wxr import export_site

    exports = [f for f in files if f.name.lower().endswith((".xml", ".xml.gz"))]
    if len(exports) < 2:
        return {}
    hosts = {f: urlsplit(export_site(f) or "").hostname for f in exports}
    shared = Counter(hosts.values())
    return {f: f"{host if host and shared[host] == 1 else _base_name(f)}-" for f, host in hosts.items()}


def _base_name(export: Path) -> str:
    """The file name without `.xml` / `.xml.gz`."""
    name = export.name
    return name[: -len(".xml.gz")] if name.lower().endswith(".gz") else name[: -len(".xml")]


def with_id_prefix(record: Record, prefix: str) -> Record | Rejected:
    """The record in its source's namespace: its id, and the pins and blocks it names (which
    name articles of the same source), behind the prefix."""
    if not prefix:
        return record
    article = record.article
    if len(prefix) + len(article.id) > MAX_ID_CHARS:
        return Rejected(record.location, f"field 'id' with its prefix {prefix!r} is longer than {MAX_ID_CHARS} characters")
    return Record(dataclasses.replace(
        article, id=prefix + article.id, related_pins=tuple(prefix + i for i in article.related_pins),
        related_blocks=tuple(prefix + i for i in article.related_blocks)), record.location)
