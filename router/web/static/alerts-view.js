/**
 * The alerts screen: firing alerts grouped by receiver and aggregation group, most severe
 * group first, each alert with its severity in words, age, labels, annotations and
 * links; a filter box that takes Alertmanager's matcher syntax (`{severity="critical"}`).
 */

import {
  SEVERITY_ORDER, ago, clear, groupLabels, h, labelChips, link, pair, parsePairs,
  severityBadge, severityOf, since,
} from './dom.js';

const SHOWN_ANNOTATIONS = ['summary', 'description', 'runbook_url'];

function rank(alert) {
  return SEVERITY_ORDER.indexOf(severityOf(alert.labels));
}

/** Alerts → [{receiver, groupKey, alerts}] by severity, then name. */
function grouped(alerts) {
  const groups = new Map();
  for (const alert of alerts) {
    const routes = alert.groups.length ? alert.groups : [{receiver: '?', groupKey: ''}];
    for (const {receiver, groupKey} of routes) {
      const id = `${receiver}\u0000${groupKey}`;
      if (!groups.has(id)) groups.set(id, {receiver, groupKey, alerts: []});
      groups.get(id).alerts.push(alert);
    }
  }
  const out = [...groups.values()];
  for (const g of out) {
    g.alerts.sort((a, b) => rank(a) - rank(b) || Date.parse(b.startsAt) - Date.parse(a.startsAt));
    g.rank = rank(g.alerts[0]);
  }
  return out.sort((a, b) => a.rank - b.rank || a.receiver.localeCompare(b.receiver)
    || a.groupKey.localeCompare(b.groupKey));
}

/** `status` from /api/v2/alerts (silences, inhibition); `mutedBy` (time intervals) from
 * /api/v1/alerts, since Alertmanager's API does not show that muting. */
export function mutedBadges(status, mutedBy = []) {
  const out = [];
  if (status && status.silencedBy.length) out.push(h('span', {class: 'badge muted'}, 'SILENCED'));
  if (status && status.inhibitedBy.length) {
    out.push(h('span', {class: 'badge muted'}, 'INHIBITED'));
  }
  if (mutedBy.length) out.push(h('span', {class: 'badge muted'}, 'MUTED'));
  return out;
}

/** One alert as a card; `actions` adds the Details and Silence buttons. */
export function alertCard(alert, status, {actions = true} = {}) {
  const a = alert.annotations || {};
  const title = alert.labels.alertname || '(no alertname)';
  const extra = Object.keys(a).filter((k) => !SHOWN_ANNOTATIONS.includes(k)).sort();
  const fp = encodeURIComponent(alert.fingerprint);
  const muted = status && status.state === 'suppressed';
  return h('article', {
    class: `alert sev-${severityOf(alert.labels)}${muted ? ' is-muted' : ''}`,
    'data-fingerprint': alert.fingerprint,
  },
  h('header', {class: 'alert-head'},
    severityBadge(alert.labels), ...mutedBadges(status, alert.mutedBy),
    h('h3', {class: 'alert-name'}, title),
    alert.status === 'resolved' ? h('span', {class: 'badge resolved'}, 'RESOLVED') : null,
    alert.status === 'resolved'
      ? h('span', {class: 'age', title: alert.endsAt}, `resolved ${ago(alert.endsAt)}`)
      : h('span', {class: 'age', title: alert.startsAt}, `firing for ${since(alert.startsAt)}`)),
  a.summary ? h('p', {class: 'summary'}, a.summary) : null,
  a.description ? h('p', {class: 'description'}, a.description) : null,
  h('div', {class: 'chips'}, labelChips(alert.labels, ['alertname', 'severity'])),
  extra.length ? h('dl', {class: 'annotations'},
    extra.map((k) => [h('dt', {}, k), h('dd', {}, link(a[k], a[k]) || a[k])])) : null,
  h('footer', {class: 'alert-links'},
    link(a.runbook_url, 'Runbook'), link(alert.generatorURL, 'Source'),
    actions ? h('a', {href: `#/alert/${fp}`, class: 'button'}, 'Details') : null,
    actions ? h('a', {href: `#/silences/new?fingerprint=${fp}`, class: 'button'},
      'Silence') : null));
}

