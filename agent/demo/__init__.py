"""``mapay demo``: the six simulated back offices, a gateway with the real browser agent and a demo shop
under ``/demo``, in one process on 127.0.0.1 (see docs/demo.md)."""

from agent.demo.runner import running_demo
from agent.demo.state import Demo

__all__ = ["Demo", "running_demo"]
