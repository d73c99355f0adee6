"""schemathesis against the served /api/v1/openapi.json: data inside and outside the schema, offline on 127.0.0.1.

Checks: schemathesis' defaults (no 5xx, documented status codes and content types, responses matching their
schema, 405 with Allow for undocumented methods...) plus the harness's: no traceback logged, no write by a
refused request.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import GatewayThread, Known
from tests.support.db_state import write_count
from tests.support.logs import Logged

EXAMPLES = int(os.environ.get("MAPAY_FUZZ_OPENAPI_EXAMPLES", "300"))


def test_the_native_api_holds_to_its_openapi_document(
    fuzzed: tuple[GatewayThread, Known, Logged], request: pytest.FixtureRequest
) -> None:
    thread, _, logged = fuzzed
    gateway = thread.gateway
    assert gateway is not None
    served = requests.get(gateway.url + "/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(served)
    operations = [schema[path][method] for path, methods in served["paths"].items() for method in methods]
    by_status: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        before = thread.run(lambda: write_count(gateway))
        response = case.call(base_url=gateway.url, timeout=30)
        after = thread.run(lambda: write_count(gateway))
        by_status[response.status_code] += 1
        case.validate_response(response)
        assert response.status_code < 500, response.text
        assert not (400 <= response.status_code < 500 and after != before), "a refused request wrote"
        assert logged.errors_with_traceback() == []

    try:
        fuzz()
    finally:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items()))
        line = f"fuzz (openapi): {sum(by_status.values())} requests over {len(operations)} operations; by status {{{statuses}}}"
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        print(line)
