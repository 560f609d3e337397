"""`kindred`: the command line, a thin adapter over the same objects the web app uses.

Options mirror settings (docs/configuration.md): a flag beats KINDRED_* variables,
which beat kindred.toml, which beats the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import click

from analytics.databases import EventDatabases, UnreadableAnalytics
from search.article import InvalidArticle
from search.config import ConfigError, Settings, find_config_file, load_settings, reference_markdown, setting_fields
from search.deadline import SearchTimeout
from search.results import QueryError, SearchRequest
from search.service import SearchService
from search.versions import BrokenIndex, IncompatibleIndex, IndexNotFound
from search.write_errors import BuildError, IndexBusy, StorageError

DOMAIN_ERRORS = (BuildError, IndexBusy, IndexNotFound, IncompatibleIndex, QueryError, InvalidArticle, ConfigError,
                 StorageError, SearchTimeout, BrokenIndex, UnreadableAnalytics)
MAX_LISTED_REJECTIONS = 50
log = logging.getLogger("kindred")


def _indexer(settings: Settings, **options: Any):
    """The writing side, imported by the commands that write (scikit-learn and the source
    readers come with it): reading commands start without them."""
    from indexer.build import Indexer

    return Indexer(settings, **options)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        settings = load_settings(ctx.obj.get("config"), overrides)
        source = find_config_file(ctx.obj.get("config")) or "defaults and KINDRED_* variables"
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    log.info("settings from %s; index %s", source, settings.resolve(settings.index_dir))
    return settings


def domain_errors(func: Callable) -> Callable:
    """Domain errors become a message and exit code 1, never a traceback."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DOMAIN_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _id_prefixes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """PATH=PREFIX pairs; PATH is relative to the working directory."""
    prefixes = {}
    for value in values:
        path, sep, prefix = value.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{value!r} is not PATH=PREFIX", ctx, param)
        prefixes[str(Path(path).resolve())] = prefix
    return prefixes


index_dir_option = click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path),
                                help="Index directory (setting index_dir).")


@click.group()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), envvar="KINDRED_CONFIG",
              help="Settings file (default: ./kindred.toml if present).")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.version_option(package_name="kindred")
@click.pass_context
def main(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """Kindred: site search and related articles for content sites."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"config": config}


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_dir_option
@click.option("--engine", type=click.Choice(["whoosh", "tantivy"]), help="Engine (setting engine).")
@click.option("--allow-empty", is_flag=True, help="Publish a version even if no article is valid.")
@click.option("--reset-journal", is_flag=True,
              help="Forget articles upserted or deleted through the API; index the sources alone.")
@click.option("--id-prefix", "id_prefix", multiple=True, metavar="PATH=PREFIX", callback=_id_prefixes,
              help="Put PREFIX before the ids of the articles read from PATH, a file or directory (repeatable; "
                   "adds to setting id_prefixes).")
@click.option("--cluster", metavar="ADDRESS",
              help="Compute related lists on a Dask cluster: local:N or tcp://host:8786 (setting related_cluster).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
@domain_errors
def index(ctx, paths, index_dir, engine, allow_empty, reset_journal, id_prefix, cluster, quiet):
    """Build a new index version from PATHS (files or directories) and switch to it.

    Exits with status 1 when any record was rejected; the valid ones are indexed anyway.
    """
    settings = _settings(ctx, index_dir=index_dir, engine=engine, related_cluster=cluster)
    if id_prefix:  # added to the configured ones
        settings = _settings(ctx, index_dir=index_dir, engine=engine, related_cluster=cluster,
                             id_prefixes={**settings.id_prefixes, **id_prefix})
    indexer = _indexer(settings, progress=not quiet and sys.stderr.isatty())
    if reset_journal:
        indexer.journal.clear()
    rejections = RejectionList()
    try:  # each rejection is listed as it is read, so a build that fails still says why
        report = indexer.build(list(paths), allow_empty=allow_empty, on_item=rejections.add)
    finally:
        rejections.close()
    timings = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in report.timings.items())
    if report.related_timings:  # the last step's parts
        timings += " (" + ", ".join(f"{k.removeprefix('related_')[:-2]} {v:.1f}s"
                                    for k, v in report.related_timings.items()) + ")"
    click.echo(f"indexed {report.indexed} articles into version {report.version} "
               f"({report.rejected_count} rejected, {report.skipped_count} skipped; {timings})")
    if report.rejected_count:
        click.echo(f"{report.rejected_count} records rejected", err=True)
        ctx.exit(1)


