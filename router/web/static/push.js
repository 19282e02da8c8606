/**
 * The hook for Web Push (its service worker, /sw.js, and the subscription API are
 * another module's): when /api/v1/webpush/key answers 200, a button appears; a click
 * asks for permission (browsers refuse unprompted requests), registers /sw.js and posts
 * the subscription to /api/v1/webpush/subscriptions. A browser subscribed before posts its
 * subscription again on load (the router may have lost or pruned it).
 */

import {api} from './api.js';

function keyBytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** The VAPID public key from the key endpoint (a JSON object or a bare string). */
function publicKey(body) {
  if (typeof body === 'string') return body.trim();
  return body && (body.publicKey || body.key || body.applicationServerKey);
}

async function register(button, sub) {
  // Without `receivers` the router follows every receiver that pushes to browsers.
  const answer = await api('/api/v1/webpush/subscriptions', {method: 'POST', body: sub.toJSON()});
  button.textContent = 'Notifications on';
  button.title = `Notifications for ${answer.receivers.join(', ')}`;
  button.disabled = true;
}

export async function setupPush(button, say) {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) return;
  let key;
  try {
    key = publicKey(await api('/api/v1/webpush/key'));
  } catch {
    return; // no Web Push on this router (404), or not signed in yet
  }
  if (!key) return;
  button.hidden = false;
  // Subscribed before (this browser keeps it): post it again, so a router that lost or
  // pruned it has it back, and say so.
  try {
    const registration = await navigator.serviceWorker.getRegistration('/');
    const sub = registration && await registration.pushManager.getSubscription();
    if (sub) {
      await register(button, sub);
      return;
    }
  } catch {
    // not subscribed after all: the button offers it
  }
  button.onclick = async () => {
    try {
      if (await Notification.requestPermission() !== 'granted') {
        say('Notifications are blocked for this site in the browser settings.');
        return;
      }
      const registration = await navigator.serviceWorker.register('/sw.js');
      await navigator.serviceWorker.ready;
      const sub = await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(key)});
      await register(button, sub);
    } catch (err) {
      say(`Could not enable notifications: ${err.message}`);
    }
  };
}
