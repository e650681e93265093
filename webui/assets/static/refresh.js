// Refreshes the page without a full reload: every data-refresh seconds it
// fetches the same URL, and swaps in the new <main> and title. Without
// JavaScript the page is complete, just not refreshed.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh")) || 0;
  if (!seconds || !window.fetch || !window.DOMParser) return;
  var state = document.getElementById("refresh-state");
  function refresh() {
    if (document.hidden) return;
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        var main = next.querySelector("main"), asof = next.querySelector(".asof");
        if (!main) throw new Error("no content");
        document.querySelector("main").replaceWith(main);
        if (asof) document.querySelector(".asof").replaceWith(asof);
        document.title = next.title;
        state = document.getElementById("refresh-state");
      })
      .catch(function (err) {
        if (state) state.textContent = "(refresh failed: " + err.message + "; showing older data)";
      });
  }
  window.setInterval(refresh, seconds * 1000);
})();
