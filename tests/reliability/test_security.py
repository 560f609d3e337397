"""Security: every reader-visible string escaped, links never `javascript:`, admin behind
the token, CORS without credentials, security headers on every page.

XSS payloads go into articles' titles, bodies, summaries, tags, categories, authors, urls
and ids, into queries and filters, and into analytics events; then every surface that shows
them is parsed as a browser would (lexbor) and checked: no element or attribute the payload
brought (no on* handler, no <script> but ours, no javascript:/data: link), and the text
shown literally. The browser side (the widget's Shadow DOM, autocomplete) is in
tests/browser/test_xss_widget.py."""

from __future__ import annotations

import html
import itertools
import json
import re
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest
from selectolax.lexbor import LexborHTMLParser

from indexer.build import Indexer
from indexer.sources.records import plain_title
from search.article import Article
from analytics.report import build_report
from tests.reliability.fuzzing import count
from tests.conftest import sign_in
from tests.reliability.harness import ADMIN_TOKEN, SAMPLE, reliability_settings, write_jsonl
from tests.reliability.payloads import FLAG_PAYLOADS, PAYLOAD_IDS, PAYLOADS, URL_PAYLOADS, WORD, payload_articles
from web.app import create_app

ALL_PAYLOADS = PAYLOADS + FLAG_PAYLOADS
TALLY: dict[str, int] = {"tried": 0, "unescaped": 0}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("xss")
    # article_links=source (the default): links go to the articles' own urls, the payloads.
    settings = reliability_settings(root, article_links="source", frame_ancestors=["https://news.example"])
    Indexer(settings).build([SAMPLE, write_jsonl(root / "xss.jsonl", payload_articles(ALL_PAYLOADS))])
    app = create_app(settings)
    client = app.test_client()
    for payload in ALL_PAYLOADS:  # analytics rows for the dashboard: searches, impressions, clicks
        client.get(f"/api/v1/search?q={quote(payload)}&exact=1")
        for _ in range(3):
            client.post("/api/v1/events", data=json.dumps({"type": "widget_impression", "source": "xss-0",
                                                           "targets": ["xss-1", payload]}), content_type="text/plain")
        client.post("/api/v1/events", data=json.dumps({"type": "result_click", "query": payload, "target": payload,
                                                       "position": 1}), content_type="text/plain")
    app.extensions["kindred.analytics"].flush()
    yield app, settings
    app.extensions["kindred.search"].close()


def editor(app):
    client = app.test_client()
    assert sign_in(client, ADMIN_TOKEN).status_code == 302
    return client


# What "escaped" means for a page ----------------------------------------------------------

OUR_SCRIPTS = ("/static/search.js", "/static/widget-frame.js", "/widget.js")
DANGEROUS_SCHEMES = ("javascript:", "data:", "vbscript:")


def page_problems(markup: str) -> list[str]:
    """Elements and attributes no page of ours has, so only a payload could have brought."""
    tree = LexborHTMLParser(markup)
    problems = []
    for node in tree.root.traverse():
        if node.tag in ("-text", "-comment", "-document", "!doctype", "_doctype"):
            continue
        attrs = node.attributes
        for name, value in attrs.items():
            if name.lower().startswith("on"):
                problems.append(f"<{node.tag} {name}=...>")
            if name.lower() in ("href", "src", "action", "formaction", "data", "srcdoc", "xlink:href"):
                cleaned = browser_url(value)
                if cleaned.startswith(DANGEROUS_SCHEMES) and not (node.tag == "link" and cleaned.startswith("data:image/svg")):
                    problems.append(f"<{node.tag} {name}={value!r}>")
        if node.tag == "script" and (attrs.get("src") not in OUR_SCRIPTS or (node.text() or "").strip()):
            problems.append(f"<script src={attrs.get('src')!r}>{(node.text() or '')[:40]}")
        if node.tag in ("img", "iframe", "object", "embed", "b", "textarea", "math", "template", "base", "form") \
                and not _ours(node):
            problems.append(f"<{node.tag}> from a payload")
        if node.tag == "svg" and "chart" not in (attrs.get("class") or ""):
            problems.append("<svg> from a payload")
    return problems