class RejectionList:
    """Rejected records on stderr: the first MAX_LISTED_REJECTIONS, then how many more."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, item: object) -> None:
        from indexer.sources import Rejected

        if isinstance(item, Rejected):
            self.count += 1
            if self.count <= MAX_LISTED_REJECTIONS:
                click.echo(f"rejected {item}", err=True)

    def close(self) -> None:
        if self.count > MAX_LISTED_REJECTIONS:
            click.echo(f"... and {self.count - MAX_LISTED_REJECTIONS} more", err=True)


def _report_rejections(report) -> None:
    rejections = RejectionList()
    for rejected in report.rejected:
        rejections.add(rejected)
    rejections.count = report.rejected_count  # the report keeps the first ones only
    rejections.close()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@index_dir_option
@click.pass_context
@domain_errors
def upsert(ctx, paths, index_dir):
    """Add or replace the articles in PATHS in the current index, without a full rebuild."""
    from indexer.sources import Record, Rejected, read_paths

    settings = _settings(ctx, index_dir=index_dir)
    records, rejected = [], []
    for item in read_paths(list(paths), settings):
        if isinstance(item, Record):
            records.append(item.article)
        elif isinstance(item, Rejected):
            rejected.append(item)
    for item in rejected:
        click.echo(f"rejected {item}", err=True)
    if records:
        report = _indexer(settings).upsert(records)
        click.echo(f"upserted {report.upserted} articles; {report.related_updated} related lists updated")
    if rejected:
        ctx.exit(1)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@index_dir_option
@click.pass_context
@domain_errors
def delete(ctx, ids, index_dir):
    """Remove articles by id from the current index (and from every related list)."""
    report = _indexer(_settings(ctx, index_dir=index_dir)).delete(list(ids))
    click.echo(f"deleted {report.deleted} articles; {report.related_updated} related lists updated")
    if report.deleted < len(set(ids)):
        click.echo(f"{len(set(ids)) - report.deleted} ids were not in the index", err=True)
        ctx.exit(1)


@main.command()
@index_dir_option
@click.pass_context
@domain_errors
def reindex(ctx, index_dir):
    """Rebuild from the sources of the current version (refits related articles).

    Exits with status 1 when any record was rejected, like `kindred index`."""
    report = _indexer(_settings(ctx, index_dir=index_dir)).reindex()
    _report_rejections(report)
    click.echo(f"indexed {report.indexed} articles into version {report.version} ({report.rejected_count} rejected)")
    if report.rejected_count:
        ctx.exit(1)


@main.command()
@index_dir_option
@click.option("--repair", is_flag=True,
              help="First resolve writes a failure or a kill left pending, as the next write or build would.")
@click.pass_context
@domain_errors
def check(ctx, index_dir, repair):
    """Check that the current index's store, engine and manifest and the journal agree.

    Prints each disagreement and exits with status 1 when there is any."""
    from indexer.check import check_index

    settings = _settings(ctx, index_dir=index_dir)
    if repair:
        click.echo(f"resolved {_indexer(settings).recover()} interrupted writes")
    report = check_index(settings)
    for problem in report.problems:
        click.echo(problem)
    if report.problems:
        count = len(report.problems)
        raise click.ClickException(f"{count} problem{'s' if count != 1 else ''} in version {report.version}")
    click.echo(f"ok: version {report.version}, {report.articles} articles; store, engine, manifest and journal agree")


@main.command()
@click.argument("query")
@index_dir_option
@click.option("--limit", type=click.IntRange(min=1), help="Results per page (setting search_page_size).")
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1),
              help="Result page, at most setting search_max_page.")
@click.option("--category", multiple=True, help="Only this category (repeatable).")
@click.option("--tag", multiple=True, help="Only articles with this tag (repeatable).")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@domain_errors
def search(ctx, query, index_dir, limit, page, category, tag, sort, as_json):
    """Search the current index."""
    settings = _settings(ctx, index_dir=index_dir)
    limit = limit or settings.search_page_size
    # search_max_page_size protects the server from its clients; the command line's own
    # user may ask for any page size.
    settings = settings.replace(search_max_page_size=max(limit, settings.search_max_page_size))
    service = SearchService(settings)
    try:
        response = service.search(SearchRequest(q=query, categories=category, tags=tag, sort=sort,
                                                page=page, per_page=limit, facets=False))
    finally:
        service.close()
    if as_json:
        _emit({
            "total": response.total,
            "hits": [{"id": h.id, "title": h.title, "url": h.url, "score": h.score, "snippet": h.snippet_html}
                     for h in response.hits],
            "corrected": response.corrected,
            "suggestion": response.suggestion,
        })
        return
    if response.corrected:
        click.echo(f"Showing results for {response.corrected!r} (searched instead of {query!r})")
    elif response.suggestion:
        click.echo(f"Did you mean {response.suggestion!r}?")
    click.echo(f"{response.total} results")
    for number, hit in enumerate(response.hits, start=(page - 1) * limit + 1):
        click.echo(f"{number:3}. {hit.title}  [{hit.id}] {hit.score:.2f}")


@main.command()
@click.argument("article_id")
@index_dir_option
@click.option("--limit", type=click.IntRange(min=1),
              help="Related articles to show (setting related_limit; at most related_k).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@domain_errors
def related(ctx, article_id, index_dir, limit, as_json):
    """Show the related articles stored for ARTICLE_ID."""
    settings = _settings(ctx, index_dir=index_dir)
    service = SearchService(settings)
    try:
        items = service.related(article_id, min(limit or settings.related_limit, settings.related_k))
    finally:
        service.close()
    if items is None:
        raise click.ClickException(f"no article with id {article_id!r}")
    if as_json:
        _emit({"id": article_id, "related": [
            {"id": i.id, "title": i.title, "url": i.url, "score": i.score, "teaser": i.teaser,
             "kind": i.kind, "why": list(i.why)} for i in items]})
        return
    for number, item in enumerate(items, start=1):
        why = f" (shared: {', '.join(item.why)})" if item.why else ""
        click.echo(f"{number}. {item.title}  [{item.id}] {item.kind} {item.score:.3f}{why}")


@main.command("export")
@click.option("--static", "target", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the static files into (created if missing).")
@click.option("--public-path", default="/", show_default=True,
              help="The path (or URL) where the directory is served; the iframe pages' links to their CSS "
                   "and script start with it.")
@click.option("--site-url", help="Base URL for relative article URLs (setting site_url); required here.")
@index_dir_option
@click.pass_context
@domain_errors
def export(ctx, target, public_path, site_url, index_dir):
    """Write every article's related list, iframe page and widget.js for a static host or CDN,
    so the widget works with Kindred down (docs/embedding.md)."""
    settings = _settings(ctx, index_dir=index_dir, site_url=site_url)
    from web.export import ExportError, export_static

    try:
        report = export_static(settings, target, public_path)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    state = "unchanged, already exported" if report.unchanged else f"{report.files} files, {report.bytes:,} bytes"
    click.echo(f"exported {report.articles} articles into {report.directory} ({state})"
               + (f"; removed {', '.join(report.pruned)}" if report.pruned else ""))
    if report.skipped_paths:
        click.echo(f"{report.skipped_paths} articles have URL paths too long for a file name: "
                   "widgets find those by id only", err=True)


@main.command("eval")
@click.option("--docs", type=click.Path(exists=True, dir_okay=True, path_type=Path),
              help="Judged documents to index in a temporary index (default: use the current index).")
@click.option("--queries", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON Lines of {id, text}.")
@click.option("--qrels", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TSV of query_id, doc_id, relevance (graded; > 0 is relevant).")
@click.option("--engine", type=click.Choice(["whoosh", "tantivy"]), help="Engine (setting engine).")
@click.option("--split", type=click.Choice(["all", "tune", "heldout"]), default="all", show_default=True,
              help="Score all queries, or the fixed tuning half, or the held-out half.")
@click.option("--operators", is_flag=True,
              help="Read quotes, -words and field: in the queries as query syntax (default: plain text).")
@index_dir_option
@click.pass_context
@domain_errors
def evaluate_search(ctx, docs, queries, qrels, engine, split, operators, index_dir):
    """Score search quality on judged queries: nDCG@10, MAP and recall@100 as JSON.

    The collection is scored on its own: a site's settings, synonyms and rules apply only
    with --config (./kindred.toml is not read)."""
    from indexer.evaluate import described, run_eval

    settings = _evaluation_settings(ctx, engine=engine, index_dir=index_dir)
    try:
        result = run_eval(settings, queries, qrels, docs=docs, split=split, operators=operators)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit({**result, **described(settings, ctx.obj.get("config"))})


def _evaluation_settings(ctx: click.Context, **overrides: Any) -> Settings:
    from indexer.evaluate import evaluation_settings

    try:
        return evaluation_settings(ctx.obj.get("config"), overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("eval-related")
@click.option("--docs", required=True, type=click.Path(exists=True, path_type=Path),
              help="Articles to fit on (any supported source format).")
@click.option("--label", type=click.Choice(["category", "tags"]), default="category", show_default=True,
              help="The field that says which articles belong together; held out from the model.")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1),
              help="Related articles scored per article.")
@click.option("--split", type=click.Choice(["all", "tune", "heldout"]), default="all", show_default=True,
              help="Score every article's list, or a fixed half of them (by id): the tuning or the held-out half.")
@click.pass_context
@domain_errors
def evaluate_related(ctx, docs, label, k, split):
    """Score related articles: precision@k against a held-out label, coverage and timings.

    Like `kindred eval`, a site's settings apply only with --config."""
    from indexer.evaluate import described, run_eval_related

    settings = _evaluation_settings(ctx)
    _emit({**run_eval_related(settings, docs, label, k, split), "config": described(settings, ctx.obj.get("config"))["config"]})


