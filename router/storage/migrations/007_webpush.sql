-- 007: Web Push. Browser subscriptions (one per endpoint, with the receivers it follows)
-- and the VAPID key pair, generated once and kept with the data: a new key would break
-- every subscription. The endpoint URL is a capability (whoever knows it can push): it is
-- stored here and never shown. Outbox rows of a fan-out channel name their recipient (a
-- subscription id), so each subscription has its own row, retries and dead letter.

ALTER TABLE outbox ADD COLUMN recipient TEXT NOT NULL DEFAULT '';

CREATE TABLE webpush_subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    receivers  TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE webpush_vapid (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT NOT NULL,
    created_at  REAL NOT NULL
);
