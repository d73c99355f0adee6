/* Cashier page behaviour: countdown, status polling, "I have paid", and the return redirect. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var REDIRECT_DELAY_MS = 1000;
  var CHECK_COOLDOWN_MS = 5000;
  var FINAL = { paid: true, expired: true, closed: true };

  var card = document.getElementById("cashier");
  if (!card) { return; }

  var countdown = document.getElementById("countdown");
  var paidButton = document.getElementById("paid-button");
  var feedback = document.getElementById("feedback");
  var paidText = document.getElementById("paid-text");
  var deadline = Date.now() + Number(card.dataset.remaining) * 1000;
  var pollTimer = null;
  var redirecting = false;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function secondsLeft() { return Math.max(0, Math.ceil((deadline - Date.now()) / 1000)); }

  function showCountdown() {
    var left = secondsLeft();
    if (countdown) { countdown.textContent = pad(Math.floor(left / 60)) + ":" + pad(left % 60); }
    return left;
  }

  function removeQr() {
    var qr = document.getElementById("qr");
    if (qr && qr.parentNode) { qr.parentNode.parentNode.removeChild(qr.parentNode); }
  }

  function goBack(url) {
    if (redirecting || !url) { return; }
    redirecting = true;
    if (paidText) { paidText.textContent = "正在返回商户…"; }
    window.setTimeout(function () { window.location.replace(url); }, REDIRECT_DELAY_MS);
  }

  function apply(doc) {
    if (!doc || typeof doc.status !== "string") { return; }
    deadline = Date.now() + doc.remaining_seconds * 1000;
    // "choose" is the pending screen before a method is picked: the server knows it as "pending".
    if (!(card.dataset.state === "choose" && doc.status === "pending")) {
      card.dataset.state = doc.status;
    }
    if (FINAL[doc.status]) {
      removeQr();
      window.clearInterval(pollTimer);
      if (doc.status === "paid") { goBack(doc.redirect_url); }
    }
  }

  function poll() {
    window.fetch(card.dataset.statusUrl, { cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }

  function askForCheck() {
    paidButton.disabled = true;
    feedback.textContent = "正在确认…";
    window.fetch(card.dataset.checkUrl, { method: "POST", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () { feedback.textContent = "网络异常，请稍后再试"; });
    window.setTimeout(function () {
      if (card.dataset.state === "pending") {
        paidButton.disabled = false;
        feedback.textContent = "正在确认您的付款，到账后页面将自动跳转";
      }
    }, CHECK_COOLDOWN_MS);
  }

  if (paidButton) { paidButton.addEventListener("click", askForCheck); }

  window.setInterval(function () {
    if (showCountdown() === 0 && !FINAL[card.dataset.state]) { poll(); }
  }, 1000);
  showCountdown();

  if (FINAL[card.dataset.state]) {
    if (card.dataset.state === "paid") { goBack(card.dataset.redirectUrl); }
  } else {
    pollTimer = window.setInterval(poll, POLL_MS);
  }
})();
