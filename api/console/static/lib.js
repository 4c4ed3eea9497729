// What every view shares: the session, the API client and a DOM builder. The DOM is built with
// textContent only, never innerHTML, so nothing a tenant sent (an event's data, a receiver's
// answer) can become markup in the operator's page.

const KEY = 'switchyard.console';

// The session lives in sessionStorage: it ends with the tab, and never goes in a URL or a log.
export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
  },
  set(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// onUnauthorized is called when the server refuses the session's token (revoked, expired).
export let onUnauthorized = () => {};
export function setOnUnauthorized(f) { onUnauthorized = f; }

// api calls the native API with the session's token and answers the decoded JSON body; an error
// answer throws an APIError with the server's message.
export async function api(method, path, body, opts = {}) {
  const s = session.get();
  const headers = {};
  if (s && !opts.anonymous) headers.Authorization = 'Bearer ' + s.token;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers['Content-Type'] = 'application/wasm';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
  const text = await resp.text();
  if (!resp.ok) {
    let code = 'error', message = `${resp.status} ${resp.statusText}`;
    try {
      const e = JSON.parse(text).error;
      if (e) { code = e.code; message = e.message; }
    } catch { /* not JSON: keep the status line */ }
    if (resp.status === 401 && s && !opts.anonymous) onUnauthorized(message);
    throw new APIError(resp.status, code, message);
  }
  if (opts.text) return text;
  return text ? JSON.parse(text) : null;
}

// h builds an element: h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child, [more]).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

let fieldSeq = 0;

// field is a labelled input: the label wraps the control, so screen readers and clicks agree.
export function field(label, props = {}, opts = {}) {
  const id = 'f' + (++fieldSeq);
  let control;
  if (opts.options) {
    control = h('select', { id, ...props }, opts.options.map(([value, text]) =>
      h('option', { value, selected: String(props.value ?? '') === value ? true : undefined }, text)));
  } else if (opts.textarea) {
    control = h('textarea', { id, rows: 4, ...props });
  } else {
    control = h('input', { id, type: 'text', ...props });
  }
  return h('label', { for: id, class: props.type === 'checkbox' ? 'check' : undefined }, label, control);
}

export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  }
  return out;
}

// when formats a time for people, keeping the exact one in a tooltip.
export function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return h('time', { datetime: t, title: t }, d.toLocaleString());
}

export function stateBadge(state) {
  return h('span', { class: 'state state-' + state }, state.replace('_', ' '));
}

export function table(headers, rows, opts = {}) {
  return h('div', { class: 'table' }, h('table', {},
    opts.caption ? h('caption', { class: 'muted' }, opts.caption) : null,
    h('thead', {}, h('tr', {}, headers.map(([text, cls]) => h('th', { scope: 'col', class: cls }, text)))),
    h('tbody', {}, rows)));
}

const statusEl = () => document.getElementById('status');
const alertEl = () => document.getElementById('alert');

export function say(msg) {
  alertEl().textContent = '';
  statusEl().textContent = msg;
}

export function fail(err) {
  statusEl().textContent = '';
  alertEl().textContent = err instanceof Error ? err.message : String(err);
}

export function clearMessages() {
  statusEl().textContent = '';
  alertEl().textContent = '';
}

// reveal shows a secret the server shows only once, with a warning that it will not be shown again.
export function reveal(what, value) {
  return h('div', { class: 'reveal', role: 'group', 'aria-label': what },
    h('p', {}, h('strong', {}, what + ': '), 'copy it now; it is shown only once.'),
    h('code', { 'data-secret': '' }, value),
    ' ',
    h('button', { type: 'button', onclick: (e) => e.target.closest('.reveal').remove() }, 'Done, hide it'));
}

// toRFC3339 turns a datetime-local value (the user's local time) into RFC 3339, or ''.
export function toRFC3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString();
}
