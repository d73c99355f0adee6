"""The intake pipeline shared by every endpoint: authenticate the merchant, then place or re-use an order."""

from __future__ import annotations

from aiohttp import web

from agent import epay
from agent.allocation import AllocationError, Allocator, DuplicateOutTradeNo, OrderDraft
from agent.db import Database
from agent.intake.errors import STORAGE_REFUSAL, IntakeError, Reason, RetryLater
from agent.intake.fields import parse_pid
from agent.merchants import Merchant, MerchantBook
from agent.notify.egress import EgressPolicy
from agent.orders import Order, OrderStatus, get_order, get_order_by_out_trade_no

# Fields whose change on a re-used out_trade_no means a different order, per the epay rules.
_REUSE_FIELDS = ("money_fen", "name", "notify_url", "return_url", "param", "sign_type")
_FIELD_NAMES = {"money_fen": "money"}


class IntakeService:
    def __init__(self, db: Database, merchants: MerchantBook, allocator: Allocator, egress: EgressPolicy) -> None:
        self._db = db
        self._merchants = merchants
        self._allocator = allocator
        self._egress = egress

    async def signed_merchant(self, params: dict[str, str]) -> Merchant:
        """The enabled merchant whose key signed ``params`` (MD5 rule of epay V1)."""
        merchant = await self.merchant(parse_pid(params))
        if not merchant.enabled:
            raise IntakeError("商户已被禁用", Reason.MERCHANT_DISABLED)
        if not params.get("sign"):
            raise IntakeError("缺少签名参数 sign", Reason.BAD_SIGN)
        if params.get("sign_type", "MD5").upper() != "MD5":
            raise IntakeError("不支持的签名类型(sign_type)，可选：MD5、RSA", Reason.BAD_SIGN)
        if not epay.verify(params, merchant.key):
            raise IntakeError("签名错误", Reason.BAD_SIGN)
        return merchant

    async def merchant(self, pid: int) -> Merchant:
        merchant = await self._merchants.get(pid)
        if merchant is None:
            raise IntakeError("商户不存在", Reason.UNKNOWN_MERCHANT)
        return merchant

    async def place(self, draft: OrderDraft) -> tuple[Order, bool]:
        """A new order (True), or the earlier one with this out_trade_no when the epay re-use rules allow (False).

        Inserting first and looking up only on a clash keeps the common case to one transaction. While the
        storage is failing (full disk) nothing is tried: the storage probe says when writes work again.
        """
        refusal = self._egress.order_refusal(draft.notify_url)
        if refusal is not None:
            raise IntakeError(refusal)
        storage = self._db.storage
        if storage.failing:
            raise RetryLater(STORAGE_REFUSAL.format(message=storage.message))
        try:
            return await self._allocator.create(draft), True
        except DuplicateOutTradeNo:
            existing = await get_order_by_out_trade_no(self._db, draft.pid, draft.out_trade_no)
        except AllocationError as exc:
            existing = await get_order_by_out_trade_no(self._db, draft.pid, draft.out_trade_no)
            if existing is None:
                raise IntakeError(str(exc), Reason.UNAVAILABLE) from exc
        if existing is None:  # deleted between the clash and the lookup: nothing sensible to re-use
            raise IntakeError("订单状态已变化，请重试", Reason.CONFLICT)
        return await self._reuse(existing, draft), False

    async def _reuse(self, existing: Order, draft: OrderDraft) -> Order:
        changed = [_FIELD_NAMES.get(f, f) for f in _REUSE_FIELDS if getattr(existing, f) != getattr(draft, f)]
        if existing.status is OrderStatus.PAID:
            raise IntakeError("该订单已支付，请勿重复提交", Reason.CONFLICT)
        if changed:
            raise IntakeError(f"商户订单号已存在，但参数不一致：{'、'.join(changed)}", Reason.CONFLICT)
        if existing.status is OrderStatus.CLOSED:
            raise IntakeError("该订单已关闭", Reason.CONFLICT)
        if existing.status is OrderStatus.PENDING:
            return existing
        try:
            renewed = await self._allocator.renew(existing)
        except AllocationError as exc:
            raise IntakeError(str(exc), Reason.UNAVAILABLE) from exc
        if renewed is not None:
            return renewed
        current = await get_order(self._db, existing.trade_no)  # paid or renewed meanwhile
        if current is None or current.status is not OrderStatus.PENDING:
            raise IntakeError("订单状态已变化，请重试", Reason.CONFLICT)
        return current


INTAKE = web.AppKey("intake", IntakeService)
