/* Demo page: swap in the live lists (orders, notifies, accounts) every two seconds. */
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  function refresh() {
    window.fetch(live.dataset.url, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; settle(); } })
      .catch(function () { /* the demo is stopping: keep the last lists */ });
  }
  // "等待 mapay 读取并确认" names the order it waits for: once that order is paid, the notice says so.
  function settle() {
    var notice = document.getElementById("notice");
    var waiting = notice && notice.dataset.waiting;
    if (!waiting) { return; }
    var row = live.querySelector('tr[data-out-trade-no="' + waiting + '"]');
    var status = row && row.querySelector(".status");
    if (status && status.textContent.trim() === "已支付") {
      notice.textContent = "订单 " + waiting + " 已由 mapay 确认支付";
      notice.dataset.waiting = "";
      notice.classList.add("done");
    }
  }
  window.setInterval(refresh, 2000);
})();
