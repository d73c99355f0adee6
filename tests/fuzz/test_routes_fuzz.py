"""Hypothesis-generated malformed requests over every route of the app, signed in and not.

Briefly here (``MAPAY_FUZZ_EXAMPLES``, 800 by default, about 15 s); ``scripts/fuzz --minutes N`` runs it for longer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import (
    Checker,
    Figures,
    FuzzRequest,
    GatewayThread,
    Known,
    app_routes,
    fuzz_requests,
    sweep_requests,
)
from tests.support.logs import Logged

EXAMPLES = int(os.environ.get("MAPAY_FUZZ_EXAMPLES", "800"))
REPORT = os.environ.get("MAPAY_FUZZ_REPORT")


def test_no_malformed_request_gets_a_5xx_a_traceback_or_a_write(
    fuzzed: tuple[GatewayThread, Known, Logged], request: pytest.FixtureRequest
) -> None:
    thread, known, logged = fuzzed
    assert thread.gateway is not None
    routes = app_routes(thread.gateway.app)
    assert len(routes) >= 30  # the admin sub-application's routes are included
    figures = Figures()
    checker = Checker(thread, logged, figures)
    for swept in sweep_requests(routes, known):  # every route and method first, then hypothesis
        checker.check(swept)

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=REPORT is None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        fuzz_request: FuzzRequest = data.draw(fuzz_requests(routes, known))
        checker.check(fuzz_request)

    try:
        fuzz()
    finally:
        line = figures.summary("fuzz (routes)")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        print(line)
        if REPORT:
            Path(REPORT).write_text(json.dumps(figures.as_json()))

