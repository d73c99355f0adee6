"""Where this gateway listens, for components that must never call it (the notifier).

``create_app`` puts an empty :class:`Listening` on the app; whoever starts the sites records what they bound
(``remember(app, runner)`` after ``site.start()``), so an ephemeral port (``port=0``) is known too.
"""

from __future__ import annotations

from aiohttp import web


class Listening:
    """The (host, port) pairs the HTTP server is bound to; an unspecified host (``0.0.0.0``, ``::``) means
    every local address on that port."""

    def __init__(self, host: str = "", port: int = 0) -> None:
        self._addresses: set[tuple[str, int]] = set()
        if port:
            self.add(host or "0.0.0.0", port)

    def add(self, host: str, port: int) -> None:
        self._addresses.add((host.split("%", 1)[0], port))

    @property
    def addresses(self) -> frozenset[tuple[str, int]]:
        return frozenset(self._addresses)


LISTENING = web.AppKey("listening", Listening)


def remember(app: web.Application, runner: web.BaseRunner) -> None:
    """Record every address the runner's started sites are bound to."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            app[LISTENING].add(str(address[0]), int(address[1]))
