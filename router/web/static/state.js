/**
 * The page's copy of the router's state: alerts, silences, deliveries and recent events,
 * loaded as a snapshot and then kept current by stream events (in id order, each once).
 *
 * Loading reads the event head first, then the snapshot: an event committed in between is
 * in both, and applying it again is harmless (every event carries its object's whole
 * state); the other order could miss one. Events that arrive while a snapshot loads are
 * held and applied after it, those at or below the head skipped. What only the server can
 * compute (silenced/inhibited state, the matcher filter, delivery rows) is re-read after
 * the events that change it, debounced.
 */

import {api, eventHead, filterQuery} from './api.js';

const ACTIVITY = 100;

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/** Receiver and group of each route an alert reaches, from an /api/v1/alerts item. */
function routesOf(view) {
  const groups = [];
  const channels = {};
  for (const r of view.receivers || []) {
    channels[r.name] = r.channels || [];
    for (const key of r.groupKeys.length ? r.groupKeys : [r.route]) {
      groups.push({receiver: r.name, groupKey: key});
    }
  }
  return {groups, channels};
}

export class State extends EventTarget {
  constructor() {
    super();
    this.alerts = new Map(); // fingerprint → alert
    this.muted = new Map(); // fingerprint → {silencedBy, inhibitedBy, mutedBy}
    this.matching = null; // fingerprints the filter matches (null: no filter)
    this.filter = '';
    this.filterError = '';
    this.silences = new Map();
    this.deliveries = {pending: [], dead: []};
    this.activity = new Map(); // event id → event, newest ACTIVITY kept
    this.cursor = 0; // the last event applied: the stream resumes after it
    this.loaded = false;
    this._held = null; // events that arrived during a snapshot load
    this.refreshMuted = debounce(() => this._loadMuted().catch(() => {}), 100);
    this.refreshDeliveries = debounce(() => this._loadDeliveries().catch(() => {}), 300);
  }

  changed(what) {
    this.dispatchEvent(new CustomEvent('change', {detail: what}));
  }

  /** Snapshot + head. Resolves once the state is complete up to `cursor`. Loads run
   * one after another: each holds back the events that arrive while it runs. */
  load() {
    const run = () => this._load();
    this._loading = (this._loading || Promise.resolve()).then(run, run);
    return this._loading;
  }

  async _load() {
    this._held = [];
    try {
      const head = await eventHead();
      const [alerts, silences, recent] = await Promise.all([
        api('/api/v1/alerts'), api('/api/v2/silences'),
        api(`/api/v1/events?since=${Math.max(0, head - ACTIVITY)}&limit=${ACTIVITY}`),
        this._loadMuted(), this._loadDeliveries()]);
      this.alerts = new Map(alerts.map((a) => [a.fingerprint, {
        fingerprint: a.fingerprint, labels: a.labels, annotations: a.annotations,
        status: a.state, startsAt: a.startsAt, endsAt: a.endsAt,
        generatorURL: a.generatorURL, ...routesOf(a)}]));
      this.silences = new Map(silences.map((s) => [s.id, s]));
      this.activity = new Map();
      for (const e of recent.events) if (e.id <= head) this._remember(e);
      this.cursor = head;
      this.loaded = true;
      const held = this._held;
      this._held = null;
      for (const e of held) this.receive(e);
      this.changed('all');
    } catch (err) {
      // The old state stays: it takes what arrived meanwhile, in order, as if no load ran.
      const held = this._held;
      this._held = null;
      for (const e of held) this.receive(e);
      throw err;
    }
  }

  /** One stream event: applied once, in order (ids at or below the cursor are old). */
  receive(event) {
    if (this._held) {
      this._held.push(event);
      return false;
    }
    if (event.id <= this.cursor) return false;
    this.cursor = event.id;
    this._apply(event);
    this._remember(event);
    this.changed(event.type);
    return true;
  }

