-- A (scope, pay amount) slot that leaves pending (paid, expired, closed) is quarantined: no new order gets it
-- for a while. Payers pay twice, or late; their stray payment must find no other order waiting at that amount.
-- The triggers write and check it whoever changes an order's status, so no code path can forget it.

-- How long slots stay quarantined, per way of leaving pending; the allocator keeps it equal to its settings.
CREATE TABLE amount_quarantine_policy (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    paid_ms      INTEGER NOT NULL CHECK (paid_ms >= 0),     -- after paid or closed
    expired_ms   INTEGER NOT NULL CHECK (expired_ms >= 0)   -- after expired (never less than the late-payment grace)
);
INSERT INTO amount_quarantine_policy (id, paid_ms, expired_ms) VALUES (1, 600000, 600000);

-- One row per slot: the latest order that held it and when the slot may be handed out again.
CREATE TABLE amount_quarantine (
    pay_amount_fen  INTEGER NOT NULL,
    scope           TEXT    NOT NULL,
    trade_no        TEXT    NOT NULL,                  -- the order whose payers may still pay this amount
    until           INTEGER NOT NULL,                  -- epoch ms
    PRIMARY KEY (pay_amount_fen, scope)
) WITHOUT ROWID;

CREATE TRIGGER orders_quarantine_slot AFTER UPDATE OF status ON orders
WHEN OLD.status = 'pending' AND NEW.status != 'pending'
BEGIN
    INSERT INTO amount_quarantine (pay_amount_fen, scope, trade_no, until)
    SELECT OLD.pay_amount_fen, OLD.scope, OLD.trade_no,
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
           + CASE NEW.status WHEN 'expired' THEN expired_ms ELSE paid_ms END
    FROM amount_quarantine_policy WHERE id = 1
    ON CONFLICT (pay_amount_fen, scope) DO UPDATE SET trade_no = excluded.trade_no, until = excluded.until;
END;

-- The backstop under the allocator: a new or renewed pending order never takes a quarantined slot, nor one
-- that overlaps it (an account-wide scope "a1" overlaps every terminal scope "a1:t..." of that account).
CREATE TRIGGER orders_insert_quarantine_guard BEFORE INSERT ON orders
WHEN NEW.status = 'pending' AND EXISTS (
    SELECT 1 FROM amount_quarantine q
    WHERE q.pay_amount_fen = NEW.pay_amount_fen AND q.until > NEW.created_at AND q.trade_no != NEW.trade_no
      AND (q.scope = NEW.scope OR q.scope = 'a' || NEW.account_id
           OR (NEW.scope = 'a' || NEW.account_id AND substr(q.scope, 1, length(NEW.scope) + 2) = NEW.scope || ':t'))
)
BEGIN SELECT RAISE(ABORT, 'amount_quarantine: the slot is quarantined'); END;

CREATE TRIGGER orders_renew_quarantine_guard BEFORE UPDATE OF status ON orders
WHEN OLD.status != 'pending' AND NEW.status = 'pending' AND EXISTS (
    SELECT 1 FROM amount_quarantine q
    WHERE q.pay_amount_fen = NEW.pay_amount_fen AND q.until > NEW.created_at AND q.trade_no != NEW.trade_no
      AND (q.scope = NEW.scope OR q.scope = 'a' || NEW.account_id
           OR (NEW.scope = 'a' || NEW.account_id AND substr(q.scope, 1, length(NEW.scope) + 2) = NEW.scope || ':t'))
)
BEGIN SELECT RAISE(ABORT, 'amount_quarantine: the slot is quarantined'); END;

-- An unmatched payment that landed on a quarantined slot names the order whose slot it was ("疑似重复付款").
ALTER TABLE provider_transactions ADD COLUMN duplicate_of TEXT REFERENCES orders(trade_no);
-- Unmatched payments not yet tied to a quarantined slot, newest first: the matcher looks at them after each read.
CREATE INDEX provider_transactions_unflagged ON provider_transactions (account_id, seen_at)
    WHERE status = 'unmatched' AND duplicate_of IS NULL;