def browser_url(value: str | None) -> str:
    """A URL as a browser reads it (WHATWG URL parser): leading and trailing C0 controls and
    spaces dropped, tabs and newlines removed anywhere; lower-cased for the scheme check."""
    return re.sub(r"[\t\n\r]", "", (value or "").strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r"
                                                          "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19"
                                                          "\x1a\x1b\x1c\x1d\x1e\x1f ")).lower()


def _ours(node) -> bool:
    attrs = node.attributes
    if node.tag == "iframe":
        return (attrs.get("src") or "").startswith("/widget/related/")
    if node.tag == "base":  # the iframe widget opens links in the top window
        return dict(attrs) == {"target": "_top"}
    if node.tag == "form":
        return (attrs.get("action") or "").startswith("/") or attrs.get("method") == "post"
    return False


def check(surface: str, markup: str, shown: list[str] = ()) -> None:
    """One payload on one surface: nothing live, and the text shown as text."""
    TALLY["tried"] += 1
    count(f"xss: {surface}")
    problems = page_problems(markup)
    text = LexborHTMLParser(markup).text(deep=True)
    missing = [s for s in shown if " ".join(s.split()) not in " ".join(text.split())]
    if problems or missing:
        TALLY["unescaped"] += 1
    assert not problems, (surface, problems)
    assert not missing, (surface, missing)


def ok_html(response) -> str:
    assert response.status_code in (200, 404), response.status_code
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# Pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(ALL_PAYLOADS)))
def test_payloads_are_escaped_on_every_page(site, index):
    app, _ = site
    client = app.test_client()
    payload = ALL_PAYLOADS[index]
    title = plain_title(f"{payload} {WORD} {index}")  # a title read from a file is text (docs/sources.md)
    article_id = f"xss-{index}"

    check("search results", ok_html(client.get(f"/search?q={WORD}%20{index}&per_page=50")), [title])
    check("search query echo", ok_html(client.get(f"/search?q={quote(payload)}")), [])
    check("search filters", ok_html(client.get(
        f"/search?q={WORD}&category={quote(payload)}&tag={quote(payload)}&sort=date")), [])
    check("facets", ok_html(client.get(f"/search?q={WORD}%20{index}&per_page=50")), [f"{payload} cat"])
    check("article page", ok_html(client.get(f"/articles/{article_id}")), [title, f"{payload} summary", payload])
    check("iframe widget", ok_html(client.get(f"/widget/related/{article_id}?limit=20")), [])
    check("not found page", ok_html(client.get(f"/articles/{quote(payload, safe='')}")), [])
    admin = editor(app)
    check("admin related page", ok_html(admin.get(f"/admin/related/{article_id}")), [title])
    page = LexborHTMLParser(ok_html(client.get(f"/search?q={WORD}%20{index}&per_page=50")))
    hrefs = {a.attributes.get("data-kindred-target"): a.attributes.get("href") for a in page.css("ol.hits h2 a")}
    stored = Article.from_mapping({"id": "x", "title": "t", "url": URL_PAYLOADS[index % len(URL_PAYLOADS)]}).url
    # A safe url links as the site's root resolves it (a relative one is relative to site_url).
    expected = f"/articles/{article_id}" if browser_url(stored).startswith(DANGEROUS_SCHEMES) else urljoin("/", stored)
    assert hrefs[article_id] == expected, (hrefs[article_id], stored)


def test_widget_lists_payload_titles_as_text(site):
    app, _ = site
    markup = ok_html(app.test_client().get("/widget/related/xss-0?limit=20"))
    titles = [node.text() for node in LexborHTMLParser(markup).css("a strong")]
    assert any(t.startswith("<script>alert(1)</script>") or WORD in t for t in titles), titles
    assert sum(WORD in t for t in titles) >= 3, titles
    check("iframe widget titles", markup, [t for t in titles])


