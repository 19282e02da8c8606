/**
 * One alert: its card, the last notification per receiver channel, and its decision
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

function channelsTable(view) {
  const rows = [];
  for (const r of view.receivers) {
    for (const ch of r.channels) {
      const last = ch.lastNotification;
      rows.push(h('tr', {},
        h('td', {}, r.name), h('td', {}, `${ch.channel}[${ch.index}]`),
        h('td', {}, last ? [h('span', {class: `badge ${last.status}`}, last.status.toUpperCase()),
          ' ', ago(last.at)] : h('span', {class: 'dim'}, 'not notified yet'))));
    }
  }
  if (!rows.length) return h('p', {class: 'empty'}, 'No receiver channel reaches this alert.');
  return h('div', {class: 'table-wrap'}, h('table', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Receiver'), h('th', {}, 'Channel'),
      h('th', {}, 'Last notification'))),
    h('tbody', {}, rows)));
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
      found.alert ? channelsTable(found.alert) : h('p', {class: 'empty'}, 'The alert is gone.'),
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
