-- epay V2 (RSA). A merchant may register an RSA public key beside its MD5 key; each request's sign_type
-- decides which one checks it. The column is part of the merchants row, so the merchants_epoch trigger
-- tells every running gateway when it changes (MerchantBook's revision check).
ALTER TABLE merchants ADD COLUMN rsa_public_key TEXT;  -- bare base64 of the DER SubjectPublicKeyInfo

-- How an order was signed when it was created: its notifies, returns and answers are signed the same way
-- (MD5 with the merchant key, RSA with the platform private key).
ALTER TABLE orders ADD COLUMN sign_type TEXT NOT NULL DEFAULT 'MD5' CHECK (sign_type IN ('MD5', 'RSA'));

-- The platform's RSA key pair ("平台公钥" is handed to every merchant). One row, made on first need by
-- whichever process needs it first (INSERT OR IGNORE, then read back: all processes agree on one key).
CREATE TABLE platform_keys (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    private_enc  TEXT    NOT NULL,                -- PKCS#8 PEM, Fernet-encrypted like every other secret
    public_key   TEXT    NOT NULL,                -- bare base64 of the DER SubjectPublicKeyInfo
    created_at   INTEGER NOT NULL
);

-- Signatures of timestamped requests already accepted, until their timestamp leaves the +-300 s window:
-- the same signed request sent again (replay) is refused, across restarts and processes.
CREATE TABLE seen_signatures (
    digest      BLOB    PRIMARY KEY,              -- sha256(pid, sign), first 16 bytes
    expires_at  INTEGER NOT NULL                  -- ms; past it the timestamp check refuses the request anyway
) WITHOUT ROWID;
CREATE INDEX seen_signatures_expiry ON seen_signatures (expires_at);