function groupSection(group, state, hideMuted) {
  const shown = group.alerts.filter((x) => !(hideMuted && isMuted(state, x)));
  if (!shown.length) return null;
  const labels = parsePairs(groupLabels(group.groupKey));
  return h('section', {class: `group sev-${SEVERITY_ORDER[group.rank]}`},
    h('header', {class: 'group-head'},
      h('span', {class: 'receiver'}, group.receiver),
      h('span', {class: 'chips'}, labels.map(([k, v]) => h('span', {class: 'chip'}, pair(k, v)))),
      h('span', {class: 'group-count'}, `${shown.length} firing`)),
    deadNote(group, state),
    shown.map((x) => alertCard(x, state.muted.get(x.fingerprint))));
}

/** A notification of this group that died: at 3 a.m. nobody may have been told. */
function deadNote(group, state) {
  const dead = state.deliveries.dead.filter((d) => d.receiver === group.receiver
    && d.groupKey === group.groupKey);
  if (!dead.length) return null;
  const channels = [...new Set(dead.map((d) => `${d.channel}[${d.index}]`))].join(', ');
  return h('p', {class: 'dead-note', role: 'alert'},
    h('span', {class: 'badge dead'}, 'NOT DELIVERED'),
    ` ${channels}: ${dead[0].lastError || 'dead letter'} `,
    h('a', {href: '#/deliveries'}, 'Retry in Deliveries'));
}

function isMuted(state, alert) {
  const status = state.muted.get(alert.fingerprint);
  return Boolean((status && status.state === 'suppressed') || (alert.mutedBy || []).length);
}

export function mountAlerts(root, state, params, navigate) {
  const input = h('input', {
    type: 'search', name: 'filter', class: 'filter', value: params.get('filter') || '',
    placeholder: '{severity="critical", team=~"db.*"}', 'aria-label': 'Filter alerts',
    spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off',
  });
  const hide = h('input', {type: 'checkbox', name: 'hide-muted'});
  hide.checked = params.get('muted') === 'hide';
  const error = h('p', {class: 'error', role: 'alert'});
  const summary = h('p', {class: 'summary-line', 'aria-live': 'polite'});
  const list = h('div', {class: 'groups'});
  const form = h('form', {class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (input.value.trim()) q.set('filter', input.value.trim());
    if (hide.checked) q.set('muted', 'hide');
    navigate(`#/alerts${q.size ? `?${q}` : ''}`);
  }}, input, h('button', {type: 'submit'}, 'Filter'),
  h('label', {class: 'check'}, hide, 'Hide silenced and inhibited'));
  hide.addEventListener('change', () => form.requestSubmit());
  clear(root, h('h1', {class: 'sr-only'}, 'Alerts'), form, error, summary, list);
  if ((params.get('filter') || '') !== state.filter) {
    state.setFilter(params.get('filter') || '').catch(() => {}); // a 401 shows the login
  }

  function update() {
    error.textContent = state.filterError;
    const alerts = state.visibleAlerts();
    const groups = grouped(alerts).map((g) => groupSection(g, state, hide.checked))
      .filter(Boolean);
    const muted = alerts.filter((x) => isMuted(state, x)).length;
    summary.textContent = !state.loaded ? 'Loading…'
      : `${alerts.length} firing${muted ? `, ${muted} silenced or inhibited` : ''}`
        + `${state.filter ? ` matching ${state.filter}` : ''}`;
    clear(list, groups.length ? groups : state.loaded
      ? h('p', {class: 'empty'}, state.filter ? 'No firing alert matches this filter.'
        : 'Nothing is firing.') : null);
  }
  return {update};
}
