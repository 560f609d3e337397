// Progressive enhancement for the search box: autocomplete from /api/v1/suggest.
// The page works without it; keyboard: arrows to move, Enter to pick, Escape to close.
(function () {
  "use strict";
  function attach(input) {
    var form = input.form;
    var list = document.getElementById(input.getAttribute("aria-controls") || "");
    if (!list) {
      list = document.createElement("ul");
      list.className = "suggestions";
      list.id = input.id + "-suggestions";
      list.setAttribute("role", "listbox");
      list.hidden = true;
      form.appendChild(list);
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-autocomplete", "list");
      input.setAttribute("aria-controls", list.id);
      input.setAttribute("aria-expanded", "false");
    }
    var items = [], active = -1, timer = null, last = "";

    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; input.removeAttribute("aria-activedescendant"); }
    function pick(item) {
      if (item.kind === "article" && item.url) { window.location.href = item.url; return; }
      input.value = item.text; close(); form.submit();
    }
    function render() {
      list.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        var kind = document.createElement("span");
        kind.className = "kind"; kind.textContent = item.kind === "article" ? "Article" : "Search";
        var text = document.createElement("span");
        text.textContent = item.text;  // textContent: suggestions are never parsed as HTML
        li.appendChild(kind); li.appendChild(text);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(item); });
        list.appendChild(li);
      });
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
      if (active >= 0) input.setAttribute("aria-activedescendant", list.id + "-" + active);
    }
    function fetchSuggestions() {
      var q = input.value;
      if (q.trim().length < 2) { items = []; render(); return; }
      if (q === last) return;
      last = q;
      fetch(input.getAttribute("data-suggest") + "?limit=8&q=" + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) { if (input.value === q) { items = data.suggestions || []; active = -1; render(); } })
        .catch(function () {});
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(fetchSuggestions, 120); });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { active = (active + 1) % items.length; render(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = (active - 1 + items.length) % items.length; render(); e.preventDefault(); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); pick(items[active]); }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
  }
  document.querySelectorAll("input[data-suggest]").forEach(attach);

  // Which result a reader opens, and at which position (analytics; no personal data).
  var hits = document.querySelector("ol.hits[data-events]");
  if (hits && navigator.sendBeacon) {
    hits.addEventListener("click", function (e) {
      var link = e.target.closest("a[data-kindred-target]");
      if (!link) return;
      var event = { type: "result_click", query: hits.getAttribute("data-query"),
                    target: link.getAttribute("data-kindred-target"),
                    position: parseInt(link.getAttribute("data-position"), 10) };
      navigator.sendBeacon(hits.getAttribute("data-events"), new Blob([JSON.stringify(event)], { type: "text/plain" }));
    });
  }
})();
