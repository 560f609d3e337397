"""Settings, declared once: defaults < kindred.toml < KINDRED_* environment < explicit overrides.

Every setting has a name, a default and a help text. TOML tables flatten into names
(``[related] limit = 5`` is ``related_limit``) and each name maps to one environment
variable (``KINDRED_RELATED_LIMIT``). This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

CONFIG_FILE_NAME = "kindred.toml"
ENV_PREFIX = "KINDRED_"
MAX_MERGED_ANALYTICS_DBS = 9
LOCAL_CLUSTER_PREFIX = "local:"  # related_cluster `local:N`: a cluster of N processes started for the build


class ConfigError(ValueError):
    """A setting could not be read or has a value of the wrong kind."""


def _setting(default: Any, help: str, *, path: bool = False, secret: bool = False) -> Any:
    meta = {"help": help, "path": path, "secret": secret}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    # Index and sources
    index_dir: Path = _setting(Path("var/index"), "Directory holding index versions and the `current` pointer.", path=True)
    sources: list = _setting([], "Paths indexed when `kindred index` gets no PATH and by POST /api/v1/reindex.")
    id_prefixes: dict = _setting({}, "Map of source path (a file or a directory, relative to this file) to a prefix put "
                                     "before the ids of every article read from it, so sources whose ids clash index "
                                     "together (docs/sources.md); the most specific path wins, \"\" keeps ids as they are.")
    engine: str = _setting("whoosh", "Search engine: `whoosh` (pure Python, default) or `tantivy` (the `tantivy` extra).")
    write_timeout: float = _setting(30.0, "Seconds a write (upsert, delete, switch) waits for another write to finish.")
    keep_versions: int = _setting(2, "Complete index versions kept on disk (current + previous).")

    # Search
    synonyms: Path = _setting(Path("data/synonyms.txt"), "Synonyms file (Solr format), applied at query time.", path=True)
    rules: Path = _setting(Path("data/rules.toml"), "Query rules file: pinned results and banners.", path=True)
    search_page_size: int = _setting(10, "Results per page.")
    search_max_page_size: int = _setting(50, "Largest page size a client may ask for.")
    search_max_query_chars: int = _setting(1000, "Longest query accepted; longer ones get HTTP 400.")
    search_max_page: int = _setting(100, "Deepest result page a client may ask for.")
    suggest_limit: int = _setting(8, "Autocomplete suggestions given when a request does not say how many.")
    suggest_max_limit: int = _setting(20, "Most autocomplete suggestions a client may ask for.")
    search_cache_size: int = _setting(2048, "Search results and related lists kept in each worker's LRU cache (0 disables it).")
    search_shared_cache_size: int = _setting(
        2000, "Search API responses kept in a SQLite file shared by a server's workers (responses.sqlite in "
              "index_dir; bodies over 64 KiB stay per worker; 0 disables it).")
    search_k1: float = _setting(1.2, "BM25 term-frequency saturation (Whoosh only; tantivy fixes 1.2).")
    search_b: float = _setting(0.75, "BM25 length normalization (Whoosh only; tantivy fixes 0.75).")
    search_max_terms: int = _setting(32, "Long questions keep this many of their most discriminative words.")
    search_max_postings: int = _setting(60_000, "Long questions keep their rarest words first and drop common ones "
                                                "once their postings (document frequencies) add up to this: the cost "
                                                "of a query grows with it.")
    search_max_phrases: int = _setting(10, "Quoted phrases one query may have; more get HTTP 400.")
    search_max_exclusions: int = _setting(10, "Excluded words and phrases (`-word`, `-\"a phrase\"`) one query may "
                                              "have; more get HTTP 400.")
    search_spelling_max_words: int = _setting(8, "Words of one query checked for misspellings; the others are "
                                                 "searched as typed.")
    search_spelling_max_candidates: int = _setting(100, "Known words (the most common first) weighed as corrections "
                                                        "of one misspelt word.")
    search_timeout: float = _setting(2.0, "Seconds one search may run; past it the search stops and answers "
                                          "HTTP 503.")
    search_synonym_weight: float = _setting(0.9, "Weight of a synonym relative to the reader's own word.")
    search_proximity_weight: float = _setting(0.2, "Weight of the reader's adjacent words found next to each other in an "
                                                   "article (re-ranks the best 50 results; 0: off).")
    search_feedback_docs: int = _setting(20, "Pseudo-relevance feedback: top results whose words expand a question (0: off).")
    search_feedback_terms: int = _setting(10, "Pseudo-relevance feedback: words added to the query.")
    search_feedback_words: float = _setting(2.0, "Pseudo-relevance feedback: how much the added words weigh together, in "
                                                 "the reader's own words (2: two average query words, so they count "
                                                 "for less in a longer question).")
    search_feedback_focus: float = _setting(10.0, "Pseudo-relevance feedback: how much more the best results count "
                                                  "than the others: each weighs its score relative to the best one to "
                                                  "this power (0: all alike, 1: in proportion to their scores).")
    search_feedback_min_terms: int = _setting(3, "Pseudo-relevance feedback applies to queries of at least this many words.")
    search_rare_word_emphasis: float = _setting(0.25, "Long queries: each word's weight is multiplied by its idf to this "
                                                      "power (relative to the query's average), so the rare words that "
                                                      "name a description's topic outweigh the common ones around them "
                                                      "(0: off).")
    search_long_query_terms: int = _setting(6, "Queries of at least this many words (after pruning) are long: "
                                               "`search_rare_word_emphasis` applies to them.")
    field_weights: dict = _setting({"title": 5, "labels": 2, "summary": 1, "body": 1},
                                   "How much a word counts in the title, labels (category and tags), summary and body "
                                   "(repeat counts; used by search and related articles; needs a rebuild).")

    # Related articles
    related_k: int = _setting(20, "Related articles stored per article.")
    related_limit: int = _setting(5, "Related articles shown by default in the widget and API.")
    related_min_score: float = _setting(0.05, "Text similarity below which a neighbour is not 'related'.")
    related_tf_saturation: float = _setting(0.0125, "How soon a word's repeats stop counting in the related-articles model, "
                                                   "as a share of the article's length, scaled by the site's median "
                                                   "article length over 500 terms (smaller: sooner).")
    related_topics: int = _setting(12, "Broad topics (NMF components) learned from the articles' text.")
    related_topic_weight: float = _setting(0.2, "0..1: share of the text similarity given to shared topics (0: words only).")
    related_category_boost: float = _setting(0.05, "Score added when two articles share a category.")
    related_tag_boost: float = _setting(0.03, "Score added per shared tag (at most three tags count).")
    related_recency_boost: float = _setting(0.02, "Largest score added for a recent article, decaying over a year.")
    related_duplicate_threshold: float = _setting(0.9, "Cosine at or above which two articles count as duplicates.")
    related_diversity: float = _setting(0.0, "0..1: how strongly the list avoids near-copies of earlier picks.")
    related_exclude_categories: dict = _setting({}, "Map of source category to categories never recommended from it.")
    related_block_pairs: list = _setting([], "Pairs [a, b] never recommended to each other.")
    related_pins: dict = _setting({}, "Map of article id to ids always shown first in its list.")
    related_fallback: list = _setting(["category", "recent"], "How short lists are filled: `category`, `recent`.")
    related_cluster: str = _setting("", "Where a full build computes related lists: empty (in the building process), "
                                        "`local:N` (a Dask LocalCluster of N worker processes started for the build) "
                                        "or a Dask scheduler's address such as `tcp://10.0.0.20:8786` (the `cluster` "
                                        "extra; docs/scaling.md). The lists are the same wherever they are computed.")
    teaser_length: int = _setting(110, "Teaser length in characters before it is cut at a word boundary.")

    # Web
    host: str = _setting("127.0.0.1", "Address `kindred serve` binds.")
    port: int = _setting(8000, "Port `kindred serve` binds.")
    workers: int = _setting(2, "Gunicorn worker processes for `kindred serve`.")
    worker_type: str = _setting("gevent", "`gevent`: a connection holds no worker until its request has arrived, so "
                                          "clients that never finish their headers cannot take the server down; "
                                          "`sync`: one connection per worker, faster for one request per connection, "
                                          "safe only behind a proxy that forwards complete requests (nginx).")
    site_name: str = _setting("Kindred", "Site name shown on pages.")
    article_links: str = _setting("source", "Where result and widget links go: `source` (the article's own url) or `local` (Kindred's /articles/<id> page).")
    site_url: str = _setting("", "Base URL for relative article URLs in the API and widget (default: the request's host).")
    admin_token: str = _setting("", "Bearer token for admin endpoints; admin is disabled while empty.", secret=True)
    admin_db: Path = _setting(Path("var/admin.sqlite"), "SQLite database of editor sessions and wrong admin-token "
                                                        "attempts, shared by all workers.", path=True)
    trusted_proxies: int = _setting(0, "Reverse proxies in front of Kindred that append the client's address to "
                                        "X-Forwarded-For (1 behind the nginx of docs/deploy.md). 0: the connection's "
                                        "address is the client (used for per-client analytics limits only, never stored).")
    cors_origins: list = _setting(["*"], "Origins allowed to read the public API from a browser.")
    frame_ancestors: list = _setting(["*"], "Origins allowed to frame the iframe widget.")
    max_body_bytes: int = _setting(5_000_000, "Largest request body accepted by the admin API.")
    max_batch_size: int = _setting(500, "Most articles one upsert request may carry.")
    analytics_db: Path = _setting(Path("var/analytics.sqlite"), "SQLite database for search and click analytics.", path=True)
    analytics_enabled: bool = _setting(True, "Record searches and clicks.")
    analytics_retention_days: int = _setting(90, "Analytics events older than this are purged.")
    analytics_sessions: bool = _setting(True, "Store an anonymous session id (a 30-minute first-party cookie) with "
                                              "searches and events; false: no cookie is set and no session stored.")
    analytics_events_per_minute: int = _setting(60, "Reader events a client address may send per minute (more get "
                                                    "HTTP 429), and searches of it recorded per minute (more are "
                                                    "answered, not recorded). 0: no limit.")
    analytics_merge_dbs: list = _setting([], "Other servers' analytics databases (copies of each replica's "
                                             "analytics_db; relative to the settings file) that the dashboard, "
                                             "`kindred analytics report` and `kindred tune --from-analytics` read, "
                                             "read-only, together with this server's own (at most 9).")
    analytics_tune_min_sessions: int = _setting(3, "Evidence `kindred tune --from-analytics` needs before it proposes "
                                                   "a synonym (sessions that searched the same words in vain and then "
                                                   "other words that found results) or a pin (sessions or readers that "
                                                   "clicked the same article far down one query's results).")
    analytics_tune_min_position: int = _setting(4, "A result clicked at this position or lower counts towards "
                                                   "proposing to pin it for its query.")
    analytics_tune_max_events: int = _setting(20_000, "Most recent searches, and as many result clicks, that one "
                                                       "round of proposals reads (bounds its time and memory).")

    # Replication (docs/scaling.md)
    primary_url: str = _setting("", "Base URL of the primary this server follows as a read replica (empty: this "
                                    "server builds its own index). `kindred serve --primary URL`.")
    replication_token: str = _setting("", "Shared secret between a primary and its replicas: on the primary it "
                                          "enables publishing snapshots and authenticates their download; a "
                                          "replica sends it (`Authorization: Bearer`).", secret=True)
    replication_poll_interval: float = _setting(2.0, "Seconds between a replica's checks of its primary for a new "
                                                     "index state (a primary looks for one to publish every 0.5 s, "
                                                     "or this, if shorter).")

    # Where relative paths from the config file were resolved; not a user setting.
    base_dir: Path = field(default=Path("."), metadata={"help": "", "path": False, "internal": True})

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def setting_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(Settings) if not f.metadata.get("internal")]


def _coerce(f: dataclasses.Field, value: Any, origin: str) -> Any:
    kind = type(f.default) if f.default is not dataclasses.MISSING else type(f.default_factory())
    try:
        if f.metadata.get("path"):
            return Path(value)
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return lowered in {"1", "true", "yes", "on"}
            return bool(value)
        if kind in (int, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return kind(value)
        if kind is list:
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            if not isinstance(value, list):
                raise ValueError(value)
            return value
        if kind is dict:
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: {f.name} = {value!r} is not a valid {kind.__name__}") from exc


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    known = {f.name for f in setting_fields()}
    for key, value in table.items():
        name = f"{prefix}{key}".replace("-", "_")
        if isinstance(value, dict) and name not in known:
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def find_config_file(explicit: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None,
                     look_in_cwd: bool = True) -> Path | None:
    environ = os.environ if environ is None else environ
    candidate = explicit or environ.get(f"{ENV_PREFIX}CONFIG")
    if candidate:
        path = Path(candidate)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    default = Path(CONFIG_FILE_NAME)
    return default if look_in_cwd and default.is_file() else None


def load_settings(
    config_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    look_in_cwd: bool = True,
) -> Settings:
    """Build Settings from defaults, the config file, KINDRED_* variables and overrides.

    The config file is `config_file`, else $KINDRED_CONFIG, else ./kindred.toml
    (unless `look_in_cwd` is False)."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in setting_fields()}
    values: dict[str, Any] = {}
    base_dir = Path.cwd()

    path = find_config_file(config_file, environ, look_in_cwd)
    if path is not None:
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        base_dir = path.resolve().parent
        for name, value in _flatten(table).items():
            if name not in fields:
                raise ConfigError(f"{path}: unknown setting {name!r}")
            coerced = _coerce(fields[name], value, str(path))
            if fields[name].metadata.get("path"):
                coerced = coerced if coerced.is_absolute() else base_dir / coerced
            values[name] = coerced

    for name, f in fields.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            coerced = _coerce(f, raw, ENV_PREFIX + name.upper())
            values[name] = coerced.resolve() if f.metadata.get("path") else coerced

    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in fields:
            raise ConfigError(f"unknown setting {name!r}")
        coerced = _coerce(fields[name], value, "override")
        values[name] = coerced.resolve() if fields[name].metadata.get("path") else coerced

    settings = Settings(**values, base_dir=base_dir)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if settings.engine not in {"whoosh", "tantivy"}:
        raise ConfigError(f"engine must be 'whoosh' or 'tantivy', not {settings.engine!r}")
    unknown_fields = set(settings.field_weights) - {"title", "labels", "summary", "body"}
    if unknown_fields:
        raise ConfigError(f"field_weights: unknown fields {sorted(unknown_fields)}")
    if not all(isinstance(w, int) and 0 <= w <= 10 for w in settings.field_weights.values()):
        raise ConfigError("field_weights must be whole numbers from 0 to 10")
    for name in ("search_proximity_weight", "search_feedback_words", "search_feedback_focus",
                 "search_rare_word_emphasis"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} must be at least 0")
    for name in ("search_max_terms", "search_max_phrases", "search_spelling_max_candidates", "related_k",
                 "related_limit", "search_page_size", "search_max_page_size", "teaser_length", "workers",
                 "keep_versions", "suggest_limit", "search_long_query_terms"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    if settings.search_timeout <= 0:
        raise ConfigError("search_timeout must be above 0 seconds")
    if settings.search_page_size > settings.search_max_page_size:
        raise ConfigError("search_page_size cannot exceed search_max_page_size")
    for name in ("trusted_proxies", "analytics_events_per_minute"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} cannot be negative")
    for name in ("analytics_tune_min_sessions", "analytics_tune_min_position", "analytics_tune_max_events"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    if len(settings.analytics_merge_dbs) > MAX_MERGED_ANALYTICS_DBS:
        raise ConfigError(f"analytics_merge_dbs lists at most {MAX_MERGED_ANALYTICS_DBS} databases "
                          "(SQLite reads ten together, this server's own included)")
    if not all(isinstance(p, str) and p for p in settings.analytics_merge_dbs):
        raise ConfigError("analytics_merge_dbs must be a list of paths")
    if settings.suggest_limit > settings.suggest_max_limit:
        raise ConfigError("suggest_limit cannot exceed suggest_max_limit")
    if not 0 <= settings.related_topic_weight <= 1:
        raise ConfigError("related_topic_weight must be between 0 and 1")
    if settings.related_tf_saturation <= 0:
        raise ConfigError("related_tf_saturation must be above 0")
    if settings.related_topics < 1:
        raise ConfigError("related_topics must be at least 1")
    if settings.related_limit > settings.related_k:
        raise ConfigError("related_limit cannot exceed related_k")
    for source, targets in settings.related_exclude_categories.items():
        if not isinstance(targets, list):
            raise ConfigError(f"related_exclude_categories[{source!r}] must be a list of categories")
    for pair in settings.related_block_pairs:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ConfigError(f"related_block_pairs entries must be [a, b] pairs, not {pair!r}")
    if settings.worker_type not in {"gevent", "sync"}:
        raise ConfigError(f"worker_type must be 'gevent' or 'sync', not {settings.worker_type!r}")
    for path, prefix in settings.id_prefixes.items():
        if not isinstance(prefix, str) or any(c.isspace() or not c.isprintable() for c in prefix):
            raise ConfigError(f"id_prefixes[{path!r}] must be text without spaces or control characters, not {prefix!r}")
    if settings.article_links not in {"source", "local"}:
        raise ConfigError(f"article_links must be 'source' or 'local', not {settings.article_links!r}")
    unknown = set(settings.related_fallback) - {"category", "recent"}
    if unknown:
        raise ConfigError(f"related_fallback: unknown strategies {sorted(unknown)}")
    _validate_replication(settings)
    _validate_cluster(settings.related_cluster)


def _validate_cluster(address: str) -> None:
    if not address:
        return
    if address.startswith(LOCAL_CLUSTER_PREFIX):
        workers = address[len(LOCAL_CLUSTER_PREFIX):]
        if workers.isdigit() and int(workers) >= 1:
            return
    else:
        parts = urlsplit(address)
        if parts.scheme and parts.hostname and not parts.path.strip("/") and not parts.query:
            return
    raise ConfigError(f"related_cluster must be empty, local:N (N processes) or a Dask scheduler's address such as "
                      f"tcp://10.0.0.20:8786, not {address!r}")


def _validate_replication(settings: Settings) -> None:
    if not 0.1 <= settings.replication_poll_interval <= 3600:
        raise ConfigError("replication_poll_interval must be between 0.1 and 3600 seconds")
    if not settings.primary_url:
        return
    parts = urlsplit(settings.primary_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"primary_url must be an http(s) URL such as http://10.0.0.10:8000, not {settings.primary_url!r}")
    if not settings.replication_token:
        raise ConfigError("a replica needs replication_token (KINDRED_REPLICATION_TOKEN), the same as the primary's")


_GROUPS = (
    ("Index and sources", ("index_dir", "sources", "id_prefixes", "engine", "write_timeout", "keep_versions",
                           "field_weights")),
    ("Search", ("synonyms", "rules", "search_", "suggest_")),
    ("Related articles", ("related_", "teaser_length")),
    ("Analytics", ("analytics_",)),
    ("Replication", ("primary_url", "replication_")),
    ("Web", ("",)),
)


def reference_markdown() -> str:
    """docs/configuration.md, generated from the declarations above (`make docs`)."""
    groups: dict[str, list[dataclasses.Field]] = {title: [] for title, _ in _GROUPS}
    for f in setting_fields():
        title = next(t for t, prefixes in _GROUPS if any(f.name.startswith(p) for p in prefixes))
        groups[title].append(f)
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `kindred config --markdown` (make docs); edit search/config.py instead. -->",
        "",
        "Every setting has a default and can be set in three places; later ones win:",
        "",
        "1. `kindred.toml` (the file named by `--config` or `KINDRED_CONFIG`, else `./kindred.toml`).",
        "   TOML tables flatten into names: `[related] limit = 5` is `related_limit`. Relative paths",
        "   are relative to the file.",
        "2. Environment variables: `KINDRED_` + the name in capitals, e.g. `KINDRED_INDEX_DIR=/srv/index`.",
        "   Lists are comma-separated (`KINDRED_CORS_ORIGINS=https://a.org,https://b.org`), maps are JSON.",
        "3. Command-line flags where a command has one (`kindred index --index-dir`, `kindred serve --port`).",
        "",
        "`kindred config` prints the effective value of every setting.",
    ]
    for title, fields in groups.items():
        lines += ["", f"## {title}", "", "| setting | default | what it does |", "|---|---|---|"]
        for f in fields:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            shown = default.as_posix() if isinstance(default, Path) else default
            cell = json.dumps(shown).replace("|", "\\|")
            text = f.metadata["help"].replace("|", "\\|")
            lines.append(f"| `{f.name}` | `{cell}` | {text} |")
    return "\n".join(lines) + "\n"
