"""Reader pages: search, article, the iframe widget, and widget.js. Work without JavaScript."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, make_response, render_template, request, url_for
from markupsafe import Markup

from search.article import blocks, slugify
from search.related_lists import absolute
from web.context import absolute_url, article_link, search_service, settings, site_base
from web.http import cacheable, int_arg, keep_session, page_session, public_cors
from web.searching import record_search, search_request_from_args

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
@blueprint.get("/search")
def search():
    service = search_service()
    search_request = search_request_from_args()
    has_query = bool(search_request.q.strip() or search_request.categories or search_request.tags)
    results = service.search(search_request) if has_query else None
    session = page_session(request)
    if results is not None:
        record_search(search_request, results.corrected or results.query, results.total, results.took_ms,
                      results.page, session)
    offered, heading = [], None
    if results is None or not results.hits:
        offered, heading = _offer(search_request, after_search=results is not None)
    html = render_template("search.html", request_=search_request, results=results, recent=offered,
                           recent_heading=heading)
    return keep_session(make_response(html), session)


# Popular articles looked at for an empty page (in order, before the category filter).
POPULAR_CANDIDATES = 50


def _offer(search_request, after_search: bool, limit: int = 5):
    """What an empty page offers. After a search that found nothing: articles about the
    nearest known words; else what the most readers clicked (in the reader's categories, when
    they chose some and readers clicked any), once there are three; else the newest."""
    service = search_service()
    if after_search:
        near = service.nearby(search_request, limit)
        if near:
            return near, "You might be looking for"
    most_read = list(current_app.extensions["kindred.popularity"].get().articles)[:POPULAR_CANDIDATES]
    popular = [a for a in map(service.article, most_read) if a]
    chosen = {slugify(c) for c in search_request.categories}
    in_chosen = [a for a in popular if a.category_key in chosen]
    popular = (in_chosen or popular)[:limit]
    if len(popular) >= 3:
        return popular, "Popular articles"
    return service.recent(limit), ("You might be looking for" if after_search else "Latest articles")


@blueprint.get("/articles/<article_id:article_id>")
def article(article_id: str):
    found = search_service().article(article_id)
    if found is None:
        abort(404, f"No article with id {article_id!r}.")
    return render_template("article.html", article=found, blocks=grouped_blocks(found.body))


def grouped_blocks(body: str) -> list[tuple[str, object]]:
    """Article blocks with consecutive list items gathered into one list."""
    grouped: list[tuple[str, object]] = []
    for kind, text in blocks(body):
        if kind == "item" and grouped and grouped[-1][0] == "list":
            grouped[-1][1].append(text)
        elif kind == "item":
            grouped.append(("list", [text]))
        else:
            grouped.append((kind, text))
    return grouped


@blueprint.get("/widget/related/<article_id:article_id>")
@public_cors
def widget_related(article_id: str):
    limit = min(max(int_arg("limit", settings().related_limit), 1), settings().related_k)
    state, payload = search_service().related_payload(article_id)
    if payload is None:
        abort(404, f"No article with id {article_id!r}.")
    # The list items were rendered (escaped) with the list, at build or upsert time.
    items = absolute(payload.html_items(limit), site_base(), html=True).decode()
    html = render_template("widget_related.html", items=Markup(items), source=article_id)
    response = cacheable(Response(html, mimetype="text/html"), state, article_id, limit, site_base())
    return response


@blueprint.get("/widget.js")
@public_cors
def widget_script():
    source = current_app.extensions["kindred.widget_js"]
    response = Response(source, mimetype="text/javascript")
    return cacheable(response, source, max_age=3600)


def register(app: Flask) -> None:
    # Read once: the embed script is requested on every page view of every embedding site.
    app.extensions["kindred.widget_js"] = (Path(__file__).parent / "static" / "widget.js").read_bytes()

    @app.context_processor
    def helpers():
        def url_with(**changes):
            """This page's URL with some query arguments changed (None removes one)."""
            args = request.args.to_dict(flat=False)
            for key, value in changes.items():
                if value is None:
                    args.pop(key, None)
                else:
                    args[key] = value if isinstance(value, list) else [value]
            if "page" not in changes:
                args.pop("page", None)
            return url_for("pages.search", **args)

        return {
            "site_name": settings().site_name,
            "url_with": url_with,
            "absolute_url": absolute_url,
            "article_link": article_link,
            "marked": Markup,  # for our own escaped-then-marked snippets only
            "article_url": search_service().article_url,
        }
