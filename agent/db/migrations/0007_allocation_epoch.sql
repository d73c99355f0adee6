-- A counter bumped by every change that can alter what the allocator would choose: the eligible codes, their
-- rotation, daily-cap use and the live (scope, amount) slots. The allocator keeps its view of the pool between
-- write transactions and reloads it only when the counter moved, whoever wrote (this process, the CLI, a test).
CREATE TABLE allocation_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  INTEGER NOT NULL
);
INSERT INTO allocation_epoch (id, epoch) VALUES (1, 0);

CREATE TRIGGER orders_insert_epoch AFTER INSERT ON orders
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER orders_update_epoch AFTER UPDATE OF status, pay_amount_fen, scope, code_id, created_at ON orders
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER orders_delete_epoch AFTER DELETE ON orders
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER codes_insert_epoch AFTER INSERT ON codes
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER codes_update_epoch AFTER UPDATE ON codes
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER codes_delete_epoch AFTER DELETE ON codes
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER accounts_update_epoch AFTER UPDATE OF enabled, health, platform_id ON accounts
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER accounts_delete_epoch AFTER DELETE ON accounts
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER platforms_update_epoch AFTER UPDATE OF has_terminal ON platforms
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
