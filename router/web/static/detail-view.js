/**
 * One alert: its card, the last notification per receiver channel (queued, sent, failed
 * with its error, dead: the newest notification event that covered it), and its decision
 * trace ("where did my alert go?": received, routed, muted, deferred, queued, notified,
 * dead), newest first. Re-read whenever an event about this alert arrives.
 */

import {api} from './api.js';
import {ago, clear, h, when} from './dom.js';
import {alertCard} from './alerts-view.js';

function detailText(detail) {
  return Object.entries(detail || {}).map(([k, v]) =>
    h('span', {class: 'kv'}, h('b', {}, k), '=', typeof v === 'string' ? v : JSON.stringify(v)));
}

const EVENT_WORD = {queued: 'QUEUED', sent: 'SENT', failed: 'FAILED', dead: 'DEAD'};

/** What happened last on one channel: the newest notification event about the alert
 * (queued, sent, failed and retrying, dead), else the notification log's last send. */
function lastCell(event, logged) {
  if (event) {
    const retry = event.event === 'failed' ? ` · attempt ${event.attempt || 1}, retrying` : '';
    return [h('span', {class: `badge ev-${event.event}`}, EVENT_WORD[event.event] || event.event),
      ' ', h('span', {class: 'dim'}, `${event.status}${retry} · `), ago(event.at),
      event.error ? h('div', {class: 'error-text'}, event.error) : null,
      event.event === 'dead' ? h('a', {href: '#/deliveries'}, 'Retry it in Deliveries') : null];
  }
  if (logged) {
    return [h('span', {class: `badge ${logged.status}`}, logged.status.toUpperCase()),
      ' ', ago(logged.at)];
  }
  return h('span', {class: 'dim'}, 'not notified yet');
}

function channelsTable(found) {
  const rows = new Map(); // "receiver\u0000channel" → [receiver, channel, event, logged]
  for (const r of (found.alert && found.alert.receivers) || []) {
    for (const ch of r.channels) {
      const name = `${ch.channel}[${ch.index}]`;
      rows.set(`${r.name}\u0000${name}`, [r.name, name, null, ch.lastNotification]);
    }
  }
  for (const n of found.notifications || []) {
    const key = `${n.receiver}\u0000${n.channel}`;
    rows.set(key, [n.receiver, n.channel, n, (rows.get(key) || [])[3]]);
  }
  if (!rows.size) return h('p', {class: 'empty'}, 'No receiver channel reaches this alert.');
  return h('div', {class: 'table-wrap'}, h('table', {class: 'channels'},
    h('thead', {}, h('tr', {}, h('th', {}, 'Receiver'), h('th', {}, 'Channel'),
      h('th', {}, 'Last notification'))),
    h('tbody', {}, [...rows.values()].map(([receiver, channel, event, logged]) =>
      h('tr', {class: event ? `last-${event.event}` : ''}, h('td', {}, receiver),
        h('td', {}, channel), h('td', {}, lastCell(event, logged)))))));
}

function traceList(events) {
  if (!events.length) return h('p', {class: 'empty'}, 'No decision recorded yet.');
  return h('ol', {class: 'trace'}, [...events].reverse().map((e) =>
    h('li', {class: `trace-${e.kind}`}, when(e.at),
      h('span', {class: 'kind'}, e.kind), h('span', {class: 'detail'}, detailText(e.detail)))));
}

export function mountDetail(root, state, fingerprint) {
  const body = h('div', {class: 'detail'}, h('p', {}, 'Loading…'));
  clear(root, h('p', {}, h('a', {href: '#/alerts'}, '← All alerts')), body);
  let seen = -1;
  let found = null;

  function render() {
    if (!found) return;
    const alert = state.alerts.get(fingerprint) || (found.alert && {
      ...found.alert, status: found.alert.state, groups: [], channels: {}});
    clear(body,
      alert ? alertCard(alert, state.muted.get(fingerprint), {actions: false}) : null,
      h('p', {class: 'actions'}, h('a', {
        class: 'button', href: `#/silences/new?fingerprint=${encodeURIComponent(fingerprint)}`,
      }, 'Silence this alert')),
      h('h2', {}, 'Last notification per channel'),
      channelsTable(found),
      h('h2', {}, 'Where did it go? Decision trace'),
      traceList(found.events));
  }

  async function load() {
    try {
      found = await api(`/api/v1/alerts/${encodeURIComponent(fingerprint)}/trace`);
      render();
    } catch (err) {
      clear(body, h('p', {class: 'error'}, err.message));
    }
  }

  function update() {
    // Any new event may be about this alert (its notifications name it in `firing`);
    // reading one trace is cheap, and only happens when something changed.
    if (state.cursor !== seen) {
      seen = state.cursor;
      load();
    } else {
      render();
    }
  }
  // Muting decisions are traced at flush time without a stream event: re-read now and then.
  const timer = setInterval(load, 5000);
  return {update, unmount: () => clearInterval(timer)};
}
