"""The version's store: articles, the word lexicon, the related lists and the related model,
in one SQLite file, and the only code that touches it.

Engines index and rank; everything a page shows besides ranking comes from here. SQLite
gives incremental writes that readers in other processes see atomically (WAL mode): every
write method joins the caller's `transaction()`, so an upsert (articles, lexicon, related
model and lists, generation) commits once, and a reader sees all of it or none of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import unquote, urlsplit

from search.article import Article, slugify
from search.document import Indexed
from search.highlight import SnippetText
from search.related_lists import RelatedEntry, RelatedPayload, entries_json
from search.spelling import LONGEST_INDEXED_WORD
from search.sqlite_wal import use_write_ahead_log

STORE_FILE = "store.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,              -- the whole Article as JSON
    category_key TEXT NOT NULL,
    published TEXT,                 -- ISO date, for recency
    url_path TEXT                   -- the url's path, for lookups by URL
);
CREATE INDEX IF NOT EXISTS articles_url_path ON articles (url_path);
CREATE INDEX IF NOT EXISTS articles_category ON articles (category_key, published);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published);
CREATE VIRTUAL TABLE IF NOT EXISTS titles USING fts5 (id UNINDEXED, title, prefix = '2 3 4');
-- What a results page needs of an article, worked out when it was indexed (search/document.py):
-- its card (the Article without its text, as JSON), its reading text as one line and the
-- folded, lower-cased twin words are found in (NULL when that is the line lower-cased; then
-- `offsets` is NULL too, else the line's offset of each twin character as uint32), and its
-- strongest weighted terms for pseudo-relevance feedback ({term: count}, and how many in all).
-- The title has its twin the same way (title_lowered, title_offsets; the card holds the title).
CREATE TABLE IF NOT EXISTS hits (
    id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    snippet TEXT NOT NULL,
    lowered TEXT,
    offsets BLOB,
    truncated INTEGER NOT NULL,
    title_lowered TEXT,
    title_offsets BLOB,
    feedback TEXT NOT NULL,
    length INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lexicon (
    word TEXT PRIMARY KEY,          -- surface form, lower-case and folded
    term TEXT NOT NULL,             -- its stem
    df INTEGER NOT NULL             -- articles containing it
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lexicon_term ON lexicon (term);
CREATE TABLE IF NOT EXISTS spelling (variant TEXT NOT NULL, word TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS spelling_variant ON spelling (variant);
-- Each article's related list: its entries ([[id, score, kind, [why...]], ...]) and what readers
-- are sent (search/related_lists.py RelatedPayload); related_targets lists who shows whom.
CREATE TABLE IF NOT EXISTS related (
    source TEXT PRIMARY KEY,
    items TEXT NOT NULL,
    payload BLOB NOT NULL,
    ends BLOB NOT NULL,
    html BLOB NOT NULL,
    html_ends BLOB NOT NULL,
    digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS related_targets (target TEXT NOT NULL, source TEXT NOT NULL,
                                            PRIMARY KEY (target, source)) WITHOUT ROWID;
-- The fitted related model (indexer/related_state.py reads and writes it through the methods below):
-- term -> column, idf and surface word; each topic's NMF component over the columns (float32);
-- each article's TF-IDF row (int32 columns, float32 weights) and topic weights; its text neighbours.
CREATE TABLE IF NOT EXISTS related_terms (term TEXT PRIMARY KEY, col INTEGER NOT NULL, idf REAL NOT NULL,
                                          surface TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS related_topics (topic INTEGER PRIMARY KEY, weights BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS related_vectors (id TEXT PRIMARY KEY, cols BLOB NOT NULL, weights BLOB NOT NULL,
                                            topics BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS related_candidates (source TEXT PRIMARY KEY, items TEXT NOT NULL) WITHOUT ROWID;
"""

