-- An account's life (agent/accounts): when its current failure spell started and what kind of failure it is,
-- a revision bumped whenever what a login uses changes, and a person's request to try it again now.
ALTER TABLE accounts ADD COLUMN failing_since INTEGER;  -- first failure of the current spell; NULL while ok
ALTER TABLE accounts ADD COLUMN failure_at INTEGER;     -- latest failure
ALTER TABLE accounts ADD COLUMN failure_class TEXT;     -- agent.accounts.failures.FailureClass; NULL while ok
ALTER TABLE accounts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN probe_requested_at INTEGER;  -- 立即重试, possibly from another process

UPDATE accounts SET failing_since = coalesce(health_at, created_at), failure_at = health_at WHERE health != 'ok';

-- New login details: the scheduler rebuilds the provider, and the saved session (which may belong to the old
-- user or the old back office) is dropped. Only real changes count, so writing the same value is free.
CREATE TRIGGER accounts_revision AFTER UPDATE OF username, secret_enc, base_url, platform_id ON accounts
WHEN OLD.username IS NOT NEW.username OR OLD.secret_enc IS NOT NEW.secret_enc OR OLD.base_url IS NOT NEW.base_url
    OR OLD.platform_id IS NOT NEW.platform_id
BEGIN UPDATE accounts SET revision = revision + 1, session_enc = NULL WHERE id = NEW.id; END;

-- A degraded account takes orders during its grace, counted from failing_since: the allocator must reload.
CREATE TRIGGER accounts_failing_epoch AFTER UPDATE OF failing_since ON accounts
WHEN OLD.failing_since IS NOT NEW.failing_since
BEGIN UPDATE allocation_epoch SET epoch = epoch + 1; END;
