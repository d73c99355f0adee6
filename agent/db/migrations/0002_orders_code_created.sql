-- Daily caps sum today's pay amounts per code: index-only scan instead of reading every order of the day.
CREATE INDEX orders_code_created ON orders (code_id, created_at, status, pay_amount_fen);
