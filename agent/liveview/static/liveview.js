// mapay live view: shows a headless Chromium page streamed over a WebSocket and sends the person's mouse,
// touch, wheel and keyboard back to it. Positions are sent as fractions of the picture, so it works at any
// size (phones included: touch is a mouse). No framework, no build step.
(function () {
  "use strict";

  var SPECIAL = ["Backspace", "Tab", "Enter", "Escape", "Delete", "Home", "End", "ArrowLeft", "ArrowUp",
    "ArrowRight", "ArrowDown", "PageUp", "PageDown"];
  var BUTTONS = ["left", "middle", "right"];

  function start(root) {
    var screen = root.querySelector("[data-liveview-screen]");
    var picture = document.createElement("img");
    picture.alt = "远程浏览器画面";
    picture.className = "liveview-picture";
    picture.draggable = false;
    screen.appendChild(picture);
    var status = root.querySelector("[data-liveview-status]");
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-socket"));
    var pressed = null;
    var lastMove = 0;

    function send(message) {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    }
    function tell(state, text) {
      root.setAttribute("data-state", state);
      if (status && text) status.textContent = text;
    }
    function at(event) {
      var box = picture.getBoundingClientRect();
      if (!box.width || !box.height) return null;
      var x = (event.clientX - box.left) / box.width, y = (event.clientY - box.top) / box.height;
      return { x: Math.min(1, Math.max(0, x)), y: Math.min(1, Math.max(0, y)) };
    }
    function keys(event, message) {
      if (event.ctrlKey) message.ctrl = true;
      if (event.shiftKey) message.shift = true;
      if (event.altKey) message.alt = true;
      if (event.metaKey) message.meta = true;
      return message;
    }

    socket.addEventListener("open", function () { tell("live", "已连接，可以直接在画面上操作"); });
    socket.addEventListener("close", function () {
      if (root.getAttribute("data-state") === "live") tell("closed", "连接已断开，请刷新页面");
    });
    socket.addEventListener("message", function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "frame") {
        picture.src = "data:image/jpeg;base64," + message.data;
        root.setAttribute("data-frame-width", message.w);
        root.setAttribute("data-frame-height", message.h);
        root.setAttribute("data-frames", String((parseInt(root.getAttribute("data-frames"), 10) || 0) + 1));
      } else if (message.type === "status") {
        tell(message.state, message.text);
      }
    });

    picture.addEventListener("pointerdown", function (event) {
      var point = at(event);
      if (!point) return;
      event.preventDefault();
      screen.focus({ preventScroll: true });
      pressed = BUTTONS[event.button] || "left";
      if (picture.setPointerCapture) picture.setPointerCapture(event.pointerId);
      send(keys(event, { type: "mouse", action: "move", x: point.x, y: point.y, button: "none" }));
      send(keys(event, { type: "mouse", action: "down", x: point.x, y: point.y, button: pressed,
        clicks: Math.min(3, event.detail || 1) }));
    });
    picture.addEventListener("pointermove", function (event) {
      var now = Date.now();
      if (!pressed && now - lastMove < 80) return;  // hovering matters little: a few moves a second
      lastMove = now;
      var point = at(event);
      if (point) send({ type: "mouse", action: "move", x: point.x, y: point.y, button: pressed || "none",
        pressed: !!pressed });
    });
    function release(event) {
      if (!pressed) return;
      var point = at(event);
      if (point) send(keys(event, { type: "mouse", action: "up", x: point.x, y: point.y, button: pressed,
        clicks: Math.min(3, event.detail || 1) }));
      pressed = null;
    }
    picture.addEventListener("pointerup", release);
    picture.addEventListener("pointercancel", release);
    picture.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    picture.addEventListener("wheel", function (event) {
      var point = at(event);
      if (!point) return;
      event.preventDefault();
      send({ type: "wheel", x: point.x, y: point.y, dx: event.deltaX, dy: event.deltaY });
    }, { passive: false });

    screen.addEventListener("keydown", function (event) {
      if (event.isComposing) return;
      if (SPECIAL.indexOf(event.key) >= 0) {
        send(keys(event, { type: "key", key: event.key }));
      } else if ((event.ctrlKey || event.metaKey) && /^[a-zA-Z0-9]$/.test(event.key)) {
        if (event.key === "v" || event.key === "V") return;  // the paste event brings the text
        send(keys(event, { type: "key", key: event.key.toLowerCase() }));
      } else if (event.key.length === 1 && !event.ctrlKey && !event.metaKey) {
        send({ type: "text", text: event.key });
      } else {
        return;
      }
      event.preventDefault();
    });
    screen.addEventListener("paste", function (event) {
      var text = (event.clipboardData || window.clipboardData).getData("text");
      if (text) send({ type: "text", text: text.slice(0, 512) });
      event.preventDefault();
    });

    // Phones have no keyboard until a text field has focus: this field sends what is typed into it.
    var typing = root.querySelector("[data-liveview-type]");
    if (typing) {
      typing.addEventListener("submit", function (event) {
        event.preventDefault();
        var field = typing.querySelector("input");
        if (field.value) send({ type: "text", text: field.value.slice(0, 512) });
        field.value = "";
      });
    }
    root.querySelectorAll("[data-liveview-key]").forEach(function (button) {
      button.addEventListener("click", function () { send({ type: "key", key: button.getAttribute("data-liveview-key") }); });
    });
    root.querySelectorAll("[data-liveview-command]").forEach(function (button) {
      button.addEventListener("click", function () {
        var question = button.getAttribute("data-confirm");
        if (question && !window.confirm(question)) return;
        send({ type: "command", name: button.getAttribute("data-liveview-command") });
      });
    });
  }

  document.querySelectorAll("[data-liveview][data-socket]").forEach(start);
})();
