/**
 * Deliveries (the durable outbox): dead letters first, each with a Retry button, then
 * the notifications waiting to be sent (paced, backing off, or waiting for a circuit).
 * The activity screen lists the newest stream events in words.
 */

import {api} from './api.js';
import {ago, clear, groupLabels, h, when} from './dom.js';

function row(d, retry) {
  return h('article', {class: `delivery state-${d.state}`, 'data-delivery': d.id},
    h('header', {class: 'alert-head'},
      h('span', {class: `badge ${d.state === 'dead' ? 'dead' : 'pending'}`},
        d.state === 'dead' ? 'DEAD' : 'PENDING'),
      h('h3', {class: 'alert-name'}, `${d.receiver} → ${d.channel}[${d.index}]`),
      h('span', {class: 'age'}, `queued ${ago(d.createdAt)}`)),
    h('p', {class: 'chips'}, h('span', {class: 'chip'}, groupLabels(d.groupKey))),
    h('p', {class: 'meta'}, `${d.reason} · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`,
      d.state === 'dead' ? '' : [' · next ', when(d.nextAttemptAt)]),
    d.lastError ? h('p', {class: 'last-error'}, d.lastError) : null,
    d.state === 'dead' ? h('footer', {class: 'alert-links'},
      h('button', {type: 'button', onclick: () => retry(d)}, 'Retry')) : null);
}

export function mountDeliveries(root, state) {
  const error = h('p', {class: 'error', role: 'alert'});
  const list = h('div', {});
  clear(root, h('h1', {}, 'Deliveries'), error, list);

  async function retry(d) {
    try {
      await api(`/api/v1/deliveries/${d.id}/retry`, {method: 'POST'});
      error.textContent = '';
      state.refreshDeliveries();
    } catch (err) {
      error.textContent = err.message;
    }
  }

  function update() {
    const {pending, dead} = state.deliveries;
    clear(list,
      h('h2', {}, `Dead letters (${dead.length})`),
      dead.length ? dead.map((d) => row(d, retry))
        : h('p', {class: 'empty'}, 'No dead letters: every notification got through.'),
      h('h2', {}, `Pending (${pending.length})`),
      pending.length ? pending.map((d) => row(d, retry))
        : h('p', {class: 'empty'}, 'Nothing is waiting to be sent.'));
  }
  return {update};
}

// Each type in a word a person reads at a glance (the type itself is the tooltip).
const KIND = {
  'alert.firing': 'firing', 'alert.resolved': 'resolved', 'notification.queued': 'queued',
  'notification.sent': 'sent', 'notification.failed': 'failed', 'notification.dead': 'DEAD',
  'silence.created': 'silenced', 'silence.updated': 'silence changed',
  'silence.expired': 'silence ended',
};

/** What a group is called: its alertname, else its labels (the group key's last part). */
function groupName(key) {
  const labels = (key || '').slice((key || '').lastIndexOf(':{') + 1);
  const name = /alertname="((?:[^"\\]|\\.)*)"/.exec(labels);
  return name ? name[1] : labels;
}

function describe(e) {
  const d = e.data || {};
  if (e.type.startsWith('alert.')) {
    const labels = d.labels || {};
    return `${labels.alertname || d.fingerprint} ${labels.instance ? `on ${labels.instance}` : ''}`;
  }
  if (e.type.startsWith('notification.')) {
    const n = (d.firing || []).length + (d.resolved || []).length;
    return `${d.receiver} → ${d.channel}: ${groupName(d.groupKey)} (${n} alert${n === 1 ? '' : 's'}`
      + `${d.reason ? `, ${d.reason}` : ''})${d.error ? ` — ${d.error}` : ''}`;
  }
  if (e.type.startsWith('silence.')) {
    return `${(d.matchers || []).map((m) => `${m.name}=${m.value}`).join(', ')} by ${d.createdBy}`;
  }
  return '';
}

export function mountActivity(root, state) {
  const list = h('ol', {class: 'activity'});
  clear(root, h('h1', {}, 'Activity'), h('p', {class: 'hint'},
    'The newest changes, live: alerts firing and resolving, notifications, silences.'), list);
  function update() {
    const events = [...state.activity.values()].reverse();
    clear(list, events.length ? events.map((e) => h('li', {class: `ev ev-${e.type.replace('.', '-')}`,
      'data-event': e.id}, when(e.time), h('span', {class: 'kind', title: e.type},
      KIND[e.type] || e.type),
    h('span', {class: 'detail'}, describe(e)))) : h('li', {class: 'empty'}, 'Nothing yet.'));
  }
  return {update};
}
