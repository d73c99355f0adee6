// mapay admin console: copy buttons, confirmations and live regions. No framework, no build step.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.innerText;
    var done = function () {
      var label = button.textContent;
      button.textContent = "已复制";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    }
  });

  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A table wider than its panel scrolls sideways: say so above it (phones show no scroll bar).
  function markScrollable() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var hint = wrap.previousElementSibling;
      if (!hint || !hint.classList.contains("scroll-hint")) {
        hint = document.createElement("div");
        hint.className = "scroll-hint";
        hint.textContent = "表格较宽，可左右滑动查看 →";
        wrap.parentNode.insertBefore(hint, wrap);
      }
      var wide = wrap.scrollWidth > wrap.clientWidth + 1;
      wrap.classList.toggle("scrollable", wide);
      hint.classList.toggle("shown", wide);
    });
  }
  markScrollable();
  window.addEventListener("resize", markScrollable);

  // Elements with data-live="<seconds>" and an id are re-read from the same URL and swapped in place.
  var live = document.querySelectorAll("[data-live][id]");
  if (!live.length) return;
  var seconds = Math.max(2, parseInt(live[0].getAttribute("data-live"), 10) || 5);
  setInterval(function () {
    if (document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        live.forEach(function (element) {
          var next = fresh.getElementById(element.id);
          if (next && next.innerHTML !== element.innerHTML) element.innerHTML = next.innerHTML;
        });
      })
      .catch(function () { /* the next tick tries again */ });
  }, seconds * 1000);
})();
