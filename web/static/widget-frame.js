// Tell the embedding page our height so the iframe fits its content, and report clicks.
(function () {
  "use strict";
  // The content's own height (the document's would never drop below the frame's).
  function post() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    parent.postMessage({ kindred: "resize", height: height }, "*");
  }
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