@main.command()
@click.option("--host", help="Address to bind (setting host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (setting port).")
@click.option("--workers", type=click.IntRange(min=1), help="Gunicorn workers (setting workers).")
@click.option("--worker-type", type=click.Choice(["gevent", "sync"]),
              help="gevent, or sync behind nginx only (setting worker_type).")
@click.option("--dev", is_flag=True,
              help="Flask's development server instead: one process, no reloader, no debugger; never expose it.")
@click.option("--primary", metavar="URL", help="Run as a read replica of the primary at URL (setting primary_url).")
@index_dir_option
@click.pass_context
@domain_errors
def serve(ctx, host, port, workers, worker_type, dev, primary, index_dir):
    """Serve the search pages, API and widget (gunicorn unless --dev).

    With --primary, a read replica: it follows that primary's index (docs/scaling.md)."""
    settings = _settings(ctx, host=host, port=port, workers=workers, worker_type=worker_type, primary_url=primary,
                         index_dir=index_dir)
    from web.serve import run

    run(settings, dev=dev)


@main.group()
def analytics():
    """Search and click analytics: reports and retention."""


db_option = click.option("--db", "dbs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                         help="Read this analytics database, read-only (repeatable: several servers' together); "
                              "default: setting analytics_db and those of analytics_merge_dbs.")


def _event_databases(settings: Settings, dbs: tuple[Path, ...]) -> EventDatabases:
    return EventDatabases.named(dbs) if dbs else EventDatabases.from_settings(settings)


@analytics.command("report")
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1), help="Period to report on.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Rows per table.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@db_option
@click.pass_context
@domain_errors
def analytics_report(ctx, days, limit, as_json, as_csv, dbs):
    """What readers searched for, found nothing for, and clicked (on every server named)."""
    from analytics.report import build_report, report_csv

    report = build_report(_event_databases(_settings(ctx), dbs), days, limit)
    if as_json:
        _emit(report)
        return
    if as_csv:
        click.echo(report_csv(report), nl=False)
        return
    t = report["totals"]
    click.echo(f"Last {days} days: {t['searches']} searches in {t['sessions']} sessions, "
               f"{t['zero_result_searches']} found nothing, click-through {t['click_through_rate']:.0%}, "
               f"{t['widget_clicks']} related-article clicks")
    if len(report["databases"]) > 1:
        click.echo(f"(from {len(report['databases'])} databases: {', '.join(report['databases'])})")
    sections = (
        ("Top searches", report["top_queries"], lambda r: f"{r['searches']:5}  {r['query']}  (CTR {r['click_through_rate']:.0%})"),
        ("Content gaps (no results)", report["zero_result_queries"], lambda r: f"{r['searches']:5}  {r['query']}  (last {r['last_seen'][:10]})"),
        ("Widget", report["widget"], lambda r: f"{r['impressions']:5} shown  {r['clicks']:4} clicks  {r['article']}"),
        ("Never-clicked related articles", report["never_clicked"], lambda r: f"{r['impressions']:5} shown  {r['source']} -> {r['target']}"),
    )
    for title, rows, line in sections:
        click.echo(f"\n{title}")
        for row in rows:
            click.echo("  " + line(row))
        if not rows:
            click.echo("  (none)")


