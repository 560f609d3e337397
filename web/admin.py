"""Editor pages behind the admin token: analytics dashboard (every server's events, and the
synonyms and pins readers' searches propose), related-list explanations."""

from __future__ import annotations

import datetime as dt
import re
from functools import wraps

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from analytics.databases import EventDatabases
from analytics.report import build_report, report_csv
from analytics.site_files import SiteFileError, add_pin, add_synonym
from analytics.tuning import site_proposals
from web.charts import bar_chart
from web.context import search_service, settings
from web.editors import admin_token_matches, editors

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
# Where an editor may be sent back to after signing in: a path on this site only. Browsers
# drop tabs and newlines from URLs and read "\\" as "/", so "/\t/evil.example" and
# "/\\evil.example" would both leave the site; control characters and backslashes are refused.
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\\x00-\x1f\x7f]*")


@blueprint.context_processor
def form_helpers():
    return {"csrf_token": generate_csrf}


def editor_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not settings().admin_token:
            abort(403, "Admin pages are disabled until admin_token is set.")
        if not editors().session_valid(session.get("editor")):
            return redirect(url_for("admin.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapper


def _check_form() -> None:
    """Our forms carry a CSRF token (Flask-WTF's, tied to this browser's session cookie): a
    page on another site cannot sign an editor in or out."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400, "This form has expired or did not come from this site: reload the page and try again.")


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if not settings().admin_token:
        abort(403, "Admin pages are disabled until admin_token is set.")
    error = None
    if request.method == "POST":
        _check_form()
        if admin_token_matches(request.form.get("token", "")):
            session.clear()
            session["editor"] = editors().open_session()
            target = request.args.get("next", "")
            return redirect(target if _LOCAL_PATH.fullmatch(target) else url_for("admin.analytics"))
        error = "That token is not right."
    return render_template("admin_login.html", error=error), (401 if error else 200)


@blueprint.post("/logout")
def logout():
    _check_form()
    editors().close_session(session.get("editor"))
    session.clear()
    return redirect(url_for("pages.search"))


def _days(values=None) -> int:
    try:
        return max(1, min(int((values or request.args).get("days", 30)), 365))
    except ValueError:
        return 30


def _databases() -> EventDatabases:
    return EventDatabases.from_settings(settings())


@blueprint.get("/analytics")
@editor_required
def analytics():
    current_app.extensions["kindred.analytics"].flush(timeout=1)
    # A replica's database that cannot be read is named on the page; the rest still shows.
    report = build_report(_databases(), _days(), strict=False)
    proposals = site_proposals(settings(), _databases(), _days(), strict=False)
    titles = {}
    ids = {r["article"] for r in report["widget"]} | {r["source"] for r in report["never_clicked"]} | {
        r["target"] for r in report["never_clicked"]} | {p.article for p in proposals.pins}
    for article_id in ids:
        article = search_service().article(article_id)
        titles[article_id] = article.title if article else article_id
    first_day = dt.datetime.fromisoformat(report["since"]).date()
    chart = bar_chart(report["searches_per_day"], "searches", first_day, dt.datetime.now(dt.timezone.utc).date())
    return render_template("admin_analytics.html", report=report, titles=titles, chart=chart, proposals=proposals)


@blueprint.get("/analytics.csv")
@editor_required
def analytics_csv():
    report = build_report(_databases(), _days(), strict=False)
    return Response(report_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=kindred-analytics-{report['days']}d.csv"})


@blueprint.post("/proposals/accept")
@editor_required
def accept_proposal():
    """Write a proposal the dashboard showed into the synonyms or rules file. Only what the
    analytics still propose is accepted, so the form cannot write anything else."""
    _check_form()
    form = request.form
    days = _days(form)
    proposals = site_proposals(settings(), _databases(), days, strict=False)
    try:
        if form.get("kind") == "synonym" and (found := proposals.synonym(form.get("words"), form.get("answer"))):
            add_synonym(settings().resolve(settings().synonyms), found)
            flash(f"Added the synonym {found.line!r} to {settings().synonyms.name}: the next searches use it.")
        elif form.get("kind") == "pin" and (pin := proposals.pin(form.get("query"), form.get("article"))):
            add_pin(settings().resolve(settings().rules), pin)
            flash(f"Pinned {pin.article!r} for {pin.query!r} in {settings().rules.name}: the next searches use it.")
        else:
            abort(409, "That is no longer proposed (accepted already, or the readers' evidence changed): "
                       "reload the dashboard.")
    except SiteFileError as exc:
        abort(409, str(exc))
    return redirect(url_for("admin.analytics", days=days))


@blueprint.get("/related/<article_id:article_id>")
@editor_required
def related(article_id: str):
    article = search_service().article(article_id)
    if article is None:
        abort(404, f"No article with id {article_id!r}.")
    items = search_service().related(article_id, settings().related_k)
    return render_template("admin_related.html", article=article, items=items)
