"""What the payer's page may know: status as the payer sees it, time left, and the signed way back."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest

from agent import epay
from agent.cashier.payer import payer_status, remaining_seconds, return_redirect, status_document
from agent.cashier.qr import image_media_type
from agent.orders import Order, OrderStatus

KEY = "k" * 32
CREATED = 1_700_000_000_000
ORDER = Order(
    trade_no="2024000000000001", pid=1001, out_trade_no="SHOP-1", type="alipay", name="会员",
    money_fen=1000, pay_amount_fen=997, code_id=1, account_id=1, scope="a1", status=OrderStatus.PENDING,
    created_at=CREATED, expires_at=CREATED + 300_000, paid_at=None, provider_trade_no=None, param="",
    notify_url="https://shop.example/notify", return_url="https://shop.example/done", clientip="",
    device="pc", sitename="",
)
PAID = replace(ORDER, status=OrderStatus.PAID, paid_at=CREATED + 1000)


def test_pending_order_past_expiry_reads_as_expired() -> None:
    assert payer_status(ORDER, ORDER.expires_at) is OrderStatus.PENDING
    assert payer_status(ORDER, ORDER.expires_at + 1) is OrderStatus.EXPIRED
    assert payer_status(PAID, ORDER.expires_at + 10_000) is OrderStatus.PAID


def test_remaining_seconds_round_up_and_stop_at_zero() -> None:
    assert remaining_seconds(ORDER, CREATED) == 300
    assert remaining_seconds(ORDER, ORDER.expires_at - 1) == 1
    assert remaining_seconds(ORDER, ORDER.expires_at + 1) == 0
    assert remaining_seconds(PAID, CREATED) == 0


@pytest.mark.parametrize(
    ("return_url", "prefix", "suffix"),
    [
        ("https://shop.example/done", "https://shop.example/done?", ""),
        ("https://shop.example/done?a=1", "https://shop.example/done?a=1&", ""),
        ("https://shop.example/done?", "https://shop.example/done?", ""),
        ("https://shop.example/done#top", "https://shop.example/done?", "#top"),
    ],
)
def test_return_redirect_appends_signed_fields(return_url: str, prefix: str, suffix: str) -> None:
    url = return_redirect(replace(PAID, return_url=return_url), KEY)
    assert url is not None and url.startswith(prefix) and url.endswith(suffix)
    fields = dict(parse_qsl(urlsplit(url).query))
    fields.pop("a", None)
    assert epay.verify(fields, KEY)
    assert fields["money"] == "10.00"


@pytest.mark.parametrize("return_url", ["", "javascript:alert(1)", "//evil.example/x", "data:text/html,x"])
def test_no_redirect_to_nowhere_or_to_script(return_url: str) -> None:
    assert return_redirect(replace(PAID, return_url=return_url), KEY) is None


def test_no_redirect_before_payment() -> None:
    assert return_redirect(ORDER, KEY) is None


def test_status_document_holds_only_payer_fields() -> None:
    assert status_document(ORDER, KEY, CREATED) == {"status": "pending", "remaining_seconds": 300}
    paid = status_document(PAID, KEY, CREATED)
    assert set(paid) == {"status", "remaining_seconds", "redirect_url"}
    assert KEY not in str(paid) and "notify" not in str(paid)


@pytest.mark.parametrize(
    ("image", "declared", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n....", None, "image/png"),
        (b"\xff\xd8\xff\xe0....", "", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "image/webp"),
        (b"GIF89a....", "text/html", "image/gif"),
        (b"<html><script>", "text/html", "application/octet-stream"),
        (b"\x89PNG\r\n\x1a\n....", "IMAGE/PNG; charset=x", "image/png"),
    ],
)
def test_uploaded_images_are_served_only_as_images(image: bytes, declared: str | None, expected: str) -> None:
    assert image_media_type(image, declared) == expected
