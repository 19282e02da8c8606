/**
 * DOM helpers: build elements from data as text nodes (alert text is shown verbatim,
 * never parsed as HTML), format times and labels, map severities to a colour and a word.
 */

/** h('a', {href, class, onclick}, ...children): one element; null/false children skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Only http(s) links are followed: a label or annotation cannot smuggle `javascript:`. */
export function safeUrl(url) {
  return typeof url === 'string' && /^https?:\/\//i.test(url) ? url : null;
}

export function link(url, text) {
  const href = safeUrl(url);
  return href ? h('a', {href, target: '_blank', rel: 'noopener noreferrer'}, text) : null;
}

const SEVERITY = {
  critical: 'critical', page: 'critical', error: 'error', high: 'error',
  warning: 'warning', warn: 'warning', medium: 'warning', info: 'info', low: 'info',
  none: 'info',
};
export const SEVERITY_ORDER = ['critical', 'error', 'warning', 'info', 'unknown'];

/** The severity class of a label value: one of SEVERITY_ORDER. */
export function severityOf(labels) {
  return SEVERITY[String(labels.severity || '').toLowerCase()] || 'unknown';
}

/** A badge that says the severity in words (colour is never the only signal). */
export function severityBadge(labels) {
  const sev = severityOf(labels);
  const text = labels.severity ? String(labels.severity).toUpperCase() : 'NO SEVERITY';
  return h('span', {class: `badge sev-${sev}`}, text);
}

/** `3m`, `2h 5m`, `4d 1h` for a number of seconds. */
export function span(seconds) {
  let s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const parts = [[86400, 'd'], [3600, 'h'], [60, 'm']];
  const out = [];
  for (const [size, unit] of parts) {
    if (s >= size) { out.push(`${Math.floor(s / size)}${unit}`); s %= size; }
    if (out.length === 2) break;
  }
  return out.join(' ');
}

function seconds(iso, now) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : (now - t) / 1000;
}

/** How long since `iso` (`5m`); a time slightly ahead of this browser's clock (skew)
 * counts as now. */
export function since(iso, now = Date.now()) {
  const d = seconds(iso, now);
  return d === null ? '' : span(Math.max(0, d));
}

export function ago(iso, now = Date.now()) {
  const d = seconds(iso, now);
  if (d === null) return '';
  return d < 1 ? 'just now' : `${span(d)} ago`;
}

/** How long until `iso` (`in 1h 59m`), or `now` once it has passed. */
export function until(iso, now = Date.now()) {
  const d = seconds(iso, now);
  if (d === null) return '';
  return d < 0 ? `in ${span(-d)}` : 'now';
}

/** A local date and time, to the second, with the UTC instant in its tooltip. */
export function when(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return h('span', {}, '');
  const text = t.toLocaleString(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  return h('time', {datetime: iso, title: iso}, text);
}

/** `name="value"` with Alertmanager's quoting. */
export function pair(name, value, op = '=') {
  return `${name}${op}${JSON.stringify(String(value))}`;
}

export function labelChips(labels, skip = []) {
  return Object.keys(labels).sort().filter((k) => !skip.includes(k))
    .map((k) => h('span', {class: 'chip'}, pair(k, labels[k])));
}

/** Group labels out of a group key (`<route key>:<group labels>`): after the first ':'
 * that is outside quotes. */
export function groupLabels(key) {
  let quoted = false;
  for (let i = 0; i < key.length; i++) {
    const c = key[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) return key.slice(i + 1);
  }
  return key;
}

/** `{a="1", b="2"}` → [['a', '1'], ['b', '2']] (for chips). */
export function parsePairs(text) {
  const out = [];
  const re = /([^{},=!~\s"]+)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re)) out.push([m[1], JSON.parse(`"${m[2]}"`)]);
  return out;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== false));
  return el;
}
