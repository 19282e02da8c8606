-- 002: Alertmanager-compatible silences (current and expired, until retention drops them).
-- `body` is the silence as JSON (matchers as name/op/value, times as epoch seconds);
-- `ends_at` is duplicated out of it for retention sweeps.

CREATE TABLE silences (
    id      TEXT PRIMARY KEY,
    body    TEXT NOT NULL,
    ends_at REAL NOT NULL
) WITHOUT ROWID;

CREATE INDEX silences_ends_at ON silences (ends_at);
