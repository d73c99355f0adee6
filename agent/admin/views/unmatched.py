"""未匹配收款: provider payments no order claimed; attach one to an order (paid + notified) or dismiss it."""

from __future__ import annotations

from aiohttp import web

from agent.admin import actions
from agent.admin.plumbing import actor, form_of, path_id, render, see_other
from agent.appkeys import DB
from agent.orders.queries import attach_suggestions
from agent.provider_transactions import unmatched_for_review

routes = web.RouteTableDef()

LIMIT = 200
SUGGESTION_WINDOW_MS = 3_600_000  # orders created up to an hour before the payment are offered


async def _page(request: web.Request, *, errors: dict[int, str] | None = None, status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    rows = await unmatched_for_review(db, LIMIT)
    suggestions = {
        row.id: await attach_suggestions(
            db, row.account_id, paid_at=row.paid_at, amount_fen=row.amount_fen, window_ms=SUGGESTION_WINDOW_MS
        )
        for row in rows
    }
    return render(request, "unmatched.html", {
        "rows": rows, "suggestions": suggestions, "errors": errors or {}, "done": request.query.get("done", ""),
    }, status=status)


@routes.get("/unmatched")
async def unmatched_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post(r"/transactions/{id:[0-9]+}/{action:attach|dismiss}")
async def transaction_action(request: web.Request) -> web.StreamResponse:
    transaction_id = path_id(request)
    form = form_of(request)
    db = request.config_dict[DB]
    try:
        if request.match_info["action"] == "attach":
            trade_no = form.get("trade_no")
            if not trade_no:
                return await _page(request, errors={transaction_id: "请填写要关联的订单号"}, status=400)
            reason = form.get("reason") or "人工关联未匹配收款"
            await actions.attach(db, transaction_id, trade_no, actor=actor(request), reason=reason)
        else:
            await actions.dismiss(db, transaction_id, actor=actor(request), reason=form.get("reason"))
    except actions.ActionRefused as exc:
        return await _page(request, errors={transaction_id: str(exc)}, status=400)
    return see_other(f"/admin/unmatched?done={request.match_info['action']}")
