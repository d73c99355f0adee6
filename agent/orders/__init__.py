"""The ``orders`` table's owner: the record, its reads (``queries``, ``live``, ``slots``) and the only writer of its
status (``transitions``).

``transitions`` is imported by name (``agent.orders.transitions``), not from here, so that reading an order
never pulls in the write side and its dependencies.
"""

from agent.orders.queries import get_order, get_order_by_out_trade_no
from agent.orders.record import ORDER_COLUMNS, UNKNOWN_CHANNEL_TYPE, Order, OrderStatus

__all__ = ["ORDER_COLUMNS", "UNKNOWN_CHANNEL_TYPE", "Order", "OrderStatus", "get_order", "get_order_by_out_trade_no"]
