-- 001: active alerts, the notification log and the delivery outbox.
-- Timestamps are REAL seconds since the Unix epoch (UTC); maps and sets are JSON text.

CREATE TABLE alerts (
    fingerprint   TEXT PRIMARY KEY,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    starts_at     REAL NOT NULL,
    ends_at       REAL,
    generator_url TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    timeout_end   INTEGER NOT NULL,
    source        TEXT NOT NULL,
    received_at   REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE nflog (
    key        TEXT PRIMARY KEY,
    firing     TEXT NOT NULL,
    resolved   TEXT NOT NULL,
    sent_at    REAL NOT NULL,
    expires_at REAL NOT NULL,
    data       TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX nflog_expires_at ON nflog (expires_at);

-- Rows hold rendered payloads only: secrets are read from config at send time.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
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
    expires_in      REAL NOT NULL
);

CREATE INDEX outbox_state ON outbox (state, id);
