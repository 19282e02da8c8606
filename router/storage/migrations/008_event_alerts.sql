-- 008: notification events linked to every alert they cover. A notification event names
-- many alerts (its `firing` and `resolved` fingerprints), so `events.fingerprint` cannot
-- hold them: a trigger writes one link per alert in the insert's own transaction, and
-- removes them with the event (retention). An alert's events (`?fingerprint=`) and its
-- last notification per channel read through it.
CREATE TABLE event_alerts (
    fingerprint TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (fingerprint, event_id)
) WITHOUT ROWID;
CREATE INDEX event_alerts_by_event ON event_alerts (event_id);
CREATE TRIGGER events_link_alerts AFTER INSERT ON events
WHEN NEW.type LIKE 'notification.%'
BEGIN
    INSERT OR IGNORE INTO event_alerts (fingerprint, event_id)
        SELECT value, NEW.id FROM json_each(NEW.data, '$.firing')
        UNION SELECT value, NEW.id FROM json_each(NEW.data, '$.resolved');
END;
CREATE TRIGGER events_unlink_alerts AFTER DELETE ON events
WHEN OLD.type LIKE 'notification.%'
BEGIN
    DELETE FROM event_alerts WHERE event_id = OLD.id;
END;
INSERT OR IGNORE INTO event_alerts (fingerprint, event_id)
    SELECT j.value, e.id FROM events AS e, json_each(e.data, '$.firing') AS j
    WHERE e.type LIKE 'notification.%'
    UNION SELECT j.value, e.id FROM events AS e, json_each(e.data, '$.resolved') AS j
    WHERE e.type LIKE 'notification.%';
