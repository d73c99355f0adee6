"""The table reader's HTML tree and CSS subset select what Chromium's querySelectorAll would."""

from __future__ import annotations

import pytest

from agent.profiles.html_table import parse_html, parse_selector

ZHIHUI_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>交易</title></head><body>
<table id="trade-table"><thead><tr><th data-field="orderNo">交易单号</th><th>交易金额(元)</th></tr></thead><tbody>
<tr><td>ZH001</td><td> 12.34 </td></tr>
<tr><td>ZH002</td><td>0.01</td></tr></tbody></table>
<table id="other"><tbody><tr><td>not a payment</td><td>9.99</td></tr></tbody></table>
<div class="pager"><a class="page-link" rel="next" href="/transactions?pageNo=2">下一页</a></div>
</body></html>"""


def texts(html: str | bytes, selector: str, content_type: str = "") -> list[str]:
    body = html.encode() if isinstance(html, str) else html
    return [e.text() for e in parse_selector(selector).select(parse_html(body, content_type))]


def test_header_and_rows_of_the_table_named_by_id() -> None:
    assert texts(ZHIHUI_PAGE, "#trade-table thead th") == ["交易单号", "交易金额(元)"]
    assert texts(ZHIHUI_PAGE, "#trade-table tbody tr") == ["ZH001 12.34", "ZH0020.01"]  # textContent, trimmed
    document = parse_html(ZHIHUI_PAGE.encode())
    rows = parse_selector("#trade-table tbody tr").select(document)
    cells = parse_selector("td")
    assert [[c.text() for c in cells.select(row)] for row in rows] == [["ZH001", "12.34"], ["ZH002", "0.01"]]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("table:nth-of-type(2) td", ["not a payment", "9.99"]),
        ("body > table:nth-of-type(1) > tbody > tr > td:nth-of-type(2)", ["12.34", "0.01"]),
        ("th[data-field=orderNo]", ["交易单号"]),
        ("th[data-field='orderNo'], th", None),
        ('a[rel="next"].page-link', ["下一页"]),
        ("div.pager > *", ["下一页"]),
        ("#trade-table > tr", []),  # rows sit in tbody, not directly in the table
        ("#missing th", []),
    ],
)
def test_the_css_subset(selector: str, expected: list[str] | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="unsupported selector"):
            parse_selector(selector)
    else:
        assert texts(ZHIHUI_PAGE, selector) == expected


def test_tables_are_repaired_as_a_browser_does() -> None:
    sloppy = "<table id=t><tr><th>单号<th>金额<tr><td>A1<td>1.00<tr><td>A2<td>2&nbsp;元</table><p>after"
    assert texts(sloppy, "#t tbody tr") == ["单号金额", "A11.00", "A22\xa0元"]  # one implied tbody, three rows
    assert texts(sloppy, "#t tbody th") == ["单号", "金额"]
    assert texts(sloppy, "#t td") == ["A1", "1.00", "A2", "2\xa0元"]
    assert texts(sloppy, "p") == ["after"]


def test_the_declared_charset_decodes_the_page() -> None:
    gbk = "<table id=t><tr><td>支付成功</td></tr></table>".encode("gbk")
    assert texts(gbk, "#t td", "text/html; charset=GBK") == ["支付成功"]
    assert texts(b'<meta charset="gbk">' + gbk, "#t td") == ["支付成功"]


@pytest.mark.parametrize("selector", ["tr:has-text('x')", "tr + tr", "tr >", "", "td::before"])
def test_selectors_outside_the_subset_are_refused(selector: str) -> None:
    with pytest.raises(ValueError, match="unsupported selector"):
        parse_selector(selector)
