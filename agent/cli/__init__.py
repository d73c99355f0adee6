"""``mapay``: the command line. Every admin action is possible here without a browser."""

from agent.cli.main import main

__all__ = ["main"]
