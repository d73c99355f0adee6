"""The profile format: shipped profiles load, bad ones fail naming file and field, values normalize exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from agent.browser.snapshot import redact
from agent.captcha import clean_text
from agent.platforms import shipped_platforms
from agent.profiles import ProfileError, all_profiles, load_profile
from agent.profiles.model import Fields
from agent.profiles.records import normalize
from agent.profiles.template import TemplateError, render
from agent.providers.base import Channel, LayoutChanged
from agent.settings import SHIPPED_PROFILES_DIR

SHIPPED = SHIPPED_PROFILES_DIR
SHANGHAI = timezone(timedelta(hours=8))


def test_every_shipped_profile_is_valid_and_is_a_platform() -> None:
    profiles = all_profiles(SHIPPED)
    platforms = shipped_platforms()
    assert [p.slug for p in platforms] == ["shouqianba", "hkrt", "ysepay", "zhihui", "lakala", "shengpay"]  # by order
    for platform in platforms:
        assert profiles[platform.slug].has_terminal == platform.has_terminal
        assert profiles[platform.slug].name == platform.name
        assert platform.problem is None


def write_variant(tmp_path: Path, change: dict[str, object], slug: str = "hkrt") -> Path:
    data = yaml.safe_load((SHIPPED / f"{slug}.yaml").read_text(encoding="utf-8"))
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        index = int(last) if isinstance(node, list) else last
        if value is None:
            del node[index]
        else:
            node[index] = value
    path = tmp_path / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transactions.fields.amount": None}, "transactions.fields.amount: Field required"),
        ({"transactions.fields.amount": {"path": "x", "unit": "jiao"}}, "transactions.fields.amount.unit"),
        ({"login.steps.1.value": None}, "login.steps.1: Value error, value goes with fill"),
        ({"login.steps.1.click": "#b"}, "set exactly one of goto, fill, click"),
        ({"transactions.api.request.json.page": "{pagenum}"}, "unknown placeholder(s) pagenum"),
        ({"timezone": "Mars/Olympus"}, "timezone: Value error, unknown time zone"),
        ({"login.steps.0": {"click": "#x"}}, "the first step must be a goto"),
        ({"transactions.fields.channel.map": {"ALI": "paypal"}}, "transactions.fields.channel.map.ALI"),
    ],
)
def test_invalid_profile_errors_name_the_file_and_the_field(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = write_variant(tmp_path, change)
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_a_table_selector_outside_the_supported_subset_is_refused_at_load(tmp_path: Path) -> None:
    path = write_variant(tmp_path, {"transactions.table.rows": "#trade-table tr:has-text('成功')"}, slug="zhihui")
    with pytest.raises(ProfileError, match=r"transactions\.table\.rows: Value error, unsupported selector"):
        load_profile(path)


def test_slug_must_match_the_file_name(tmp_path: Path) -> None:
    path = write_variant(tmp_path, {"slug": "other"})
    with pytest.raises(ProfileError, match="slug: 'other' must match the file name 'hkrt'"):
        load_profile(path)


def test_templates_keep_types_format_times_in_the_zone_and_refuse_unknown_names() -> None:
    when = datetime(2024, 5, 1, 16, 30, 5, tzinfo=UTC)
    values = {"since": when, "page": 3, "token": "abc"}
    assert render({"p": "{page}", "s": "{page!s}", "t": "{since:ms}"}, values, SHANGHAI) == {
        "p": 3, "s": "3", "t": 1714581005000}
    assert render("/q?d={since:%Y-%m-%d %H:%M:%S}&t={token}", values, SHANGHAI) == "/q?d=2024-05-02 00:30:05&t=abc"
    assert render(["{token}", 1], values, SHANGHAI) == ["abc", 1]
    with pytest.raises(TemplateError, match="unknown placeholder"):
        render("{nope}", values, SHANGHAI)


def fields() -> Fields:
    return Fields.model_validate({
        "trade_no": "id", "amount": {"path": "amt", "unit": "yuan"},
        "channel": {"path": "ch", "map": {"ALI": "alipay", "WX": "wxpay"}},
        "paid_at": {"path": "at", "format": "%Y-%m-%d %H:%M:%S"}, "terminal_id": "sn",
    })


def test_records_normalize_exactly() -> None:
    tx = normalize({"id": "HK1", "amt": "12.30", "ch": "WX", "at": "2024-05-02 00:30:05", "sn": "T1"}, fields(), SHANGHAI)
    assert tx is not None
    assert (tx.trade_no, tx.amount_fen, tx.channel, tx.terminal_id) == ("HK1", 1230, Channel.WXPAY, "T1")
    assert tx.paid_at == datetime(2024, 5, 1, 16, 30, 5, tzinfo=UTC)
    assert normalize({"id": "HK2", "amt": "0.01", "ch": "UNKNOWN", "at": "2024-05-02 00:30:05", "sn": ""},
                     fields(), SHANGHAI) is None


@pytest.mark.parametrize(
    ("record", "step"),
    [
        ({"tradeNo": "HK1", "amt": "1", "ch": "WX", "at": "2024-05-02 00:30:05", "sn": "T"}, "transactions.fields.trade_no"),
        ({"id": "HK1", "amt": "1.234", "ch": "WX", "at": "2024-05-02 00:30:05", "sn": "T"}, "transactions.fields.amount"),
        ({"id": "HK1", "amt": "1", "ch": "WX", "at": "20240502003005", "sn": "T"}, "transactions.fields.paid_at"),
    ],
)
def test_a_record_the_profile_no_longer_fits_is_a_layout_change(record: dict[str, str], step: str) -> None:
    with pytest.raises(LayoutChanged) as changed:
        normalize(record, fields(), SHANGHAI)
    assert changed.value.step == step


def test_ocr_text_is_checked_against_charset_and_length() -> None:
    assert clean_text(" ab3k ", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4, "upper") == "AB3K"
    assert clean_text("ab3", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4, "upper") is None
    assert clean_text("ab-3", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4, "upper") is None


def test_redaction_hides_every_secret_even_nested_ones() -> None:
    text = "pwd=hunter22&md5=abcdef0123 token=abcdef0123XYZ ok"
    assert redact(text, ["hunter22", "abcdef0123", "abcdef0123XYZ", "x"]) == "pwd=***&md5=*** token=*** ok"
