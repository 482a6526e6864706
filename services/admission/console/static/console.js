// Times arrive as ISO 8601 in UTC; they are shown in the viewer's zone. Also after every htmx swap.
(function () {
  "use strict";
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      if (!iso || el.dataset.localized === iso) return;
      var when = new Date(iso);
      if (isNaN(when)) return;
      var format = el.dataset.format;
      el.textContent = format === "time" ? when.toLocaleTimeString()
        : format === "precise" ? when.toLocaleString(undefined, {dateStyle: "short", timeStyle: "medium"})
        : when.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
      el.title = iso;
      el.dataset.localized = iso;
    });
    var log = document.getElementById("log-lines");
    if (log && root !== document && log.dataset.follow !== "off") log.scrollTop = log.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:afterSettle", function (e) { localize(e.target.ownerDocument || document); });
})();
