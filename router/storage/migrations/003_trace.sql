-- The decision trace: what the router did with each alert, and why. Bounded by the
-- periodic gc (retention and a per-alert cap), so it cannot fill the disk.
CREATE TABLE trace (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX trace_by_alert ON trace (fingerprint, id);
CREATE INDEX trace_by_time ON trace (at);
