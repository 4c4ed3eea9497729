// The operator's view: the node's figures, accounts and their grants, apps with their credentials
// and portal links, and plugins.
import { api, h, field, formValues, when, table, say, fail, reveal } from './lib.js';

const FIGURES_MS = 5000;
const HOUR_MS = 3600 * 1000;

export function operatorView(main) {
  const revealBox = h('div');
  const figures = h('div', { class: 'figures', 'aria-live': 'off' });
  const chart = h('div');
  const accounts = h('div');
  const grants = h('div');
  const apps = h('div');
  const plugins = h('div');
  let timer = 0;
  // Samples of the node's counters, taken while this page is open, for rates and the chart.
  const samples = [];

  main.append(
    h('h1', {}, 'Operator'),
    revealBox,
    h('h2', {}, 'Overview'),
    h('p', { class: 'muted' }, 'From the node\u2019s own metrics, read every 5 seconds; rates are over the samples taken since this page opened (at most the last hour).'),
    figures, chart,
    h('h2', {}, 'Accounts'), accounts, accountForm(),
    grants,
    h('h2', {}, 'Apps'), apps, appForm(),
    h('h2', {}, 'Credentials'), revokeForm(),
    h('h2', {}, 'Plugins'), plugins, uploadForm());

  loadFigures();
  loadAccounts();
  loadApps();
  loadPlugins();
  return () => clearTimeout(timer);

  async function loadFigures() {
    try {
      const m = parseMetrics(await api('GET', '/metrics', undefined, { text: true }));
      const now = Date.now();
      samples.push({ t: now, attempts: m.sum('switchyard_attempts_total'), failed: m.sum('switchyard_attempts_total', (l) => l.outcome !== 'success') });
      while (samples.length && now - samples[0].t > HOUR_MS) samples.shift();
      const first = samples[0];
      const mins = (now - first.t) / 60000;
      const rate = (k) => (mins > 0 ? ((samples[samples.length - 1][k] - first[k]) / mins).toFixed(1) : '\u2013');
      const fig = (label, value) => h('div', { class: 'figure' }, h('b', {}, String(value)), label);
      figures.replaceChildren(
        fig('due now', m.sum('switchyard_deliveries', (l) => l.state === 'due')),
        fig('in flight', m.sum('switchyard_deliveries', (l) => l.state === 'in_flight')),
        fig('scheduled', m.sum('switchyard_deliveries', (l) => l.state === 'scheduled')),
        fig('attempts / min', rate('attempts')),
        fig('failed attempts / min', rate('failed')),
        fig('dead (since start)', m.sum('switchyard_deliveries_total', (l) => l.outcome === 'dead')));
      chart.replaceChildren(sparkline(samples));
    } catch (err) {
      figures.replaceChildren(h('p', { class: 'muted' }, 'Figures unavailable: ' + err.message));
    }
    timer = setTimeout(loadFigures, FIGURES_MS);
  }

  async function loadAccounts() {
    try {
      const page = await api('GET', '/v1/accounts?limit=200');
      accounts.replaceChildren(table([['Account'], ['Name'], ['Made'], ['']], page.data.map((a) => h('tr', {},
        h('td', { class: 'id' }, a.id), h('td', {}, a.name), h('td', {}, when(a.created_at)),
        h('td', {}, h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => showGrants(a) }, 'Grants'),
          h('a', { href: '#/deliveries?account_id=' + encodeURIComponent(a.id) }, 'Deliveries')))))));
    } catch (err) {
      fail(err);
    }
  }

  async function showGrants(a) {
    try {
      const page = await api('GET', `/v1/accounts/${encodeURIComponent(a.id)}/grants?limit=200`);
      const form = h('form', { class: 'inline', onsubmit: grant },
        field('App', { name: 'app_id', required: true }),
        field('Events (comma-separated patterns)', { name: 'events', value: '*', required: true }),
        h('button', { type: 'submit' }, 'Grant'));
      grants.replaceChildren(h('h3', {}, `Grants of ${a.name}`),
        page.data.length ? table([['Grant'], ['App'], ['Events'], ['Made'], ['']], page.data.map((g) => h('tr', {},
          h('td', { class: 'id' }, g.id), h('td', { class: 'id' }, g.app_id), h('td', {}, g.events.join(', ')),
          h('td', {}, when(g.created_at)),
          h('td', {}, g.revoked_at ? ['revoked ', when(g.revoked_at)] : h('button', { type: 'button', onclick: () => revoke(g) }, 'Revoke')))))
          : h('p', { class: 'muted' }, 'No grants.'),
        form);
      grants.querySelector('h3').scrollIntoView();

      async function grant(e) {
        e.preventDefault();
        const v = formValues(form);
        try {
          await api('POST', `/v1/accounts/${encodeURIComponent(a.id)}/grants`, { app_id: v.app_id, events: v.events.split(',').map((x) => x.trim()).filter(Boolean) });
          say('Granted.');
          showGrants(a);
        } catch (err) {
          fail(err);
        }
      }
      async function revoke(g) {
        if (!confirm('Revoke this grant? The app\u2019s subscriptions in the account are disabled.')) return;
        try {
          const r = await api('DELETE', `/v1/accounts/${encodeURIComponent(a.id)}/grants/${encodeURIComponent(g.id)}`);
          say(`Revoked; ${r.disabled_subscriptions.length} subscriptions disabled.`);
          showGrants(a);
        } catch (err) {
          fail(err);
        }
      }
    } catch (err) {
      fail(err);
    }
  }

  function accountForm() {
    const form = h('form', { class: 'inline', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const a = await api('POST', '/v1/accounts', { name: formValues(form).name });
        say(`Made account ${a.id}.`);
        form.reset();
        loadAccounts();
      } catch (err) {
        fail(err);
      }
    } }, field('Name', { name: 'name', required: true }), h('button', { type: 'submit' }, 'New account'));
    return form;
  }

  async function loadApps() {
    try {
      const page = await api('GET', '/v1/apps?limit=200');
      apps.replaceChildren(table([['App'], ['Name'], ['URL'], ['Made'], ['']], page.data.map((a) => h('tr', { 'data-app': a.id },
        h('td', { class: 'id' }, a.id), h('td', {}, a.name), h('td', { class: 'id' }, a.url || ''), h('td', {}, when(a.created_at)),
        h('td', {}, h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => portal(a) }, 'Portal link'),
          h('button', { type: 'button', onclick: () => issue(a) }, 'Issue API key')))))));
    } catch (err) {
      fail(err);
    }
  }

  async function portal(a) {
    try {
      const link = await api('POST', `/v1/apps/${encodeURIComponent(a.id)}/portal-sessions`);
      revealBox.replaceChildren(reveal(`Portal link for ${a.name} (works once, until ${new Date(link.expires_at).toLocaleTimeString()})`, link.url));
      revealBox.scrollIntoView();
    } catch (err) {
      fail(err);
    }
  }

  async function issue(a) {
    try {
      const c = await api('POST', `/v1/apps/${encodeURIComponent(a.id)}/credentials`, { kind: 'api_key' });
      revealBox.replaceChildren(reveal(`API key ${c.id} for ${a.name}`, c.token));
      revealBox.scrollIntoView();
    } catch (err) {
      fail(err);
    }
  }

  function appForm() {
    const form = h('form', { class: 'inline', onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(form);
      try {
        const a = await api('POST', '/v1/apps', v.url ? { name: v.name, url: v.url } : { name: v.name });
        revealBox.replaceChildren(reveal(`Secret of app ${a.id}`, a.secret));
        form.reset();
        loadApps();
      } catch (err) {
        fail(err);
      }
    } }, field('Name', { name: 'name', required: true }), field('Base URL', { name: 'url', type: 'url' }), h('button', { type: 'submit' }, 'New app'));
    return form;
  }

  function revokeForm() {
    const form = h('form', { class: 'inline', onsubmit: async (e) => {
      e.preventDefault();
      const id = formValues(form).id;
      if (!confirm(`Revoke credential ${id}? An access token's subscriptions go with it.`)) return;
      try {
        const r = await api('DELETE', `/v1/credentials/${encodeURIComponent(id)}`);
        say(`Revoked ${r.id}; ${r.removed_subscriptions.length} subscriptions removed.`);
        form.reset();
      } catch (err) {
        fail(err);
      }
    } }, field('Credential id', { name: 'id', required: true }), h('button', { type: 'submit' }, 'Revoke'));
    return h('div', {}, h('p', { class: 'muted' }, 'The API lists no credentials (their ids are shown when issued): revoke one by its id.'), form);
  }

  async function loadPlugins() {
    try {
      const page = await api('GET', '/v1/plugins');
      plugins.replaceChildren(table([['Plugin'], ['Version'], ['Mode'], ['Source'], ['Calls'], ['Errors'], ['Quarantine']], page.data.map((p) => h('tr', {},
        h('td', {}, p.name), h('td', {}, p.version), h('td', {}, p.mode), h('td', {}, p.source),
        h('td', {}, p.stats ? String(p.stats.calls) : ''), h('td', {}, p.stats ? String(p.stats.errors) : ''),
        h('td', {}, p.quarantine ? ['until ', when(p.quarantine.until)] : 'no')))));
    } catch (err) {
      fail(err);
    }
  }

  function uploadForm() {
    const form = h('form', { class: 'inline', onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(form);
      const file = form.querySelector('input[type=file]').files[0];
      if (!file) return;
      try {
        await api('PUT', `/v1/plugins/${encodeURIComponent(v.name)}${v.trusted ? '?trusted=true' : ''}`, file);
        say(`Uploaded ${v.name}.`);
        loadPlugins();
      } catch (err) {
        fail(err);
      }
    } },
    field('Name', { name: 'name', required: true }),
    field('Module (.wasm)', { name: 'wasm', type: 'file', accept: '.wasm,application/wasm', required: true }),
    field('Trusted', { name: 'trusted', type: 'checkbox' }),
    h('button', { type: 'submit' }, 'Upload'));
    return form;
  }
}

