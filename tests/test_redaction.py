"""One redaction helper for logs, failure snapshots and recordings."""

from __future__ import annotations

from agent.browser.snapshot import redact
from agent.log import redact as redact_log_event
from agent.redaction import redact_data, redact_query_secrets, redact_values


def test_secret_named_values_are_masked_at_any_depth() -> None:
    data = {"pid": 1001, "key": "abc", "form": {"password": "p4ss", "items": [{"sign": "s", "name": "x"}]}}
    assert redact_data(data) == {
        "pid": 1001, "key": "***", "form": {"password": "***", "items": [{"sign": "***", "name": "x"}]},
    }
    assert data["key"] == "abc"  # a copy: the caller's data is left alone


def test_texts_inside_data_lose_their_query_string_secrets() -> None:
    assert redact_data({"url": "/api.php?pid=1&key=abc", "n": (1, "sign=zz")}) == {
        "url": "/api.php?pid=1&key=***", "n": (1, "sign=***"),
    }
    assert redact_query_secrets("GET /x?merchant_key=abc&a=1") == "GET /x?merchant_key=***&a=1"


def test_known_values_are_replaced_longest_first_with_their_placeholders() -> None:
    assert redact_values("tok=abcdef abc", ["abc", "abcdef"]) == "tok=*** ***"
    assert redact_values("p=hunter2 md5=HASH", {"hunter2": "{password}", "HASH": "{password_md5}"}) == (
        "p={password} md5={password_md5}"
    )
    assert redact("a secret and an ab", ["secret", "ab"]) == "a *** and an ab"  # too short to be masked


def test_log_events_are_redacted_by_key_and_in_text() -> None:
    event = redact_log_event(None, "info", {"event": "GET /?sign=1", "session": {"id": 1}, "nested": {"key": "k"}})
    assert event == {"event": "GET /?sign=***", "session": "***", "nested": {"key": "***"}}
