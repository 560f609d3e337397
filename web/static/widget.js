/*! Kindred related-articles widget. Embed:
 *   <div data-kindred-related="ARTICLE_ID"></div>
 *   <script async src="https://KINDRED_HOST/widget.js"></script>
 * or data-kindred-related-url="https://site/path". Optional: data-kindred-limit="5",
 * data-kindred-title="Read next". Theme with CSS custom properties on the div or page:
 * --kindred-accent, --kindred-text, --kindred-muted, --kindred-border, --kindred-bg,
 * --kindred-radius, --kindred-font. Renders into a Shadow DOM, loads when near the viewport.
 * From files written by `kindred export --static DIR` instead of the live API: add
 * data-kindred-base="https://STATIC_HOST/DIR/" to the div or the script tag (beacons then go
 * only to data-kindred-api="https://KINDRED_HOST/", if given).
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var base = new URL(".", script ? script.src : location.href).href;
  var MAX_NAME_CHARS = 2400;  // as web/export.py
  var pointers = {};  // static base -> promise of its current.json, fetched once per page
  var STYLE =
    // On the section, not :host: the page's own rules for the host element win over :host,
    // and inherited text styles (a theme's uppercase, italics, spacing) would leak in.
    ":host{display:block}" +
    "section{font:15px/1.45 var(--kindred-font,system-ui,-apple-system,'Segoe UI',Roboto,sans-serif);color:var(--kindred-text,#1d2a32);" +
    "text-align:left;text-transform:none;letter-spacing:normal;word-spacing:normal;text-indent:0;white-space:normal}" +
    "h2{font-size:13px;letter-spacing:.06em;text-transform:uppercase;color:var(--kindred-muted,#5a6b75);margin:0 0 10px}" +
    "ul{list-style:none;margin:0;padding:0;display:grid;gap:10px}" +
    "a{display:block;padding:12px 14px;border:1px solid var(--kindred-border,#e2e8ec);border-radius:var(--kindred-radius,10px);color:inherit;text-decoration:none;background:var(--kindred-bg,#fff)}" +
    "a:hover,a:focus-visible{border-color:var(--kindred-accent,#0b6e4f);outline:none;box-shadow:0 0 0 3px rgba(11,110,79,.15)}" +
    "strong{display:block;color:var(--kindred-accent,#0b6e4f);font-size:16px;margin-bottom:3px}" +
    "span{color:var(--kindred-muted,#5a6b75);font-size:14px}" +
    // A title that is one long word wraps instead of widening the page.
    "strong,span{overflow-wrap:anywhere}";
  var sheet = null;  // one constructed stylesheet, shared by every widget on the page

  // A constructed stylesheet is CSSOM, not inline style: Content-Security-Policy's style-src
  // does not apply to it, so the widget is styled under our own strict policy and under a
  // publisher's. A <style> element is the fallback where browsers lack them.
  function applyStyle(root) {
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
      try {
        if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(STYLE); }
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (e) { /* constructable but not adoptable here: fall back */ }
    }
    var style = el("style"); style.textContent = STYLE; root.appendChild(style);
  }

  function beacon(api, event) {
    if (!api) return;
    var body = JSON.stringify(event);
    var url = api + "api/v1/events";
    if (navigator.sendBeacon) navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }));
    else fetch(url, { method: "POST", body: body, keepalive: true, mode: "no-cors" });
  }

  function el(tag, text) { var e = document.createElement(tag); if (text) e.textContent = text; return e; }

  function render(host, data, api) {
    var root = host.shadowRoot || host.attachShadow({ mode: "open" });
    root.textContent = "";
    var items = data.related || [];
    if (!items.length) return;
    applyStyle(root);
    var section = el("section"); section.setAttribute("aria-label", "Related articles");
    section.appendChild(el("h2", host.getAttribute("data-kindred-title") || "Related articles"));
    var list = el("ul");
    items.forEach(function (item, i) {
      var a = el("a"); a.href = item.url; a.setAttribute("part", "link");
      a.appendChild(el("strong", item.title));  // textContent only: never parsed as HTML
      a.appendChild(el("span", item.teaser));
      a.addEventListener("click", function () {
        beacon(api, { type: "widget_click", source: data.id, target: item.id, position: i + 1 });
      });
      var li = el("li"); li.appendChild(a); list.appendChild(li);
    });
    section.appendChild(list); root.appendChild(section);
    host.setAttribute("data-kindred-state", "ready");
    beacon(api, { type: "widget_impression", source: data.id, targets: items.map(function (i) { return i.id; }) });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  // A file name as web/export.py's file_name makes it: bytes outside [a-z0-9_-] become ~XX,
  // cut into folders of 200 characters.
  function fileName(text) {
    var bytes = new TextEncoder().encode(text), name = "";
    for (var i = 0; i < bytes.length; i++) {
      var b = bytes[i];
      name += (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b === 45 || b === 95
        ? String.fromCharCode(b) : "~" + (b < 16 ? "0" : "") + b.toString(16).toUpperCase();
    }
    if (name.length > MAX_NAME_CHARS) throw new Error("name too long");
    return name.match(/.{1,200}/g).join("/");
  }

  // A page's URL as the export names it: the path, trailing slashes dropped, then decoded.
  function pathName(url) {
    var path = new URL(url, location.href).pathname.replace(/\/+$/, "") || "/";
    try { path = decodeURIComponent(path); } catch (e) { /* not UTF-8: as it is */ }
    return fileName(path);
  }

  function attribute(host, name) {
    return host.getAttribute(name) || (script && script.getAttribute(name));
  }

  function slash(url) { return url.replace(/\/?$/, "/"); }

  // The exported files: current.json names the version, whose files never change.
  function fromStatic(staticBase, id, url, limit) {
    var pointer = pointers[staticBase] || (pointers[staticBase] = getJSON(staticBase + "current.json"));
    return pointer.then(function (current) {
      var file = id ? "related/" + fileName(id) : "by-path/" + pathName(url || location.href);
      return getJSON(staticBase + current.version + "/" + file + ".json").then(function (data) {
        // The files hold related_k items; show as many as the live API would.
        data.related = (data.related || []).slice(0, limit > 0 ? limit : current.limit);
        return data;
      });
    });
  }

  function fromApi(id, url, limit) {
    // Without data-kindred-limit the server's related_limit setting decides.
    var query = limit > 0 ? "limit=" + limit + "&" : "";
    return getJSON(id
      ? base + "api/v1/related/" + encodeURIComponent(id) + "?" + query
      : base + "api/v1/related?" + query + "url=" + encodeURIComponent(url || location.href));
  }

  function load(host) {
    if (host.getAttribute("data-kindred-state")) return;
    host.setAttribute("data-kindred-state", "loading");
    var id = host.getAttribute("data-kindred-related");
    var url = host.getAttribute("data-kindred-related-url");
    var limit = parseInt(host.getAttribute("data-kindred-limit"), 10);
    var staticBase = attribute(host, "data-kindred-base");
    var api = attribute(host, "data-kindred-api");
    Promise.resolve()  // in the chain, so a malformed URL attribute ends in the error state
      .then(function () {
        // Beacons go to the live server: the one widget.js came from, unless the lists are static.
        api = api ? slash(new URL(api, location.href).href) : (staticBase ? null : base);
        return staticBase ? fromStatic(slash(new URL(staticBase, location.href).href), id, url, limit)
                          : fromApi(id, url, limit);
      })
      .then(function (data) { render(host, data, api); })
      .catch(function () { host.setAttribute("data-kindred-state", "error"); });
  }

  var observer = "IntersectionObserver" in window
    ? new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { observer.unobserve(entry.target); load(entry.target); }
        });
      }, { rootMargin: "300px" })
    : null;

  function scan() {
    var hosts = document.querySelectorAll("[data-kindred-related],[data-kindred-related-url]");
    Array.prototype.forEach.call(hosts, function (host) {
      if (host.getAttribute("data-kindred-state") || host.__kindredSeen) return;
      host.__kindredSeen = true;
      if (observer) observer.observe(host); else load(host);
    });
  }
  window.Kindred = window.Kindred || {};
  window.Kindred.scan = scan;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