VectorRow = tuple[str, bytes, bytes, "bytes | None"]  # id, TF-IDF columns, weights, topic weights
RelatedRow = tuple[str, str, RelatedPayload]  # source, entries JSON (entries_json), payload


def url_path(url: str) -> str:
    """'https://site.org/a/b/?x=1#top' -> '/a/b': how the same page is recognised from any host."""
    path = urlsplit(url.strip()).path or "/"
    return path.rstrip("/") or "/"


def spelling_variants(word: str, distance: int) -> set[str]:
    """The word with up to `distance` letters deleted (SymSpell's deletes)."""
    variants = {word}
    frontier = {word}
    for _ in range(distance):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w)) if len(w) > 1}
        variants |= frontier
    return variants


# A new version's page cache (SQLite's default is 2 MiB): a build writes large B-trees in one
# transaction. Measured when each list's "who shows whom" rows went to random places of one
# B-tree (100,000 articles: 45 s with the default, 12 s with this); a build now writes those
# in key order at the end (`index_related_targets`).
BUILD_CACHE_KIB = 128 * 1024
BUSY_TIMEOUT_SECONDS = 10.0


class Store:
    def __init__(self, path: Path, readonly: bool = True, building: bool = False):
        self.path = path
        self.readonly = readonly
        self._building = building  # a new version's store, written by its build alone (`create`)
        self._local = threading.local()

    @classmethod
    def create(cls, directory: Path) -> "Store":
        """A new version's store, for its build to write, then `finish`. Until then it has no
        write-ahead log and is never synced: its pages are new, so a rollback journal holds
        next to nothing, where a log would have every page written twice (a build's related
        lists are gigabytes); a failed build's store is thrown away with its directory."""
        path = directory / STORE_FILE
        with closing(sqlite3.connect(path)) as conn:
            conn.executescript(SCHEMA)
        return cls(path, readonly=False, building=True)

    def finish(self) -> None:
        """The build's store made a served one: its write-ahead log on (as every writer after
        the build opens it), closed, and synced to disk once, before its version is published."""
        self._conn.execute("PRAGMA journal_mode=WAL")
        self.close()
        self._building = False  # opened again, it is a store like any other
        with open(self.path, "rb+") as written:
            os.fsync(written.fileno())

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit: transaction() alone opens and commits transactions.
            if self.readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS,
                                       isolation_level=None)
                if self._building:
                    conn.execute("PRAGMA synchronous=OFF")
                    conn.execute(f"PRAGMA cache_size=-{BUILD_CACHE_KIB}")
                else:
                    use_write_ahead_log(conn, BUSY_TIMEOUT_SECONDS)
                    conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def backup_to(self, path: Path) -> None:
        """A self-contained copy of the store at `path` (committed pages still in the write-ahead
        log included, through SQLite's backup API), for a replica's snapshot."""
        copy = sqlite3.connect(path)
        try:
            self._conn.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction: every write inside it (nested transactions join the outer one)
        commits together at the end, or none does."""
        conn = self._conn
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite ends some failed transactions itself (a full disk)
                conn.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one committed state together (a read transaction)."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap: no disk read)."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    # Meta -------------------------------------------------------------------------

    def set_meta(self, values: Mapping[str, object]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self, key: str, default: object = None) -> object:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # Articles ---------------------------------------------------------------------

    def put_articles(self, items: Sequence[Indexed], feedback: Callable[[Indexed], tuple[dict[str, int], int]],
                     fresh: bool = False) -> None:
        """Articles with what their indexing worked out; `feedback` gives an article's strongest
        terms and its length. `fresh`: the store is new (a build), nothing is replaced."""
        with self.transaction() as conn:
            if fresh:
                rows = [(number, *_article_row(item.article)) for number, item in enumerate(items, start=1)]
                conn.executemany("INSERT INTO articles (rowid, id, doc, category_key, published, url_path) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.executemany("INSERT INTO titles (rowid, id, title) VALUES (?, ?, ?)",
                                 ((number, item.article.id, item.article.title)
                                  for number, item in enumerate(items, start=1)))
            else:
                # The title index shares the article's rowid, so replacing one finds its title row by key.
                for item in items:
                    old = conn.execute("SELECT rowid FROM articles WHERE id = ?", (item.article.id,)).fetchone()
                    if old:
                        conn.execute("DELETE FROM titles WHERE rowid = ?", old)
                    cursor = conn.execute("INSERT OR REPLACE INTO articles (id, doc, category_key, published, "
                                          "url_path) VALUES (?, ?, ?, ?, ?)", _article_row(item.article))
                    conn.execute("INSERT INTO titles (rowid, id, title) VALUES (?, ?, ?)",
                                 (cursor.lastrowid, item.article.id, item.article.title))
            conn.executemany("INSERT OR REPLACE INTO hits (id, card, snippet, lowered, offsets, truncated, "
                             "title_lowered, title_offsets, feedback, length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (_hit_row(item, feedback) for item in items))

    def delete_articles(self, ids: Iterable[str]) -> None:
        with self.transaction() as conn:
            for article_id in ids:
                old = conn.execute("SELECT rowid FROM articles WHERE id = ?", (article_id,)).fetchone()
                if old:
                    conn.execute("DELETE FROM titles WHERE rowid = ?", old)
                conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
                conn.execute("DELETE FROM hits WHERE id = ?", (article_id,))
                conn.execute("DELETE FROM related WHERE source = ?", (article_id,))
                conn.execute("DELETE FROM related_targets WHERE source = ?", (article_id,))

    def article(self, article_id: str) -> Article | None:
        row = self._conn.execute("SELECT doc FROM articles WHERE id = ?", (article_id,)).fetchone()
        return Article.from_stored(json.loads(row[0])) if row else None

    def articles(self, ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(ids))
        found: dict[str, Article] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for doc, in self._conn.execute(f"SELECT doc FROM articles WHERE id IN ({marks})", chunk):
                article = Article.from_stored(json.loads(doc))
                found[article.id] = article
        return found

    def hits(self, ids: Sequence[str]) -> dict[str, HitMaterial]:
        """What results show of the articles, by id (absent ids: not in the store)."""
        found: dict[str, HitMaterial] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for article_id, card, text, lowered, offsets, truncated, title_lowered, title_offsets in self._conn.execute(
                    "SELECT id, card, snippet, lowered, offsets, truncated, title_lowered, title_offsets FROM hits "
                    f"WHERE id IN ({marks})", chunk):
                card = json.loads(card)
                found[article_id] = HitMaterial(card, _twin(text, lowered, offsets, truncated),
                                                _twin(card["title"], title_lowered, title_offsets))
        return found

    def feedback_terms(self, ids: Sequence[str]) -> dict[str, tuple[dict[str, int], int]]:
        """Each article's strongest weighted terms and how many terms it has in all."""
        found: dict[str, tuple[dict[str, int], int]] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for article_id, terms, length in self._conn.execute(
                    f"SELECT id, feedback, length FROM hits WHERE id IN ({marks})", chunk):
                found[article_id] = (json.loads(terms), length)
        return found

    def article_by_url(self, url: str) -> Article | None:
        """The article at a URL: its own url's path, else Kindred's /articles/<id>."""
        path = url_path(url)
        row = self._conn.execute("SELECT doc FROM articles WHERE url_path = ? LIMIT 1", (path,)).fetchone()
        if row:
            return Article.from_stored(json.loads(row[0]))
        if path.startswith("/articles/"):
            return self.article(unquote(path[len("/articles/"):]))
        return None

    def iter_articles(self) -> Iterator[Article]:
        for doc, in self._conn.execute("SELECT doc FROM articles ORDER BY id"):
            yield Article.from_stored(json.loads(doc))

    def article_ids(self) -> list[str]:
        return [row[0] for row in self._conn.execute("SELECT id FROM articles ORDER BY id")]

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM articles").fetchone()[0]

    def recent(self, limit: int, category_key: str | None = None, exclude: Iterable[str] = ()) -> list[Article]:
        exclude = list(exclude)
        marks = ",".join("?" * len(exclude))
        where = [f"id NOT IN ({marks})"] if exclude else []
        params: list[object] = list(exclude)
        if category_key is not None:
            where.append("category_key = ?")
            params.append(category_key)
        sql = "SELECT doc FROM articles"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY published IS NULL, published DESC, id LIMIT ?"
        params.append(limit)
        return [Article.from_stored(json.loads(doc)) for doc, in self._conn.execute(sql, params)]

    def labels(self) -> tuple[dict[str, str], dict[str, str]]:
        """Display labels of category and tag keys ('harm-reduction' -> 'Harm Reduction')."""
        categories: dict[str, str] = {}
        tags: dict[str, str] = {}
        for key, label in self._conn.execute(
            "SELECT category_key, json_extract(doc, '$.category') FROM articles WHERE category_key != '' "
            "GROUP BY category_key"
        ):
            categories[key] = label
        for (label,) in self._conn.execute("SELECT DISTINCT j.value FROM articles, json_each(articles.doc, '$.tags') j"):
            tags.setdefault(slugify(label), label)
        return categories, tags

    def titles_with_prefix(self, words: list[str], limit: int) -> list[tuple[str, str]]:
        """(id, title) of articles whose title has every word, the last one as a prefix."""
        if not words:
            return []
        quoted = ['"' + w.replace('"', '""') + '"' for w in words]
        match = " ".join(quoted[:-1] + [quoted[-1] + "*"])
        rows = self._conn.execute(
            "SELECT id, title FROM titles WHERE titles MATCH ? ORDER BY rank LIMIT ?", (match, limit)
        )
        return [(row[0], row[1]) for row in rows]

    # Lexicon ----------------------------------------------------------------------

    def add_word_counts(self, counts: Mapping[str, tuple[str, int]], spelling_distance: int = 2,
                        spelling_min_df: int = 1) -> None:
        """Add df deltas per surface word; index new words for spelling correction."""
        with self.transaction() as conn:
            for word, (term, delta) in counts.items():
                row = conn.execute("SELECT df FROM lexicon WHERE word = ?", (word,)).fetchone()
                df = (row[0] if row else 0) + delta
                if df <= 0:
                    conn.execute("DELETE FROM lexicon WHERE word = ?", (word,))
                    continue
                conn.execute("INSERT OR REPLACE INTO lexicon (word, term, df) VALUES (?, ?, ?)", (word, term, df))
                newly_common = df >= spelling_min_df > df - delta
                if newly_common and 3 <= len(word) <= LONGEST_INDEXED_WORD and not word.isdigit():
                    conn.executemany(
                        "INSERT INTO spelling (variant, word) VALUES (?, ?)",
                        [(v, word) for v in spelling_variants(word, 1)],
                    )

    def bulk_load_lexicon(self, rows: Iterable[tuple[str, str, int]], spelling_min_df: int) -> None:
        """Fresh build: write the whole lexicon at once (much faster than deltas)."""
        rows = list(rows)
        with self.transaction() as conn:
            conn.executemany("INSERT INTO lexicon (word, term, df) VALUES (?, ?, ?)", rows)
            conn.executemany(
                "INSERT INTO spelling (variant, word) VALUES (?, ?)",
                (
                    (variant, word)
                    for word, _, df in rows
                    if df >= spelling_min_df and 3 <= len(word) <= LONGEST_INDEXED_WORD and not word.isdigit()
                    for variant in spelling_variants(word, 1)
                ),
            )

    def lexicon(self) -> dict[str, tuple[str, int]]:
        """Every word with its stem and document frequency."""
        return {word: (term, df) for word, term, df in self._conn.execute("SELECT word, term, df FROM lexicon")}

    def word_frequency(self, word: str) -> int:
        row = self._conn.execute("SELECT df FROM lexicon WHERE word = ?", (word,)).fetchone()
        return row[0] if row else 0

    def words_with_prefix(self, prefix: str, limit: int) -> list[tuple[str, str, int]]:
        """(word, term, df) for words starting with prefix, most frequent first."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._conn.execute(
            "SELECT word, term, df FROM lexicon WHERE word >= ? AND word < ? ORDER BY df DESC, word LIMIT ?",
            (prefix, upper, limit),
        )
        return [tuple(row) for row in rows]

    def written_forms(self, terms: Iterable[str]) -> dict[str, list[str]]:
        """The written forms the lexicon has of each stem ('calori' -> ['calorie', 'calories'])."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(list(terms)):
            marks = ",".join("?" * len(chunk))
            for term, word in self._conn.execute(f"SELECT term, word FROM lexicon WHERE term IN ({marks})", chunk):
                found.setdefault(term, []).append(word)
        return found

    def spelling_candidates(self, word: str, distance: int, limit: int) -> list[tuple[str, int]]:
        """Known words that share a deletion variant with `word` (then checked by edit
        distance): the `limit` most common."""
        variants = sorted(spelling_variants(word, distance))
        found: dict[str, int] = {}
        for chunk in _chunks(variants):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT DISTINCT s.word, l.df FROM spelling s JOIN lexicon l ON l.word = s.word "
                f"WHERE s.variant IN ({marks}) ORDER BY l.df DESC, s.word LIMIT ?",
                (*chunk, limit),
            )
            found.update(rows)
        return sorted(sorted(found.items(), key=lambda item: (-item[1], item[0]))[:limit])

    # Related ----------------------------------------------------------------------

    def put_related(self, lists: Mapping[str, tuple[list[RelatedEntry], RelatedPayload]]) -> None:
        """Articles' related lists (entries and payload), replacing theirs, with who they show."""
        with self.transaction() as conn:
            conn.executemany("DELETE FROM related_targets WHERE source = ?", ((source,) for source in lists))
            self._insert_related(conn, ((source, entries_json(entries), payload)
                                        for source, (entries, payload) in lists.items()))
            conn.executemany("INSERT OR IGNORE INTO related_targets (target, source) VALUES (?, ?)",
                             ((entry.id, source) for source, (entries, _) in lists.items() for entry in entries))

    def put_new_related_rows(self, rows: Iterable[RelatedRow]) -> None:
        """A build's related lists, already encoded, into its new store: who shows whom is
        written once every list is (`index_related_targets`)."""
        with self.transaction() as conn:
            self._insert_related(conn, rows)

    @staticmethod
    def _insert_related(conn: sqlite3.Connection, rows: Iterable[RelatedRow]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO related (source, items, payload, ends, html, html_ends, digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((source, items, payload.items, payload.ends, payload.html, payload.html_ends, payload.digest)
             for source, items, payload in rows))

    def index_related_targets(self) -> None:
        """Who shows whom, read from every stored list at once and written in key order: list
        by list, each row landed at a random place of the B-tree."""
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO related_targets (target, source) "
                         "SELECT json_extract(entry.value, '$[0]'), related.source "
                         "FROM related, json_each(related.items) AS entry ORDER BY 1, 2")

    def sources_listing(self, target: str) -> set[str]:
        """Articles whose related list shows `target`."""
        rows = self._conn.execute("SELECT source FROM related_targets WHERE target = ?", (target,))
        return {row[0] for row in rows}

    def related(self, source: str) -> list[RelatedEntry] | None:
        row = self._conn.execute("SELECT items FROM related WHERE source = ?", (source,)).fetchone()
        return [RelatedEntry.from_json(item) for item in json.loads(row[0])] if row else None

    def related_payload(self, source: str) -> RelatedPayload | None:
        row = self._conn.execute("SELECT payload, ends, html, html_ends, digest FROM related WHERE source = ?",
                                 (source,)).fetchone()
        return RelatedPayload(*row) if row else None

    def related_sources(self) -> set[str]:
        """Articles that have a stored related list."""
        return {row[0] for row in self._conn.execute("SELECT source FROM related")}

    # Related model ----------------------------------------------------------------

    def put_related_model(self, terms: Iterable[tuple[str, int, float, str]], topics: Iterable[bytes]) -> None:
        """A fitted model's vocabulary (term, column, idf, surface word) and topic components."""
        with self.transaction() as conn:
            conn.executemany("INSERT INTO related_terms (term, col, idf, surface) VALUES (?, ?, ?, ?)", terms)
            conn.executemany("INSERT INTO related_topics (topic, weights) VALUES (?, ?)", enumerate(topics))

    def related_terms(self) -> list[tuple[str, int, float, str]]:
        return [tuple(row) for row in self._conn.execute("SELECT term, col, idf, surface FROM related_terms")]

    def related_topics(self) -> list[bytes]:
        return [row[0] for row in self._conn.execute("SELECT weights FROM related_topics ORDER BY topic")]

    def put_related_vectors(self, rows: Iterable[VectorRow]) -> None:
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO related_vectors (id, cols, weights, topics) VALUES (?, ?, ?, ?)",
                             rows)

    def related_vectors(self, ids: Iterable[str] | None = None) -> Iterator[VectorRow]:
        """Stored vectors of `ids` (those that have one), or of every article."""
        if ids is None:
            yield from self._conn.execute("SELECT id, cols, weights, topics FROM related_vectors")
            return
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            yield from self._conn.execute(
                f"SELECT id, cols, weights, topics FROM related_vectors WHERE id IN ({marks})", chunk)

    def put_related_candidates(self, rows: Iterable[tuple[str, str]]) -> None:
        """(article id, its text neighbours as JSON)."""
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO related_candidates (source, items) VALUES (?, ?)", rows)

    def related_candidates(self, ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(
                f"SELECT source, items FROM related_candidates WHERE source IN ({marks})", chunk))
        return found

    def delete_related_model_rows(self, ids: Iterable[str]) -> None:
        """Deleted articles' vectors and neighbours."""
        with self.transaction() as conn:
            for article_id in ids:
                conn.execute("DELETE FROM related_vectors WHERE id = ?", (article_id,))
                conn.execute("DELETE FROM related_candidates WHERE source = ?", (article_id,))