@pytest.mark.parametrize("payload_id", PAYLOAD_IDS)
def test_payload_ids_are_escaped_in_urls_and_attributes(site, payload_id):
    app, _ = site
    client = app.test_client()
    page = client.get(f"/articles/{quote(payload_id, safe='')}")
    check("article page (payload id)", ok_html(page), [f"Payload id {PAYLOAD_IDS.index(payload_id)} {WORD}"])
    check("search results (payload id)", ok_html(client.get(f"/search?q={WORD}&per_page=50")), [])
    check("iframe widget (payload id)", ok_html(client.get(f"/widget/related/{quote(payload_id, safe='')}")), [])
    data = client.get(f"/api/v1/related/{quote(payload_id, safe='')}").get_json()
    assert data["id"] == payload_id


def test_admin_dashboard_escapes_queries_and_event_ids(site):
    app, settings = site
    markup = ok_html(editor(app).get("/admin/analytics?days=7"))
    report = build_report(settings.resolve(settings.analytics_db), 7)
    queries = [row["query"] for row in report["top_queries"] + report["zero_result_queries"]]
    assert len(set(queries)) >= len(ALL_PAYLOADS) - 2, queries  # (a few are cleaned up alike)
    for query in sorted(set(queries)):
        check("admin dashboard", markup, [query])


def test_login_page_and_redirect_target_are_safe(site):
    app, _ = site
    client = app.test_client()
    for payload in ALL_PAYLOADS:
        check("admin login", ok_html(client.get(f"/admin/login?next={quote(payload)}")), [])
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/%5Cevil.example",
                   "javascript:alert(1)", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example",
                   "\t//evil.example", "/\x00/evil.example", "http:evil.example", " //evil.example"):
        response = sign_in(client, ADMIN_TOKEN, next_path=target)
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert response.status_code == 302 and not parts.scheme and not parts.netloc, location
        # (A backslash arrives percent-encoded, "/%5C...", which no browser reads as "//".)
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location


# JSON API ------------------------------------------------------------------------------------

_MARK = re.compile(r"</?mark>")