// parseMetrics reads Prometheus' text format enough to sum a metric's samples by label.
function parseMetrics(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    rows.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return {
    sum(name, where = () => true) {
      return rows.filter((r) => r.name === name && where(r.labels)).reduce((a, r) => a + r.value, 0);
    },
  };
}

// sparkline draws attempts and failed attempts per sample interval as two lines.
function sparkline(samples) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 600 100');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const deltas = samples.slice(1).map((s, i) => ({ a: s.attempts - samples[i].attempts, f: s.failed - samples[i].failed }));
  svg.setAttribute('aria-label', `Attempts per 5 seconds over the last ${deltas.length} samples: latest ${deltas.length ? deltas[deltas.length - 1].a : 0}, of which failed ${deltas.length ? deltas[deltas.length - 1].f : 0}`);
  if (deltas.length < 2) return svg;
  const max = Math.max(1, ...deltas.map((d) => d.a));
  const line = (key, color) => {
    const p = document.createElementNS(ns, 'polyline');
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', color);
    p.setAttribute('stroke-width', '2');
    p.setAttribute('points', deltas.map((d, i) => `${(i / (deltas.length - 1)) * 600},${98 - (d[key] / max) * 94}`).join(' '));
    svg.appendChild(p);
  };
  line('a', '#0b5cad');
  line('f', '#b42318');
  return svg;
}
