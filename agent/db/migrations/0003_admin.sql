-- Administrators of the web back office, their sessions and failed sign-ins (for lock-out).

CREATE TABLE admins (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,              -- argon2id, never the password
    created_at     INTEGER NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash    TEXT    PRIMARY KEY,            -- sha256 of the cookie token; the token itself is never stored
    admin_id      INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

CREATE TABLE admin_login_failures (
    id        INTEGER PRIMARY KEY,
    username  TEXT    NOT NULL,
    ip        TEXT    NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX admin_login_failures_user ON admin_login_failures (username, at);
CREATE INDEX admin_login_failures_ip ON admin_login_failures (ip, at);
