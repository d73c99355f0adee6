-- A paid order always carries an epay type: its notify and return must (agent/matching/confirm.py sets it at
-- confirmation). Orders paid before that without one take their payment's channel, else alipay.
UPDATE orders SET type = coalesce(
    (SELECT t.channel FROM provider_transactions t WHERE t.order_trade_no = orders.trade_no),
    (SELECT t.channel FROM provider_transactions t
     WHERE t.account_id = orders.account_id AND t.provider_trade_no = orders.provider_trade_no),
    'alipay')
WHERE status = 'paid' AND type IS NULL;
