-- Allocation reads which scopes hold a payable amount: one range seek over live orders by amount (covering),
-- instead of one seek per scope in orders_live_amount.
CREATE INDEX orders_live_by_amount ON orders (pay_amount_fen, scope) WHERE status = 'pending';
