"""Field validation as a pure function: money parsing is exact or refused, never approximate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.intake.errors import IntakeError
from agent.intake.fields import MAPI, cut_name, order_draft
from agent.money import MAX_FEN

_BASE = {"out_trade_no": "A1", "name": "商品", "notify_url": "http://127.0.0.1/n", "type": "alipay",
         "clientip": "127.0.0.1"}


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_every_valid_amount_is_read_exactly(fen: int) -> None:
    text = f"{fen // 100}.{fen % 100:02d}"
    assert order_draft({**_BASE, "money": text}, 1, MAPI).money_fen == fen


@given(st.text(max_size=20))
def test_any_money_text_is_exact_or_refused(text: str) -> None:
    try:
        fen = order_draft({**_BASE, "money": text}, 1, MAPI).money_fen
    except IntakeError:
        return
    assert fen == Decimal(text.strip()) * 100 and 0 < fen <= MAX_FEN


@pytest.mark.parametrize("text", ["1e2", "0x10", "１０", "1,00", "+1", ".5", "5.", "NaN", "Infinity", "00.10"])
def test_lookalike_numbers_are_refused(text: str) -> None:
    with pytest.raises(IntakeError):
        order_draft({**_BASE, "money": text}, 1, MAPI)


@given(st.text(max_size=200))
def test_names_are_cut_to_127_valid_bytes(name: str) -> None:
    cut = cut_name(name)
    assert len(cut.encode()) <= 127 and name.startswith(cut)