@dataclass(frozen=True, slots=True)
class HitMaterial:
    card: dict  # Article.card(): what a hit shows but its snippet
    snippet: SnippetText
    title: SnippetText


def _article_row(article: Article) -> tuple:
    return (article.id, json.dumps(article.to_dict(), ensure_ascii=False), article.category_key,
            article.published.isoformat() if article.published else None,
            url_path(article.url) if article.url else None)


def _hit_row(item: Indexed, feedback: Callable[[Indexed], tuple[dict[str, int], int]]) -> tuple:
    terms, length = feedback(item)
    return (item.article.id, json.dumps(item.article.card(), ensure_ascii=False), item.snippet.text,
            *_twin_columns(item.snippet), int(item.snippet.truncated), *_twin_columns(item.title),
            json.dumps(terms, ensure_ascii=False), length)


def _twin_columns(text: SnippetText) -> tuple[str | None, bytes | None]:
    """The lowered twin as stored: NULL when it is the text lower-cased (most text)."""
    return (None if text.lowered == text.text.lower() else text.lowered), (text.offsets or None)


def _twin(text: str, lowered: str | None, offsets: bytes | None, truncated: int = 0) -> SnippetText:
    return SnippetText(text, text.lower() if lowered is None else lowered, offsets or b"", bool(truncated))


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    """SQLite takes a bounded number of parameters per statement."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
