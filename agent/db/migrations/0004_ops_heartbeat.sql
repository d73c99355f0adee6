-- One row that /healthz rewrites: proof that the database still takes a write transaction.
CREATE TABLE ops_heartbeat (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    beat_at  INTEGER NOT NULL
);
