/**
 * Calls to the router's HTTP APIs with the session cookie. An error becomes an ApiError
 * carrying the API's own text (Alertmanager's silence errors are a JSON string, this
 * project's errors `{error, detail, path}`); a 401 also tells the page to show its login.
 */

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function errorText(status, data) {
  if (typeof data === 'string' && data) return data;
  if (data && typeof data.detail === 'string') return data.detail;
  if (data && typeof data.message === 'string') return data.message; // Alertmanager's 422
  return `HTTP ${status}`;
}

/** JSON in and out; throws ApiError. Writes carry the page's Origin (the browser adds it),
 * which the router requires of cookie-authenticated writes. */
export async function api(path, {method = 'GET', body} = {}) {
  // The marker header: the router then challenges a 401 with `Session`, not `Basic`,
  // which would stop this fetch behind the browser's own password dialog.
  const init = {method, credentials: 'same-origin',
    headers: {Accept: 'application/json', 'X-Alert-Router-UI': '1'}};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'the router cannot be reached');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!resp.ok) {
    if (resp.status === 401) window.dispatchEvent(new Event('ar-unauthorized'));
    throw new ApiError(resp.status, errorText(resp.status, data));
  }
  return data;
}

/** The newest event id: a snapshot read after it, then a stream from it, leaves no gap. */
export async function eventHead() {
  return (await api('/api/v1/events?since=none&limit=1')).head;
}

/** The filter box's text (`{a="1", b=~"x,y"}` or `a=1, b=2`) as one `filter` parameter per
 * matcher: Alertmanager's API takes exactly one matcher in each. */
export function filterQuery(filter) {
  return splitMatchers(filter || '').map((m) => `filter=${encodeURIComponent(m)}`).join('&');
}

function splitMatchers(text) {
  let body = text.trim();
  if (body.startsWith('{') && body.endsWith('}')) body = body.slice(1, -1);
  const out = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quoted && c === '\\') { // an escape inside quotes: keep it and the next character
      current += c + (body[i + 1] || '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      if (current.trim()) out.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

export function login(username, password) {
  return api('/api/v1/session', {method: 'POST', body: {username, password}});
}

export function logout() {
  return api('/api/v1/session', {method: 'DELETE'});
}