def escaped_with_marks(value: str) -> bool:
    tags = _MARK.findall(value)
    rest = _MARK.sub("", value)
    return tags == ["<mark>", "</mark>"] * (len(tags) // 2) and not re.search(r"[<>\"']", rest)


def test_api_snippets_escape_and_links_are_http(site):
    app, _ = site
    client = app.test_client()
    for payload in ALL_PAYLOADS + (WORD,):
        response = client.get(f"/api/v1/search?q={quote(payload)}&per_page=50")
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        for hit in response.get_json()["hits"]:
            TALLY["tried"] += 1
            count("xss: API title_html/snippet/url")
            fine = (escaped_with_marks(hit["title_html"]) and escaped_with_marks(hit["snippet"])
                    and html.unescape(_MARK.sub("", hit["title_html"])) == hit["title"]
                    and urlsplit(hit["url"]).scheme in ("http", "https"))
            TALLY["unescaped"] += not fine
            assert fine, hit
    for article_id in [f"xss-{i}" for i in range(len(ALL_PAYLOADS))] + list(PAYLOAD_IDS):
        data = client.get(f"/api/v1/related/{quote(article_id, safe='')}?limit=20").get_json()
        for item in data["related"]:
            TALLY["tried"] += 1
            count("xss: API related url/image")
            fine = urlsplit(item["url"]).scheme in ("http", "https") and (
                item["image"] is None or not item["image"].lower().lstrip().startswith(DANGEROUS_SCHEMES))
            TALLY["unescaped"] += not fine
            assert fine, item
        article = client.get(f"/api/v1/articles/{quote(article_id, safe='')}").get_json()
        assert urlsplit(article["url"]).scheme in ("http", "https"), article["url"]


def test_autocomplete_answers_json_with_safe_links(site):
    app, _ = site
    client = app.test_client()
    for prefix in ("<script", "\"><img", "zebra", "payload id", "javascript"):
        response = client.get(f"/api/v1/suggest?q={quote(prefix)}")
        assert response.status_code == 200 and response.mimetype == "application/json"
        for suggestion in response.get_json()["suggestions"]:
            TALLY["tried"] += 1
            count("xss: API suggest url")
            fine = suggestion["url"] is None or urlsplit(suggestion["url"]).scheme in ("http", "https")
            TALLY["unescaped"] += not fine
            assert fine, suggestion
    # The page's script shows suggestions with textContent, never as markup.
    script = (Path(__file__).resolve().parents[2] / "web" / "static" / "search.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "textContent = item.text" in script
    widget = (Path(__file__).resolve().parents[2] / "web" / "static" / "widget.js").read_text()
    assert "innerHTML" not in widget and "insertAdjacentHTML" not in widget


def test_javascript_urls_never_become_links(site):
    """article_links=source with javascript:/data:/vbscript: urls: every link falls back to
    Kindred's own article page (a backend fix: web.context.article_link)."""
    app, _ = site
    client = app.test_client()
    page = ok_html(client.get(f"/search?q={WORD}&per_page=50"))
    hrefs = [a.attributes.get("href") or "" for a in LexborHTMLParser(page).css("ol.hits a")]
    assert len(hrefs) >= len(ALL_PAYLOADS)
    assert not [h for h in hrefs if browser_url(h).startswith(DANGEROUS_SCHEMES)], hrefs
    assert "/articles/xss-0" in hrefs  # xss-0's url is javascript:alert(1)
    assert "https://example.org/safe?a=<b>" in hrefs or "https://example.org/safe?a=%3Cb%3E" in hrefs


def test_tally(site):
    """Runs last in this module: every payload tried on every surface, none unescaped."""
    assert TALLY["tried"] >= 150, TALLY
    assert TALLY["unescaped"] == 0, TALLY


# Admin, CORS, headers --------------------------------------------------------------------------

ADMIN_API = {("POST", "/api/v1/articles"), ("PUT", "/api/v1/articles"), ("DELETE", "/api/v1/articles/xss-0"),
             ("POST", "/api/v1/reindex"), ("POST", "/api/articles"), ("PUT", "/api/articles"),
             ("DELETE", "/api/articles/xss-0"), ("POST", "/api/reindex")}
ADMIN_PAGES = ("/admin/analytics", "/admin/analytics.csv", "/admin/related/xss-0")
PUBLIC = {"pages.search", "pages.article", "pages.widget_related", "pages.widget_script", "static", "ops.healthz",
          "ops.metrics", "openapi.openapi_json", "admin.login", "admin.logout", "replication.versions"}
# Behind the replication token (tests/test_replication.py checks it), which the admin token is not.
REPLICATION = {"replication.archive"}


def test_every_route_is_public_or_behind_the_token(site):
    app, _ = site
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    admin_endpoints = {e for e in endpoints if e.rsplit(".", 1)[-1] in ("upsert_articles", "delete_article", "reindex")}
    admin_endpoints |= {e for e in endpoints if e.startswith("admin.") and e not in PUBLIC}
    public_api = {e for e in endpoints if e.rsplit(".", 1)[-1] in ("search", "suggest", "related", "related_by_url",
                                                                   "article", "events")}
    unclassified = endpoints - admin_endpoints - public_api - PUBLIC - REPLICATION
    assert not unclassified, f"classify new endpoints as public or admin here: {unclassified}"
    client = app.test_client()
    # No replication_token set: disabled (403 to a token; without one, 401 as for any bearer endpoint).
    assert client.get("/api/v1/versions/any.0/archive", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 403
    assert client.get("/api/v1/versions/any.0/archive").status_code == 401
    # Each from another address: wrong tokens are throttled per client (test_admin_sign_in.py).
    addresses = (f"10.1.{n // 200}.{n % 200 + 1}" for n in itertools.count())
    for method, path in sorted(ADMIN_API):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN_TOKEN}"},
                        {"Authorization": f"Bearer {ADMIN_TOKEN}x"}):
            response = client.open(path, method=method, json={"id": "a", "title": "b"}, headers=headers,
                                   environ_base={"REMOTE_ADDR": next(addresses)})
            assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/admin/login"


def test_admin_is_off_without_a_token_and_sessions_die_with_the_token(site, tmp_path):
    app, settings = site
    disabled = create_app(settings.replace(admin_token="")).test_client()
    for method, path in sorted(ADMIN_API):
        assert disabled.open(path, method=method, headers={"Authorization": "Bearer "}).status_code == 403
    for path in ADMIN_PAGES + ("/admin/login",):
        assert disabled.get(path).status_code == 403
    signed_in = editor(app)
    cookie = signed_in.get_cookie("session")
    rotated = create_app(settings.replace(admin_token="a-new-token")).test_client()
    rotated.set_cookie("session", cookie.value)
    assert rotated.get("/admin/analytics").status_code == 302


def test_cors_never_allows_credentials(site):
    """No response ever carries Access-Control-Allow-Credentials; admin endpoints carry no
    CORS header at all; a preflight (OPTIONS, answered for the public GET of the same URL)
    never allows the admin methods or the Authorization header, so no page on another origin
    can call the admin API through a reader's browser."""
    app, settings = site
    for cors in (["*"], ["https://partner.example"]):
        client = create_app(settings.replace(cors_origins=cors)).test_client()
        for rule in app.url_map.iter_rules():
            path = re.sub(r"<[^>]+>", "xss-0", rule.rule)
            admin = rule.endpoint.startswith("admin.") or rule.endpoint.rsplit(".", 1)[-1] in (
                "upsert_articles", "delete_article", "reindex")
            for method in sorted(rule.methods - {"HEAD"}):
                for origin in ("https://partner.example", "https://evil.example", "null"):
                    response = client.open(path, method=method, headers={
                        "Origin": origin, "Access-Control-Request-Method": "DELETE",
                        "Access-Control-Request-Headers": "authorization", "Cookie": "session=x"})
                    headers = response.headers
                    assert "Access-Control-Allow-Credentials" not in headers, (method, path)
                    allowed = headers.get("Access-Control-Allow-Origin")
                    if method == "OPTIONS":
                        methods = headers.get("Access-Control-Allow-Methods", "")
                        assert not {"PUT", "DELETE"} & set(m.strip() for m in methods.split(",")), (path, methods)
                        assert "authorization" not in headers.get("Access-Control-Allow-Headers", "").lower()
                    elif admin:
                        assert allowed is None, (method, path, allowed)
                    if allowed is not None:
                        assert allowed == "*" if cors == ["*"] else allowed == origin == "https://partner.example"
                        if cors != ["*"]:
                            assert "Origin" in headers.get("Vary", "")


def test_security_headers(site):
    app, settings = site
    client = app.test_client()
    admin = editor(app)
    pages = [client.get("/"), client.get(f"/search?q={WORD}"), client.get("/articles/xss-0"),
             client.get("/admin/login"), client.get("/nothing-here"), admin.get("/admin/analytics"),
             admin.get("/admin/related/xss-0")]
    for response in pages:
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "object-src 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy and response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    widget = client.get("/widget/related/xss-0")
    assert "frame-ancestors https://news.example" in widget.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in widget.headers  # framing is allowed, by frame_ancestors only
    anywhere = create_app(settings.replace(frame_ancestors=["*"])).test_client().get("/widget/related/xss-0")
    assert anywhere.headers["Content-Security-Policy"].endswith("frame-ancestors *")
    nowhere = create_app(settings.replace(frame_ancestors=[])).test_client().get("/widget/related/xss-0")
    assert nowhere.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    for path in ("/api/v1/search?q=x", "/widget.js", "/static/kindred.css", "/healthz", "/openapi.json",
                 "/api/v1/related/nope", "/metrics"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        response.close()
    assert "session=" not in "".join(client.get("/").headers.getlist("Set-Cookie"))
    cookie = editor(app).get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
