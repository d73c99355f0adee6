-- Revocation: a counter bumped by every change to a merchant (key rotated, disabled, renamed, deleted), whoever
-- wrote it. A running gateway keeps merchants with their decrypted keys in memory (intake checks a signature
-- per order) and compares this counter at most every MAPAY_MERCHANT_CACHE_SECONDS, so a key rotated or a merchant
-- disabled by the CLI (another process) stops working within that time.
CREATE TABLE merchants_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  INTEGER NOT NULL
);
INSERT INTO merchants_epoch (id, epoch) VALUES (1, 0);

CREATE TRIGGER merchants_update_epoch AFTER UPDATE ON merchants
BEGIN UPDATE merchants_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER merchants_delete_epoch AFTER DELETE ON merchants
BEGIN UPDATE merchants_epoch SET epoch = epoch + 1; END;

-- Sign-in throttling is per (username, client address): one guessing client must not lock out the others.
-- The ip column holds the client address (X-Forwarded-For only from MAPAY_TRUSTED_PROXIES).
DROP INDEX admin_login_failures_user;
DROP INDEX admin_login_failures_ip;
CREATE INDEX admin_login_failures_pair ON admin_login_failures (username, ip, at);
CREATE INDEX admin_login_failures_at ON admin_login_failures (at);
