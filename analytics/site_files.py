"""Accepting a proposal writes it where the site keeps its own search settings: a one-way line
in the synonyms file (setting `synonyms`), a `[[rule]]` pinning the article in the rules file
(setting `rules`). Search re-reads both when they change (within a second, no rebuild), so
an accepted proposal applies to the next searches.

A file is replaced whole (written beside it, then renamed over it): a search or a crash never
sees half an entry. The new text must first parse as its owner reads it (search.synonyms,
search.rules), and accepting editors are serialized by a lock on the file's directory.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from analytics.tuning import PinProposal, SynonymProposal
from search.rules import Rules, RulesError
from search.synonyms import Synonyms

TOOL = "kindred tune --from-analytics"


class SiteFileError(Exception):
    """The synonyms or rules file could not take the entry; nothing was changed."""


def add_synonym(path: Path, proposal: SynonymProposal) -> None:
    line = proposal.line
    if Synonyms.parse(line).errors:
        raise SiteFileError(f"{line!r} is not a synonym line")
    _append(path, f"# {_today()}, {TOOL}: {proposal.sessions} sessions found nothing, then found "
                  f"{proposal.answer!r}\n{line}\n", lambda text: None)


def add_pin(path: Path, proposal: PinProposal) -> None:
    import tomli_w  # an editor's action only: serving workers never load it

    rule = {"name": f"readers' pick for {proposal.query}", "match_any": [proposal.query], "pin": [proposal.article]}
    block = tomli_w.dumps({"rule": [rule]})

    def parses(text: str) -> None:
        try:
            Rules.parse(text, str(path))
        except RulesError as exc:
            raise SiteFileError(f"the rules file does not parse, fix it first: {exc}") from exc

    _append(path, f"# {_today()}, {TOOL}: {proposal.sessions} sessions clicked it at mean position "
                  f"{proposal.mean_position}\n{block}", parses)


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def _append(path: Path, entry: str, check: Callable[[str], None]) -> None:
    path = path.resolve()  # a symlinked file is written where it lives
    try:
        with _lock(path.parent):
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
            text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + entry
            check(text)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                if path.exists():
                    shutil.copymode(path, tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError(f"could not write {path}: {exc}") from exc


@contextmanager
def _lock(directory: Path) -> Iterator[None]:
    # The directory, not the file: the file is replaced by a rename, a lock on it would not hold.
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
