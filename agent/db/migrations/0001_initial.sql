-- Core schema. Times are integer milliseconds since the Unix epoch (UTC); money is integer fen.

CREATE TABLE merchants (
    pid         INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    key_enc     TEXT    NOT NULL,                 -- merchant key, Fernet-encrypted (needed to sign)
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL
);

CREATE TABLE platforms (
    id            INTEGER PRIMARY KEY,
    slug          TEXT    NOT NULL UNIQUE,        -- profile name under profiles/
    name          TEXT    NOT NULL,
    has_terminal  INTEGER NOT NULL DEFAULT 1 CHECK (has_terminal IN (0, 1))  -- records carry a terminal/QR id
);

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    platform_id    INTEGER NOT NULL REFERENCES platforms(id),
    name           TEXT    NOT NULL,
    username       TEXT    NOT NULL,
    secret_enc     TEXT    NOT NULL,              -- Fernet-encrypted password
    base_url       TEXT,                          -- overrides the profile's base URL
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    health         TEXT    NOT NULL DEFAULT 'ok'
                   CHECK (health IN ('ok', 'degraded', 'login_failed', 'needs_human')),
    health_reason  TEXT,
    health_at      INTEGER,
    session_enc    TEXT,                          -- Fernet-encrypted browser storage state
    created_at     INTEGER NOT NULL,
    UNIQUE (platform_id, username)
);

CREATE TABLE codes (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    label          TEXT    NOT NULL DEFAULT '',
    payload        TEXT,                          -- the QR's content, rendered by us
    image          BLOB,                          -- or an uploaded picture of the QR
    image_type     TEXT,
    terminal_id    TEXT,                          -- terminal / QR plate id as the provider's records show it
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    daily_cap_fen  INTEGER CHECK (daily_cap_fen IS NULL OR daily_cap_fen > 0),
    last_used_at   INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    CHECK (payload IS NOT NULL OR image IS NOT NULL)
);
CREATE INDEX codes_lru ON codes (enabled, last_used_at);

CREATE TABLE orders (
    trade_no           TEXT    PRIMARY KEY,
    pid                INTEGER NOT NULL REFERENCES merchants(pid),
    out_trade_no       TEXT    NOT NULL,
    type               TEXT,                      -- NULL until the payer picks a method (submit.php without type)
    name               TEXT    NOT NULL,
    money_fen          INTEGER NOT NULL CHECK (money_fen > 0),      -- the merchant's amount
    pay_amount_fen     INTEGER NOT NULL CHECK (pay_amount_fen > 0), -- what the payer must pay
    code_id            INTEGER NOT NULL REFERENCES codes(id),
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    scope              TEXT    NOT NULL,          -- matching scope: orders the provider cannot tell apart
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'paid', 'expired', 'closed')),
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    paid_at            INTEGER,
    provider_trade_no  TEXT,
    param              TEXT    NOT NULL DEFAULT '',
    notify_url         TEXT    NOT NULL,
    return_url         TEXT    NOT NULL DEFAULT '',
    clientip           TEXT    NOT NULL DEFAULT '',
    device             TEXT    NOT NULL DEFAULT 'pc',
    sitename           TEXT    NOT NULL DEFAULT '',
    UNIQUE (pid, out_trade_no)
);
-- The uniqueness invariant: within one matching scope no two live orders share a payable amount.
CREATE UNIQUE INDEX orders_live_amount ON orders (scope, pay_amount_fen) WHERE status = 'pending';
CREATE INDEX orders_status_expiry ON orders (status, expires_at);
CREATE INDEX orders_account_created ON orders (account_id, created_at);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE provider_transactions (
    id                 INTEGER PRIMARY KEY,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    provider_trade_no  TEXT    NOT NULL,
    amount_fen         INTEGER NOT NULL,
    channel            TEXT    NOT NULL,
    paid_at            INTEGER NOT NULL,
    terminal_id        TEXT,
    raw                TEXT    NOT NULL,          -- the provider's record as read, JSON
    status             TEXT    NOT NULL DEFAULT 'unmatched'
                       CHECK (status IN ('unmatched', 'matched', 'dismissed')),
    order_trade_no     TEXT    REFERENCES orders(trade_no),
    seen_at            INTEGER NOT NULL,
    UNIQUE (account_id, provider_trade_no),
    CHECK ((status = 'matched') = (order_trade_no IS NOT NULL))
);
-- One provider payment confirms at most one order, and one order is confirmed by at most one payment.
CREATE UNIQUE INDEX provider_transactions_order ON provider_transactions (order_trade_no)
    WHERE order_trade_no IS NOT NULL;
CREATE INDEX provider_transactions_status ON provider_transactions (status, paid_at);

CREATE TABLE notify_jobs (
    trade_no         TEXT    PRIMARY KEY REFERENCES orders(trade_no),
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'acked', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX notify_jobs_due ON notify_jobs (status, next_attempt_at);

CREATE TABLE notify_attempts (
    id            INTEGER PRIMARY KEY,
    trade_no      TEXT    NOT NULL REFERENCES orders(trade_no),
    attempted_at  INTEGER NOT NULL,
    url           TEXT    NOT NULL,
    http_status   INTEGER,
    body_excerpt  TEXT    NOT NULL DEFAULT '',
    outcome       TEXT    NOT NULL CHECK (outcome IN ('acked', 'rejected', 'error')),
    duration_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notify_attempts_trade ON notify_attempts (trade_no, attempted_at);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,                     -- 'cli', 'admin:<name>', 'system'
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '{}'         -- JSON, secrets never included
);