@analytics.command("purge")
@click.option("--days", type=click.IntRange(min=0), help="Keep this many days (setting analytics_retention_days).")
@click.pass_context
def analytics_purge(ctx, days):
    """Delete analytics events older than the retention period."""
    from analytics.recorder import purge

    settings = _settings(ctx)
    days = settings.analytics_retention_days if days is None else days
    removed = purge(settings.resolve(settings.analytics_db), days)
    click.echo(f"removed {removed} events older than {days} days")


@main.command()
@click.option("--from-analytics", "from_analytics", is_flag=True,
              help="Propose from what readers searched and clicked (the analytics databases).")
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1), help="Period to learn from.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Proposals of each kind.")
@click.option("--min-sessions", type=click.IntRange(min=1),
              help="Evidence a proposal needs (setting analytics_tune_min_sessions).")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@domain_errors
def tune(ctx, from_analytics, days, limit, min_sessions, dbs, as_json):
    """Propose synonyms and pinned results; changes nothing (an editor accepts them on the
    dashboard, docs/analytics.md)."""
    if not from_analytics:
        raise click.UsageError("say what to learn from: --from-analytics")
    from analytics.tuning import site_proposals

    settings = _settings(ctx, analytics_tune_min_sessions=min_sessions)
    proposals = site_proposals(settings, _event_databases(settings, dbs), days, limit)
    if as_json:
        _emit({**dataclasses.asdict(proposals), "synonyms": [{**dataclasses.asdict(p), "line": p.line}
                                                              for p in proposals.synonyms]})
        return
    click.echo("Synonyms: searches that found nothing, then other words that did")
    for p in proposals.synonyms:
        click.echo(f"  {p.sessions:5} sessions ({p.clicked} clicked)  {p.line}")
    if not proposals.synonyms:
        click.echo("  (none)")
    click.echo("\nPins: articles readers click far down a query's results")
    for p in proposals.pins:
        click.echo(f"  {p.sessions:5} sessions (mean position {p.mean_position})  {p.query!r} -> {p.article}")
    if not proposals.pins:
        click.echo("  (none)")
    capped = " (the latest only: analytics_tune_max_events)" if proposals.capped else ""
    click.echo(f"\nRead {proposals.searches_read} searches and {proposals.clicks_read} clicks of the last {days} "
               f"days{capped}. Nothing was changed: an editor accepts proposals on /admin/analytics.")


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the settings reference (docs/configuration.md) instead.")
@click.pass_context
def show_config(ctx, markdown):
    """Print the effective settings."""
    if markdown:
        click.echo(reference_markdown(), nl=False)
        return
    settings = _settings(ctx)
    for f in setting_fields():
        value = getattr(settings, f.name)
        if f.metadata.get("secret") and value:
            value = "(set)"
        click.echo(f"{f.name} = {value!r}")
