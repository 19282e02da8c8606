-- 004: claims on outbox rows, and ids that are never reused.
-- A worker sends a row only while it holds the row's lease (lease_owner until
-- lease_until, epoch seconds); an expired lease (a crashed process) makes the row
-- claimable again; NULL: nobody holds it. Ids come from SQLite (AUTOINCREMENT: a deleted
-- row's id is never handed out again, so an id in a log line or an API answer names one
-- delivery forever). SQLite cannot add AUTOINCREMENT to a table, so it is rebuilt.

CREATE TABLE outbox_v4 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    idx             INTEGER NOT NULL,
    group_key       TEXT NOT NULL,
    payload         BLOB NOT NULL,
    firing          TEXT NOT NULL,
    resolved        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    ingested_at     REAL NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    state           TEXT NOT NULL,
    all_resolved    INTEGER NOT NULL,
    expires_in      REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL
);

INSERT INTO outbox_v4 (id, receiver, channel, idx, group_key, payload, firing, resolved,
    reason, priority, created_at, ingested_at, attempts, next_attempt_at, last_error, state,
    all_resolved, expires_in)
SELECT id, receiver, channel, idx, group_key, payload, firing, resolved, reason, priority,
    created_at, ingested_at, attempts, next_attempt_at, last_error, state, all_resolved,
    expires_in
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_state ON outbox (state, id);
