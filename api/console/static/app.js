// The console's entry point: sign-in (a token, or a portal link's code), the router and the nav.
import { api, session, h, field, fail, clearMessages, setOnUnauthorized, say } from './lib.js';
import { deliveriesView, deliveryView } from './deliveries.js';
import { subscriptionsView } from './subscriptions.js';
import { operatorView } from './operator.js';

const main = document.getElementById('main');
// stop ends what the current view runs in the background (polling); each view returns its own.
let stop = () => {};

setOnUnauthorized((message) => {
  session.clear();
  route();
  fail('Signed out: ' + message);
});

document.getElementById('signout').addEventListener('click', () => {
  session.clear();
  location.hash = '';
  route();
  say('Signed out.');
});

window.addEventListener('hashchange', () => { clearMessages(); route(); });

start();

async function start() {
  // A portal link carries its code in the fragment. Take it out of the address bar (and so out
  // of the history) before anything else, then trade it for a session.
  const m = location.hash.match(/^#portal=([^&]+)$/);
  if (m) {
    history.replaceState(null, '', location.pathname + location.search);
    session.clear();
    try {
      const s = await api('POST', '/v1/portal/exchange', { code: decodeURIComponent(m[1]) }, { anonymous: true });
      session.set({ token: s.token, role: 'app', label: s.app_name, appID: s.app_id, portal: true });
      location.hash = '#/deliveries';
    } catch (err) {
      renderSignIn();
      fail('This portal link cannot be used: ' + err.message);
      return;
    }
  }
  route();
}

function route() {
  stop();
  stop = () => {};
  const s = session.get();
  const nav = document.getElementById('nav');
  if (!s) {
    nav.hidden = true;
    renderSignIn();
    return;
  }
  nav.hidden = false;
  for (const a of nav.querySelectorAll('[data-admin]')) a.hidden = s.role !== 'admin';
  // A portal session is the platform's page for its integrator: no way out to sign in as another.
  document.getElementById('signout').hidden = !!s.portal;
  document.getElementById('who').textContent = s.role === 'admin' ? 'Operator' : 'App: ' + (s.label || 'signed in with its credential');

  const hash = location.hash || '#/deliveries';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  for (const a of nav.querySelectorAll('a')) {
    a.toggleAttribute('aria-current', path.startsWith(a.getAttribute('href').slice(1)));
    if (a.hasAttribute('aria-current')) a.setAttribute('aria-current', 'page');
  }
  main.replaceChildren();
  let m;
  if ((m = path.match(/^\/deliveries\/([^/]+)$/))) stop = deliveryView(main, decodeURIComponent(m[1]), s);
  else if (path === '/subscriptions') stop = subscriptionsView(main, s);
  else if (path === '/operator' && s.role === 'admin') stop = operatorView(main, s);
  else stop = deliveriesView(main, params, s);
  const title = main.querySelector('h1');
  document.title = (title ? title.textContent + ' · ' : '') + 'Switchyard console';
  main.focus();
}

function renderSignIn() {
  main.replaceChildren();
  // POST, should anything submit the form without this script's handler: a token never goes in
  // a URL.
  const form = h('form', { class: 'signin', method: 'post', onsubmit: signIn },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'With the admin token, or with an app\u2019s API key or access token. It is kept in this tab only, until you sign out or close it.'),
    field('Admin token or app credential', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' }),
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  main.appendChild(form);
  document.title = 'Sign in · Switchyard console';
  form.querySelector('input').focus();

  async function signIn(e) {
    e.preventDefault();
    const tokenInput = form.querySelector('input[name=token]');
    const token = tokenInput.value.trim();
    if (!token) return;
    session.set({ token, role: 'unknown' });
    // The operator's routes tell the admin token from an app's credential: 200 or 403.
    try {
      await api('GET', '/v1/accounts?limit=1');
      session.set({ token, role: 'admin' });
    } catch (err) {
      if (err.status !== 403) {
        session.clear();
        tokenInput.value = '';
        fail(err.status === 401 ? 'That token is not valid.' : err.message);
        return;
      }
      session.set({ token, role: 'app' });
    }
    tokenInput.value = '';
    clearMessages();
    location.hash = '#/deliveries';
    route();
  }
}
