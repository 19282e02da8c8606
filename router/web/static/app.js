/**
 * alert-router's web UI: boots the page (snapshot, then the shared live connection),
 * routes `#/...` to a screen, re-renders the shown screen once per frame after changes,
 * and shows the login form whenever an API answers 401.
 */

import {api, login, logout} from './api.js';
import {mountAlerts} from './alerts-view.js';
import {mountActivity, mountDeliveries} from './deliveries-view.js';
import {mountDetail} from './detail-view.js';
import {Live} from './live.js';
import {setupPush} from './push.js';
import {mountSilenceForm, mountSilences} from './silences-view.js';
import {State} from './state.js';

const USER = 'alert-router.user';
const $ = (id) => document.getElementById(id);
const state = new State();
state.username = localStorage.getItem(USER) || '';
let view = null;
let started = false;
// Signing in or out in one tab does it for every tab (they share the cookie).
const session = 'BroadcastChannel' in window ? new BroadcastChannel('alert-router-session')
  : null;

const live = new Live({
  receive: (event) => state.receive(event),
  reset: () => state.load().catch(showError),
  cursor: () => state.cursor,
  status: (s, text, leader) => {
    const el = $('live');
    el.dataset.state = s;
    el.textContent = s === 'live' ? 'live' : text;
    el.title = leader ? 'this tab holds the live connection'
      : 'live through another tab\'s connection';
  },
  unauthorized: async () => {
    try {
      await api('/api/v1/events?since=none&limit=1');
      return false;
    } catch (err) {
      return err.status === 401;
    }
  },
});

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** `#/name/arg?query` → the screen. */
function route() {
  const [path, query] = (location.hash || '#/alerts').slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(query || '');
  const main = $('main');
  if (view && view.unmount) view.unmount();
  const name = parts[0] || 'alerts';
  if (name === 'alert' && parts[1]) view = mountDetail(main, state, decodeURIComponent(parts[1]));
  else if (name === 'silences' && parts[1] === 'new') {
    view = mountSilenceForm(main, state, params, navigate);
  } else if (name === 'silences') view = mountSilences(main, state);
  else if (name === 'deliveries') view = mountDeliveries(main, state);
  else if (name === 'activity') view = mountActivity(main, state);
  else view = mountAlerts(main, state, params, navigate);
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.setAttribute('aria-current', a.dataset.nav === (name === 'alert' ? 'alerts' : name)
      ? 'page' : 'false');
  }
  render();
}

let frame = 0;
function render() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (view) view.update();
    const firing = state.visibleAlerts().length;
    const silences = [...state.silences.values()].filter((s) => s.status.state === 'active');
    $('count-alerts').textContent = state.loaded ? String(firing) : '';
    $('count-silences').textContent = silences.length ? String(silences.length) : '';
    const dead = state.deliveries.dead.length;
    $('count-dead').textContent = dead ? String(dead) : '';
    $('count-dead').title = dead ? `${dead} dead letter${dead === 1 ? '' : 's'}` : '';
    $('count-dead').classList.toggle('alarm', dead > 0);
    document.title = firing ? `(${firing}) alert-router` : 'alert-router';
  });
}

function showError(err) {
  if (err.status === 401) return;
  const main = $('main');
  main.prepend(Object.assign(document.createElement('p'),
    {className: 'error banner', textContent: err.message}));
}

function showLogin(show) {
  document.body.classList.toggle('signed-out', show);
  if (show) Object.assign($('live'), {textContent: 'signed out'}).dataset.state = 'offline';
  $('login').hidden = !show;
  $('main').hidden = show;
  $('logout').hidden = show || !state.username;
  if (show) $('login-form').elements.username.focus();
}

async function start() {
  try {
    await state.load();
  } catch (err) {
    if (err.status === 401) showLogin(true);
    else showError(err);
    return;
  }
  showLogin(false);
  if (!started) {
    started = true;
    live.start();
    setupPush($('push'), (text) => showError(new Error(text)));
  } else {
    live.reconnect();
  }
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  try {
    const answer = await login(form.elements.username.value, form.elements.password.value);
    state.username = answer.username || '';
    if (state.username) localStorage.setItem(USER, state.username);
    form.reset();
    $('login-error').textContent = '';
    if (session) session.postMessage('in');
    await start();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', async () => {
  await logout().catch(() => {});
  localStorage.removeItem(USER);
  state.username = '';
  if (session) session.postMessage('out');
  showLogin(true);
});

if (session) {
  session.onmessage = (m) => {
    state.username = localStorage.getItem(USER) || '';
    if (m.data === 'in') start();
    else showLogin(true);
  };
}

window.addEventListener('ar-unauthorized', () => showLogin(true));
window.addEventListener('hashchange', route);
state.addEventListener('change', render);
setInterval(render, 15000); // ages ("firing for 5m") move on
route();
start();
