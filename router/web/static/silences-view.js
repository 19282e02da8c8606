/**
 * Silences: the list (active, pending, expired) with an Expire button, and the form that
 * creates one, prefilled from an alert's labels. Checks a form cannot leave to the API
 * (the duration) use amtool's messages; everything else is the API's own error text.
 */

import {api, filterQuery} from './api.js';
import {ago, clear, h, pair, until, when} from './dom.js';

const OPS = [['=', false, true], ['!=', false, false], ['=~', true, true], ['!~', true, false]];
const UNITS = {y: 31536000, w: 604800, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001};

/** Prometheus' duration syntax (`1h30m`), as amtool's --duration takes it; seconds. */
export function parseDuration(text) {
  const t = text.trim();
  const re = /(\d+)(ms|y|w|d|h|m|s)/y;
  let total = 0;
  let m;
  re.lastIndex = 0;
  while (re.lastIndex < t.length && (m = re.exec(t))) total += Number(m[1]) * UNITS[m[2]];
  if (!t || re.lastIndex !== t.length || !m) {
    throw new Error(`not a valid duration string: ${JSON.stringify(t)}`);
  }
  return total;
}

function opText(m) {
  return OPS.find(([, regex, equal]) => m.isRegex === regex && (m.isEqual ?? true) === equal)[0];
}

export function matcherText(matchers) {
  return `{${matchers.map((m) => pair(m.name, m.value, opText(m))).join(', ')}}`;
}

function silenceCard(s, expire) {
  const state = s.status.state;
  return h('article', {class: `silence state-${state}`, 'data-silence': s.id},
    h('header', {class: 'alert-head'},
      h('span', {class: `badge silence-${state}`}, state.toUpperCase()),
      h('span', {class: 'chips'}, s.matchers.map((m) => h('span', {class: 'chip'},
        pair(m.name, m.value, opText(m)))))),
    h('p', {class: 'summary'}, s.comment || h('span', {class: 'dim'}, '(no comment)')),
    h('p', {class: 'meta'}, `by ${s.createdBy} · `,
      state === 'expired' ? `ended ${ago(s.endsAt)}` : state === 'pending'
        ? ['starts ', when(s.startsAt), ` (${until(s.startsAt)}), ends `, when(s.endsAt)]
        : ['ends ', when(s.endsAt), ` (${until(s.endsAt)})`]),
    state !== 'expired' ? h('footer', {class: 'alert-links'},
      h('button', {type: 'button', onclick: () => expire(s)}, 'Expire')) : null);
}

export function mountSilences(root, state) {
  const error = h('p', {class: 'error', role: 'alert'});
  const list = h('div', {class: 'silences'});
  clear(root, h('div', {class: 'toolbar'}, h('h1', {}, 'Silences'),
    h('a', {class: 'button primary', href: '#/silences/new'}, 'New silence')), error, list);

  async function expire(s) {
    if (!window.confirm(`Expire the silence ${matcherText(s.matchers)}?`)) return;
    try {
      await api(`/api/v2/silence/${encodeURIComponent(s.id)}`, {method: 'DELETE'});
      error.textContent = '';
    } catch (err) {
      error.textContent = err.message;
    }
  }

  function update() {
    const all = [...state.silences.values()];
    const sections = [['active', 'Active'], ['pending', 'Pending'], ['expired', 'Expired']]
      .map(([key, title]) => {
        const items = all.filter((s) => s.status.state === key)
          .sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt)).slice(0, 50);
        return items.length ? h('section', {}, h('h2', {}, `${title} (${items.length})`),
          items.map((s) => silenceCard(s, expire))) : null;
      }).filter(Boolean);
    clear(list, sections.length ? sections : h('p', {class: 'empty'}, 'No silences.'));
  }
  return {update};
}

function matcherRow(m, onchange) {
  const op = h('select', {name: 'op', 'aria-label': 'operator'},
    OPS.map(([text]) => h('option', {value: text}, text)));
  op.value = m.op || '=';
  const row = h('div', {class: 'matcher'},
    h('input', {name: 'name', value: m.name || '', placeholder: 'label', 'aria-label': 'label name',
      autocapitalize: 'off', spellcheck: 'false'}),
    op,
    h('input', {name: 'value', value: m.value || '', placeholder: 'value',
      'aria-label': 'label value', autocapitalize: 'off', spellcheck: 'false'}),
    h('button', {type: 'button', class: 'quiet', 'aria-label': 'remove matcher',
      onclick: () => { row.remove(); onchange(); }}, '✕'));
  return row;
}

