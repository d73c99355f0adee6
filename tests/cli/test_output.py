"""CLI text output: tables aligned by display width, single records one field per line."""

from __future__ import annotations

import pytest

from agent.cli.output import display_width, emit, record, table


def test_a_chinese_character_takes_two_columns() -> None:
    assert display_width("我的小店") == 8
    assert display_width("shop") == 4


def test_columns_line_up_when_a_cell_holds_chinese() -> None:
    lines = table([{"pid": 1, "name": "我的小店", "enabled": True}, {"pid": 22, "name": "shop", "enabled": False}])
    # The third column starts at the same display column on every line.
    starts = [display_width(line[: line.index(word)]) for line, word in zip(lines, ("enabled", "yes", "no"), strict=True)]
    assert len(set(starts)) == 1, lines


def test_a_single_record_is_one_field_per_line_with_its_attempts_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    emit({"trade_no": "2026", "name": "测试商品", "notify_attempts": [{"at": "10:00", "http_status": 200}]},
         as_json=False)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["trade_no", "2026"] and out[1].split() == ["name", "测试商品"]
    assert out[2] == "notify_attempts:" and out[3].split() == ["at", "http_status"]
    assert max(display_width(line) for line in out) < 80


def test_an_empty_list_of_records_in_a_record_says_none() -> None:
    assert record({"a": 1, "attempts": []})[-1].strip() == "(none)"
