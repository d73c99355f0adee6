"""Live view: a headless Chromium page shown in a person's browser and driven by their mouse and keyboard.

``stream`` holds the CDP screencast and input relay of one page, ``socket`` the WebSocket that carries them,
``loopback`` a one-time-URL server on 127.0.0.1 for commands run without a display (``mapay record``). The
admin console's 人工接管 (``agent/admin/views/takeover.py``) serves the same view behind its own session.
"""

from agent.liveview.stream import InputRefused, LiveView

__all__ = ["InputRefused", "LiveView"]
