/** alert-router's service worker: shows a Web Push notification, opens its page on click.
 *
 * Served at /sw.js with `Service-Worker-Allowed: /`; register it from any page of the
 * router's origin with `navigator.serviceWorker.register("/sw.js", {scope: "/"})`.
 *
 * Payload (router/channels/webpush/payload.py, at most 3,993 bytes of JSON):
 *   {v: 1, title, body, severity, status: "firing"|"resolved", group_key, tag, receiver,
 *    url, alerts, firing, sent_at}
 * `tag` (a short hash of receiver and group key) is the notification tag, so a newer state
 * of a group replaces the older one in the tray; a critical firing group stays until
 * dismissed. A click opens `url` (see targetOf). Every push shows a notification, even
 * one whose payload cannot be read: a push that shows nothing makes Chrome show a generic
 * one and may cost the permission.
 */
"use strict";

const FALLBACK = {title: "alert-router", body: "New alert notification", url: "/"};

function parse(event) {
  if (!event.data) return null;
  try {
    const doc = event.data.json();
    return doc && typeof doc === "object" && !Array.isArray(doc) ? doc : null;
  } catch (err) {
    return null;
  }
}

function text(value, fallback) {
  return typeof value === "string" && value ? value : fallback;
}

function notificationOf(doc) {
  if (!doc) {
    return {title: FALLBACK.title, options: {body: FALLBACK.body, data: {url: FALLBACK.url}}};
  }
  const critical = doc.status === "firing" &&
    (doc.severity === "critical" || doc.severity === "page");
  const tag = text(doc.tag, text(doc.group_key, ""));
  const options = {
    body: text(doc.body, ""),
    data: {url: text(doc.url, FALLBACK.url), group_key: doc.group_key, tag: tag,
           status: doc.status, severity: doc.severity},
    requireInteraction: critical,
    // A newer state replaces the older one silently, unless the group fires again.
    renotify: Boolean(tag) && doc.status === "firing",
    timestamp: Date.parse(doc.sent_at) || Date.now(),
  };
  if (tag) options.tag = tag;
  return {title: text(doc.title, FALLBACK.title), options: options};
}

self.addEventListener("push", (event) => {
  const {title, options} = notificationOf(parse(event));
  event.waitUntil(self.registration.showNotification(title, options));
});

/** Where a click goes: the payload's `url`, a page of the router's UI under
 * `server.external_url`. When that names another origin than this worker's (left at its
 * default, or the browser subscribed through another name), the same page of the UI this
 * browser subscribed from: a notification is only ever shown by the router's own worker. */
function targetOf(url) {
  const own = (self.registration && self.registration.scope) || self.location.origin + "/";
  let parsed;
  try {
    parsed = new URL(url || FALLBACK.url, own);
  } catch (err) {
    return own;
  }
  if (parsed.origin === new URL(own).origin || !parsed.hash) return parsed.href;
  return new URL(parsed.hash, own).href;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = targetOf(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({type: "window", includeUncontrolled: true});
    for (const client of windows) {
      if (client.url === target && "focus" in client) return client.focus();
    }
    return self.clients.openWindow(target);
  })());
});

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// For tests (node or a page): the pure part, without the service worker globals.
if (typeof module !== "undefined") module.exports = {notificationOf, targetOf};
