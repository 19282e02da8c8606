-- 006: outbox rows in doubt. A row is in doubt once a holder may have sent it without
-- recording the outcome: it was claimed from a holder whose lease ran out (or that died,
-- see `outbox_release(in_doubt=True)`) while its attempt was due. Sticky until the row is
-- deleted (delivered): a later graceful hand-over does not clear it. Channels that can
-- (Slack Web API) look for the earlier send before sending again.
--
-- Numbered 006 on a branch beside 005 (the event log) and 007 (Web Push): the runner runs
-- each migration a database has not had (schema_migrations), in any order they land.

ALTER TABLE outbox ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;

-- A database upgraded after a crash: rows still held by the crashed process are in doubt.
UPDATE outbox SET in_doubt = 1
WHERE state = 'pending' AND lease_owner IS NOT NULL AND next_attempt_at < lease_until;
