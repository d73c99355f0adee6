-- Owner alerts (agent/alerts). Owned by that module alone.

-- What each alert key last did, so a restart neither resends every alert nor forgets a condition that
-- cleared. A key is "active" while resolved_at IS NULL.
CREATE TABLE alert_state (
    key           TEXT    PRIMARY KEY,            -- e.g. 'account:3:needs_human', 'notify:T2026...', 'storage'
    title         TEXT    NOT NULL,
    attempted_at  INTEGER NOT NULL,               -- last time it was sent (or tried)
    delivered     INTEGER NOT NULL CHECK (delivered IN (0, 1)),  -- 0: every channel failed, try again soon
    resolved_at   INTEGER                         -- set when the condition cleared: the next raise sends again
);

-- Small facts the alert watcher keeps between checks and restarts: how far it has read unmatched
-- payments, which accounts were reported failing and so owe an "已恢复" when they work again.
CREATE TABLE alert_marks (
    name   TEXT    PRIMARY KEY,
    value  INTEGER NOT NULL
);
