/* Demo page: swap in the live lists (orders, notifies, accounts) every two seconds. */
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  function refresh() {
    window.fetch(live.dataset.url, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } })
      .catch(function () { /* the demo is stopping: keep the last lists */ });
  }
  window.setInterval(refresh, 2000);
})();
