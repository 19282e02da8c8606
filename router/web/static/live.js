/**
 * One live connection per browser, however many tabs: the tabs elect a leader with the
 * Web Locks API; only the leader holds a WebSocket to /api/v1/stream/ws and it relays
 * every event to the other tabs over a BroadcastChannel. When the leader tab closes, its
 * lock is released and the next tab takes over, resuming from its own cursor
 * (`?since=<last applied id>`), so no event is missed or shown twice.
 *
 * A WebSocket rather than SSE because HTTP/1.1 browsers open at most six connections per
 * origin and a seventh EventSource hangs; WebSockets do not count against that limit, so
 * even a browser without Web Locks (each tab then leads itself) keeps working.
 */

const NAME = 'alert-router-live';
const BACKOFF = [0.5, 1, 2, 5, 10, 20]; // seconds, with jitter

export class Live {
  /** hooks: receive(event), reset() → Promise, cursor() → id,
   * status(state, text), unauthorized() → Promise<bool> (true: the session is gone). */
  constructor(hooks) {
    this.hooks = hooks;
    this.leader = false;
    this.ws = null;
    this.timer = null;
    this.failures = 0;
    this.state = 'connecting';
    this.channel = 'BroadcastChannel' in window ? new BroadcastChannel(NAME) : null;
    if (this.channel) this.channel.onmessage = (m) => this._fromLeader(m.data);
  }

  /** Call after the first snapshot has loaded: the stream starts at its cursor. */
  start() {
    if (navigator.locks && this.channel) {
      this._post({kind: 'hello'});
      navigator.locks.request(NAME, () => this._lead());
    } else {
      this._lead();
    }
  }

  /** Holds the lock for the rest of the page's life. */
  _lead() {
    this.leader = true;
    this._connect();
    return new Promise(() => {});
  }

  _connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const since = this.hooks.cursor();
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/stream/ws?since=${since}`);
    this.ws = ws;
    let opened = false;
    ws.onmessage = (m) => {
      const event = JSON.parse(m.data);
      if (event.type === 'open') {
        opened = true;
        this.failures = 0;
        this._status('live');
      } else if (event.type === 'reset') {
        this._post({kind: 'reset'});
        this.hooks.reset();
      } else {
        // Relayed even when this tab holds it back (a snapshot is loading here): the
        // other tabs apply each id once, whatever they were sent.
        this.hooks.receive(event);
        this._post({kind: 'event', event});
      }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._retry(opened, e.code);
    };
  }

  async _retry(opened, code) {
    this.failures = opened ? 0 : this.failures + 1;
    // The handshake never succeeded: the session may have ended (a 401 cannot be read
    // from a WebSocket), so ask an API; the page then shows its login form.
    if (!opened && this.failures >= 2 && await this.hooks.unauthorized()) {
      this._status('offline', 'signed out');
      return;
    }
    const base = code === 1012 ? 0.5 : BACKOFF[Math.min(this.failures, BACKOFF.length - 1)];
    const delay = base * (0.75 + Math.random() / 2);
    this._status('reconnecting', `reconnecting in ${Math.ceil(delay)}s`);
    this.timer = setTimeout(() => {
      this.timer = null;
      this._connect();
    }, delay * 1000);
  }

  /** After signing in again: connect now. */
  reconnect() {
    if (!this.leader || this.ws) return;
    clearTimeout(this.timer);
    this.timer = null;
    this._connect();
  }

  _status(state, text = state) {
    this.state = state;
    this.text = text;
    this.hooks.status(state, text, this.leader);
    this._post({kind: 'status', state, text});
  }

  _post(message) {
    if (this.channel) this.channel.postMessage(message);
  }

  _fromLeader(message) {
    if (this.leader) {
      if (message.kind === 'hello') this._post({kind: 'status', state: this.state, text: this.text});
      return;
    }
    if (message.kind === 'event') this.hooks.receive(message.event);
    else if (message.kind === 'reset') this.hooks.reset();
    else if (message.kind === 'status') this.hooks.status(message.state, message.text, false);
  }
}
