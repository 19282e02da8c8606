-- The event log: every human-visible change, appended in the transaction that makes it.
-- Its id is the live stream's cursor (AUTOINCREMENT: never reused, even after trimming).
-- The decision trace moves in as `trace.<kind>` rows with their old ids (so the
-- sequence continues above them): the per-alert trace is the view
-- `fingerprint = ? AND type LIKE 'trace.%'`.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    type        TEXT NOT NULL,
    fingerprint TEXT,                      -- the one alert the event is about, if one
    receivers   TEXT NOT NULL DEFAULT '[]', -- JSON array (the stream's receiver= filter)
    severity    TEXT NOT NULL DEFAULT '',
    data        TEXT NOT NULL              -- JSON object: the envelope's `data`
);
INSERT INTO events (id, at, type, fingerprint, data)
    SELECT id, at, 'trace.' || kind, fingerprint, detail FROM trace ORDER BY id;
DROP TABLE trace;
CREATE INDEX events_by_alert ON events (fingerprint, id) WHERE fingerprint IS NOT NULL;
CREATE INDEX events_by_time ON events (at);

-- Small values kept with the data: `events_trimmed` (every stream event with a larger id
-- is still kept: an older cursor gets `reset`) and `session_key` (signs session cookies,
-- so logins survive a restart).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('events_trimmed', 0);