function readMatchers(box) {
  return [...box.querySelectorAll('.matcher')].map((row) => {
    const [, isRegex, isEqual] = OPS.find(([t]) => t === row.querySelector('select').value);
    return {name: row.querySelector('[name=name]').value.trim(),
      value: row.querySelector('[name=value]').value, isRegex, isEqual};
  });
}

/** `{a="x", b=~"y.*"}` (a notification's silence link, as Alertmanager's UI writes it;
 * values are JSON strings) → matcher rows; [] when the text is not of that form. */
export function parseFilter(text) {
  const out = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*(,|$)/y;
  const body = (text || '').trim().replace(/^\{/, '').replace(/\}$/, '');
  re.lastIndex = 0;
  while (re.lastIndex < body.length) {
    const m = re.exec(body);
    if (!m) return [];
    try {
      out.push({name: m[1], op: m[2], value: JSON.parse(m[3])});
    } catch {
      return [];
    }
  }
  return out;
}

export function mountSilenceForm(root, state, params, navigate) {
  const fingerprint = params.get('fingerprint') || '';
  const alert = state.alerts.get(fingerprint);
  if (fingerprint && !alert && !state.loaded) {
    // Opened from a link before the snapshot arrived: build the form once it has.
    let view = null;
    clear(root, h('p', {}, 'Loading…'));
    return {update() {
      if (!view && state.loaded) view = mountSilenceForm(root, state, params, navigate);
      if (view) view.update();
    }};
  }
  const labels = alert ? alert.labels : {};
  const box = h('div', {class: 'matchers'});
  const preview = h('p', {class: 'hint', 'aria-live': 'polite'});
  const error = h('p', {class: 'error', role: 'alert'});
  let rows = Object.keys(labels).sort().map((name) => ({name, value: labels[name]}));
  if (!rows.length) rows = parseFilter(params.get('filter'));
  for (const m of rows.length ? rows : [{}]) box.append(matcherRow(m, () => showPreview()));
  const field = (label, attrs) => h('label', {}, label, h('input', attrs));
  const form = h('form', {class: 'card silence-form', onsubmit: submit},
    h('h1', {}, alert ? `Silence ${alert.labels.alertname || 'alert'}` : 'New silence'),
    h('fieldset', {}, h('legend', {}, 'Matchers (all must match)'), box,
      h('button', {type: 'button', class: 'quiet', onclick: () => {
        box.append(matcherRow({}, () => showPreview()));
      }}, '+ Add matcher')),
    preview,
    field('Duration', {name: 'duration', value: '2h', required: true,
      placeholder: '2h, 30m, 1d', autocapitalize: 'off'}),
    field('Created by', {name: 'createdBy', required: true, autocomplete: 'username',
      value: localStorage.getItem('alert-router.createdBy') || state.username || ''}),
    field('Comment', {name: 'comment', required: true, placeholder: 'why, and a ticket link'}),
    error,
    h('p', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Create silence'),
      h('a', {class: 'button quiet', href: alert ? `#/alert/${encodeURIComponent(alert.fingerprint)}`
        : '#/silences'}, 'Cancel')));
  let previewTimer = null;
  form.addEventListener('input', () => showPreview());
  clear(root, form);
  showPreview();

  function showPreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const matchers = readMatchers(box).filter((m) => m.name);
      if (!matchers.length) { preview.textContent = ''; return; }
      try {
        const hit = await api(`/api/v2/alerts?${filterQuery(matcherText(matchers))}`);
        preview.textContent = `Affects ${hit.length} firing alert${hit.length === 1 ? '' : 's'} now.`;
      } catch (err) {
        preview.textContent = err.message;
      }
    }, 250);
  }

  async function submit(e) {
    e.preventDefault();
    const data = new FormData(form);
    let seconds;
    try {
      seconds = parseDuration(data.get('duration'));
      if (seconds <= 0) throw new Error('silence duration must be greater than 0');
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    const now = Date.now();
    const body = {
      matchers: readMatchers(box),
      // In the past on purpose: the router starts a new silence at its own "now", so a
      // browser clock a little ahead still gives an active silence, not a pending one.
      startsAt: new Date(now - 60000).toISOString(),
      endsAt: new Date(now + seconds * 1000).toISOString(),
      createdBy: data.get('createdBy'), comment: data.get('comment'),
    };
    try {
      const {silenceID} = await api('/api/v2/silences', {method: 'POST', body});
      localStorage.setItem('alert-router.createdBy', body.createdBy);
      navigate(alert ? `#/alert/${encodeURIComponent(alert.fingerprint)}`
        : `#/silences?created=${encodeURIComponent(silenceID)}`);
    } catch (err) {
      error.textContent = err.message;
    }
  }
  return {update() {}};
}
