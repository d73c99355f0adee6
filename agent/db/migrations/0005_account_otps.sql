-- One-time codes a person typed for an account waiting at its provider's SMS step (browser agent).
-- Kept encrypted, consumed by the next login attempt that is waiting for a code sent before it.
CREATE TABLE account_otps (
    account_id    INTEGER PRIMARY KEY REFERENCES accounts(id),
    code_enc      TEXT    NOT NULL,
    delivered_at  INTEGER NOT NULL
);