  _remember(event) {
    this.activity.set(event.id, event);
    if (this.activity.size > ACTIVITY) this.activity.delete(this.activity.keys().next().value);
  }

  _apply(event) {
    const [kind] = event.type.split('.');
    if (kind === 'alert') this._applyAlert(event.data);
    else if (kind === 'silence') {
      this.silences.set(event.data.id, event.data);
      this.refreshMuted();
    } else if (kind === 'notification') {
      if (event.type === 'notification.sent') this._applySent(event);
      this.refreshDeliveries();
    }
  }

  _applyAlert(d) {
    const old = this.alerts.get(d.fingerprint);
    const alert = {
      fingerprint: d.fingerprint, labels: d.labels, annotations: d.annotations,
      status: d.status, startsAt: d.startsAt, endsAt: d.endsAt, generatorURL: d.generatorURL,
      groups: old ? old.groups : [], channels: old ? old.channels : {},
    };
    if (d.receivers.length === d.groupKeys.length) {
      alert.groups = d.receivers.map((receiver, i) => ({receiver, groupKey: d.groupKeys[i]}));
    } else {
      this._loadRoutes(d.fingerprint);
    }
    this.alerts.set(d.fingerprint, alert);
    this._prune();
    this.refreshMuted();
  }

  /** Resolved alerts leave the page an hour after they ended (at most once a minute:
   * the router forgets them too, without an event). */
  _prune(now = Date.now()) {
    if (now - (this._pruned || 0) < 60000) return;
    this._pruned = now;
    for (const [fp, a] of this.alerts) {
      if (a.status === 'resolved' && now - Date.parse(a.endsAt) > 3600000) this.alerts.delete(fp);
    }
  }

  _applySent(event) {
    const d = event.data;
    for (const [fps, status] of [[d.firing, 'firing'], [d.resolved, 'resolved']]) {
      for (const fp of fps) {
        const alert = this.alerts.get(fp);
        for (const ch of (alert && alert.channels[d.receiver]) || []) {
          if (`${ch.channel}[${ch.index}]` === d.channel) {
            ch.lastNotification = {at: event.time, status};
          }
        }
      }
    }
  }

  /** Receivers and groups of one alert when its event could not pair them (one receiver
   * reached by several routes). Only routing is taken: its state comes from events. */
  async _loadRoutes(fp) {
    const found = await api(`/api/v1/alerts/${encodeURIComponent(fp)}/trace`).catch(() => null);
    const alert = this.alerts.get(fp);
    if (found && found.alert && alert) {
      Object.assign(alert, routesOf(found.alert));
      this.changed('alert.routes');
    }
  }

  async _loadMuted() {
    const filter = this.filter;
    let items;
    try {
      items = await api(`/api/v2/alerts?${filterQuery(filter)}`);
      this.filterError = '';
    } catch (err) {
      if (err.status !== 400) throw err;
      this.filterError = err.message;
      this.matching = new Set();
      this.changed('filter');
      return;
    }
    if (filter !== this.filter) return; // a newer filter is on its way
    this.muted = new Map(items.map((a) => [a.fingerprint, a.status]));
    this.matching = filter ? new Set(this.muted.keys()) : null;
    this.changed('muted');
  }

  async _loadDeliveries() {
    const [pending, dead] = await Promise.all([
      api('/api/v1/deliveries?state=pending'), api('/api/v1/deliveries?state=dead')]);
    this.deliveries = {pending, dead};
    this.changed('deliveries');
  }

  /** Filter alerts with Alertmanager's matcher syntax, evaluated by the router (RE2, the
   * same parser and error texts as Alertmanager's API). */
  setFilter(text) {
    this.filter = text.trim();
    return this._loadMuted();
  }

  /** Firing alerts the filter shows. */
  visibleAlerts() {
    const out = [];
    for (const alert of this.alerts.values()) {
      if (alert.status !== 'firing') continue;
      if (this.matching && !this.matching.has(alert.fingerprint)) continue;
      out.push(alert);
    }
    return out;
  }
}
