// Live refresh without a build step: every element with data-live="URL" is
// re-fetched every data-every milliseconds (default 5000) and its content
// replaced. A fragment that contains [data-final] stops its element's polling
// (the run ended). Polling pauses while the tab is hidden.
(function () {
  "use strict";

  function load(el) {
    if (document.hidden || el.dataset.busy === "1") return;
    el.dataset.busy = "1";
    var atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    fetch(el.dataset.live, { headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        el.innerHTML = html;
        el.classList.remove("stale");
        if (el.dataset.scroll === "bottom" && atBottom) el.scrollTop = el.scrollHeight;
        if (el.querySelector("[data-final]")) el.dataset.stopped = "1";
      })
      .catch(function () { el.classList.add("stale"); })
      .finally(function () { el.dataset.busy = "0"; });
  }

  function start(el) {
    var every = parseInt(el.dataset.every || "5000", 10);
    var first = !el.firstElementChild || el.querySelector(".muted:only-child");
    if (first) load(el);
    var timer = setInterval(function () {
      if (el.dataset.stopped === "1") { clearInterval(timer); return; }
      load(el);
    }, every);
  }

  // A log filter form re-targets its log panel instead of reloading the page.
  function wireFilter(form) {
    var panel = document.getElementById("logs");
    if (!panel) return;
    var base = panel.dataset.live.split("?")[0];
    form.addEventListener("change", function () {
      var params = new URLSearchParams(new FormData(form));
      panel.dataset.live = base + "?" + params.toString();
      panel.dataset.stopped = "0";
      panel.scrollTop = panel.scrollHeight;
      load(panel);
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(start);
    document.querySelectorAll("form[data-log-filter]").forEach(wireFilter);
  });
})();
