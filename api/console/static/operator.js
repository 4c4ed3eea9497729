// The operator's view: the node's figures, accounts and their grants, apps with their credentials
// and portal links, and plugins.
import { api, h, field, formValues, when, table, say, fail, reveal } from './lib.js';

const FIGURES_MS = 10000;

export function operatorView(main) {
  const revealBox = h('div');
  const figures = h('div', { class: 'figures', 'aria-live': 'off' });
  const chart = h('div');
  const accounts = h('div');
  const grants = h('div');
  const apps = h('div');
  const plugins = h('div');
  const credentials = h('div');
  let timer = 0;

  main.append(
    h('h1', {}, 'Operator'),
    revealBox,
    h('h2', {}, 'Overview'),
    h('p', { class: 'muted' }, 'The queue now, and this node\u2019s own figures of the last hour (GET /v1/stats), read every 10 seconds.'),
    figures, chart,
    h('h2', {}, 'Accounts'), accounts, accountForm(),
    grants,
    h('h2', {}, 'Apps'), apps, appForm(),
    credentials,
    h('h2', {}, 'Plugins'), plugins, uploadForm());

  loadFigures();
  loadAccounts();
  loadApps();
  loadPlugins();
  // stopped: left while a read was out (see deliveries.js): no answer drawn, no next read.
  let stopped = false;
  return () => { stopped = true; clearTimeout(timer); };

  async function loadFigures() {
    try {
      const st = await api('GET', '/v1/stats');
      if (stopped) return;
      const hour = st.minutes.reduce((a, m) => {
        for (const k of ['attempts', 'failed_attempts', 'succeeded', 'failed', 'dead', 'published']) a[k] += m[k];
        return a;
      }, { attempts: 0, failed_attempts: 0, succeeded: 0, failed: 0, dead: 0, published: 0 });
      const fig = (label, value) => h('div', { class: 'figure' }, h('b', {}, String(value)), label);
      figures.replaceChildren(
        fig('due now', st.queue.due),
        fig('in flight', st.queue.in_flight),
        fig('scheduled', st.queue.scheduled),
        fig('attempts / min (hour)', (hour.attempts / 60).toFixed(1)),
        fig('failed attempts (hour)', hour.failed_attempts),
        fig('dead (hour)', hour.dead),
        fig('events published (hour)', hour.published));
      chart.replaceChildren(barChart(st.minutes), queueChart(st.minutes));
    } catch (err) {
      if (stopped) return;
      figures.replaceChildren(h('p', { class: 'muted' }, 'Figures unavailable: ' + err.message));
    }
    timer = setTimeout(loadFigures, FIGURES_MS);
  }

  async function loadAccounts() {
    try {
      const page = await api('GET', '/v1/accounts?limit=200');
      accounts.replaceChildren(table([['Account'], ['Name'], ['Made'], ['']], page.data.map((a) => h('tr', { 'data-account': a.id },
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
        page.data.length ? table([['Grant'], ['App'], ['Events'], ['Made'], ['']], page.data.map((g) => h('tr', { 'data-grant': g.id },
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
          h('button', { type: 'button', onclick: () => showCredentials(a) }, 'Credentials'),
          h('button', { type: 'button', onclick: () => issue(a) }, 'Issue API key'),
          h('button', { type: 'button', class: 'end-portal', onclick: () => endPortal(a) }, 'End portal sessions')))))));
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

  async function endPortal(a) {
    if (!confirm(`End every portal link and session of ${a.name}? Pages open through them are signed out.`)) return;
    try {
      const r = await api('DELETE', `/v1/apps/${encodeURIComponent(a.id)}/portal-sessions`);
      say(`Ended ${r.ended} portal links and sessions of ${a.name}.`);
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

  async function showCredentials(a) {
    try {
      const page = await api('GET', `/v1/apps/${encodeURIComponent(a.id)}/credentials?limit=200`);
      credentials.replaceChildren(h('h3', { id: 'credentials' }, `Credentials of ${a.name}`),
        page.data.length ? table([['Credential'], ['Kind'], ['Account'], ['Scopes'], ['Made'], ['']], page.data.map((c) => h('tr', { 'data-credential': c.id },
          h('td', { class: 'id' }, c.id, c.client_id ? h('div', { class: 'muted' }, 'client_id ', c.client_id) : null),
          h('td', {}, c.kind, c.primary ? ' (primary)' : ''),
          h('td', { class: 'id' }, c.account_id || (c.all_accounts ? 'all accounts' : 'any that granted the app')),
          h('td', {}, (c.scopes || []).join(', ')),
          h('td', {}, when(c.created_at)),
          h('td', {}, c.revoked_at ? ['revoked ', when(c.revoked_at)] : h('button', { type: 'button', onclick: () => revoke(c) }, 'Revoke')))))
          : h('p', { class: 'muted' }, 'No credentials.'));
      credentials.scrollIntoView();
    } catch (err) {
      fail(err);
    }

    async function revoke(c) {
      if (!confirm(`Revoke credential ${c.id}? An access token's subscriptions go with it.`)) return;
      try {
        const r = await api('DELETE', `/v1/credentials/${encodeURIComponent(c.id)}`);
        say(`Revoked ${r.id}; ${r.removed_subscriptions.length} subscriptions removed.`);
        showCredentials(a);
      } catch (err) {
        fail(err);
      }
    }
  }

  async function loadPlugins() {
    try {
      const page = await api('GET', '/v1/plugins');
      plugins.replaceChildren(table([['Plugin'], ['Version'], ['Mode'], ['Source'], ['Calls'], ['Errors'], ['Quarantine']], page.data.map((p) => h('tr', { 'data-plugin': p.name },
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

// barChart draws attempts per minute over the hour, the failed part of each bar in red, with a
// text alternative for screen readers.
function barChart(minutes) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 600 100');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const last = minutes[minutes.length - 1];
  svg.setAttribute('aria-label', `Attempts per minute over the last hour; this minute ${last.attempts}, of which ${last.failed_attempts} failed`);
  const max = Math.max(1, ...minutes.map((m) => m.attempts));
  const w = 600 / minutes.length;
  const bar = (i, from, height, color) => {
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(i * w + 1));
    r.setAttribute('width', String(w - 2));
    r.setAttribute('y', String(100 - from - height));
    r.setAttribute('height', String(height));
    r.setAttribute('fill', color);
    svg.appendChild(r);
  };
  minutes.forEach((m, i) => {
    const ok = ((m.attempts - m.failed_attempts) / max) * 96;
    const bad = (m.failed_attempts / max) * 96;
    bar(i, 0, ok, '#0b5cad');
    bar(i, ok, bad, '#b42318');
  });
  return h('figure', {}, svg, h('figcaption', { class: 'muted' }, `Attempts per minute, the last 60 minutes (blue: succeeded, red: failed); busiest minute: ${max}.`));
}

// queueChart draws the deliveries due and in flight as this node read them each minute of the
// hour: a line per series, broken where a minute has no reading (the node was not running), and a
// dot where a reading stands alone, so that the first minute after a start shows too.
function queueChart(minutes) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart queue');
  svg.setAttribute('viewBox', '0 0 600 100');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const last = minutes[minutes.length - 1];
  const now = (v) => (v === null || v === undefined ? 'not read' : String(v));
  svg.setAttribute('aria-label', `Deliveries due and in flight over the last hour; now ${now(last.due)} due, ${now(last.in_flight)} in flight`);
  const max = Math.max(1, ...minutes.flatMap((m) => [m.due ?? 0, m.in_flight ?? 0]));
  const w = 600 / minutes.length;
  const x = (i) => i * w + w / 2;
  const y = (v) => 98 - (v / max) * 94;
  const series = (key, color) => {
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        const c = document.createElementNS(ns, 'circle');
        c.setAttribute('cx', String(run[0][0]));
        c.setAttribute('cy', String(run[0][1]));
        c.setAttribute('r', '2.5');
        c.setAttribute('fill', color);
        c.dataset.series = key;
        svg.appendChild(c);
      } else if (run.length > 1) {
        const l = document.createElementNS(ns, 'polyline');
        l.setAttribute('points', run.map((p) => p.join(',')).join(' '));
        l.setAttribute('fill', 'none');
        l.setAttribute('stroke', color);
        l.setAttribute('stroke-width', '2');
        l.setAttribute('vector-effect', 'non-scaling-stroke');
        l.dataset.series = key;
        svg.appendChild(l);
      }
      run = [];
    };
    minutes.forEach((m, i) => {
      if (m[key] === null || m[key] === undefined) flush();
      else run.push([x(i), y(m[key])]);
    });
    flush();
  };
  series('due', '#b54708');
  series('in_flight', '#0b5cad');
  return h('figure', {}, svg, h('figcaption', { class: 'muted' },
    `Deliveries due (orange) and in flight (blue), read each minute, the last 60 minutes; most: ${max}.`));
}
