// Tell the embedding page our height so the iframe fits its content, and report clicks.
(function () {
  "use strict";
  function post() { parent.postMessage({ kindred: "resize", height: document.documentElement.scrollHeight }, "*"); }
  addEventListener("load", post);
  addEventListener("resize", post);
  var list = document.querySelector("[data-events]");
  if (list && navigator.sendBeacon) {
    list.addEventListener("click", function (e) {
      var link = e.target.closest("a[data-kindred-target]");
      if (!link) return;
      var event = { type: "widget_click", source: list.getAttribute("data-source"),
                    target: link.getAttribute("data-kindred-target"),
                    position: parseInt(link.getAttribute("data-position"), 10) };
      navigator.sendBeacon(list.getAttribute("data-events"), new Blob([JSON.stringify(event)], { type: "text/plain" }));
    });
  }
})();
