// Deliveries: the filtered list with live updates, and one delivery's page with its attempts on a
// timeline.
import { api, h, field, formValues, when, stateBadge, table, say, fail, toRFC3339 } from './lib.js';

const POLL_MS = 3000;
const PAGE = 50;
const STATES = [['', 'any'], ['pending', 'pending'], ['in_flight', 'in flight'], ['succeeded', 'succeeded'], ['failed', 'failed'], ['dead', 'dead']];
const FILTERS = ['status', 'subscription_id', 'account_id', 'type', 'since', 'until'];

export function deliveriesView(main, params, s) {
  const filters = {};
  for (const k of FILTERS) if (params.get(k)) filters[k] = params.get(k);
  // A page size in the address (#/deliveries?limit=10) is kept, for links and for tests.
  const pageSize = /^\d+$/.test(params.get('limit') || '') ? params.get('limit') : String(PAGE);
  let items = [];
  let next = '';
  let timer = 0;
  let live = true;
  // stopped: the view was left (or the session ended) while a request was out; its answer is
  // dropped and polling does not start again, or the list would poll on without a token and its
  // errors would replace the reason the page signed out.
  let stopped = false;

  const localOf = (t) => (t ? toLocalInput(t) : '');
  const form = h('form', { class: 'inline', 'aria-label': 'Filter deliveries', onsubmit: applyFilters },
    field('Status', { name: 'status', value: filters.status || '' }, { options: STATES }),
    field('Subscription', { name: 'subscription_id', value: filters.subscription_id || '', placeholder: 'sub_...' }),
    field('Account', { name: 'account_id', value: filters.account_id || '' }),
    field('Event type', { name: 'type', value: filters.type || '', placeholder: 'client.create' }),
    field('Made from', { name: 'since', type: 'datetime-local', step: 1, value: localOf(filters.since) }),
    field('Made before', { name: 'until', type: 'datetime-local', step: 1, value: localOf(filters.until) }),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    h('button', { type: 'button', onclick: () => { location.hash = '#/deliveries'; } }, 'Clear'));
  const liveBox = field('Live updates', { type: 'checkbox', name: 'live', checked: true, onchange: (e) => { live = e.target.checked; schedule(); } });
  const tbody = h('tbody');
  const more = h('button', { type: 'button', id: 'more', onclick: loadMore, hidden: true }, 'Load older deliveries');
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });

  main.append(
    h('h1', {}, 'Deliveries'),
    form,
    h('p', {}, liveBox),
    count,
    h('div', { class: 'table' }, h('table', { id: 'deliveries' },
      h('caption', { class: 'muted' }, 'Newest first'),
      h('thead', {}, h('tr', {}, [['Delivery'], ['State'], ['Attempts'], ['Last answer'], ['Subscription', 'hide-narrow'], ['Made'], ['Next attempt', 'hide-narrow']]
        .map(([t, c]) => h('th', { scope: 'col', class: c }, t)))),
      tbody)),
    h('p', {}, more),
    bulkRetryForm(filters),
    replayForm(filters));

  load();
  return () => { stopped = true; clearTimeout(timer); };

  function applyFilters(e) {
    e.preventDefault();
    const v = formValues(form);
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      const val = k === 'since' || k === 'until' ? toRFC3339(v[k]) : v[k];
      if (val) q.set(k, val);
    }
    location.hash = '#/deliveries' + (q.toString() ? '?' + q : '');
  }

  function query(before) {
    const q = new URLSearchParams({ ...filters, limit: pageSize });
    if (before) q.set('before', before);
    return '/v1/deliveries?' + q;
  }

  async function load() {
    try {
      const page = await api('GET', query(''));
      if (stopped) return;
      items = page.data;
      next = page.next || '';
      render();
    } catch (err) {
      if (stopped) return;
      fail(err);
    }
    schedule();
  }

  async function loadMore() {
    try {
      const page = await api('GET', query(next));
      items = items.concat(page.data);
      next = page.next || '';
      render();
    } catch (err) {
      fail(err);
    }
  }

  // refresh polls the newest page: new deliveries go on top, those shown already are updated.
  async function refresh() {
    try {
      const page = await api('GET', query(''));
      if (stopped) return;
      const fresh = new Map(page.data.map((d) => [d.id, d]));
      const known = new Set(items.map((d) => d.id));
      items = page.data.filter((d) => !known.has(d.id)).concat(items.map((d) => fresh.get(d.id) || d));
      if (!items.length) next = page.next || '';
      render();
    } catch (err) {
      if (stopped) return;
      fail(err);
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (live && !stopped) timer = setTimeout(refresh, POLL_MS);
  }

  // render keeps the rows that did not change, so that polling neither moves the keyboard's focus
  // nor pulls a link from under a pointer.
  function render() {
    count.textContent = items.length ? `${items.length} shown${next ? ', more below' : ''}.` : 'No deliveries match.';
    const old = new Map([...tbody.children].map((tr) => [tr.dataset.delivery, tr]));
    const rows = items.map((d) => {
      const sig = [d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at].join('|');
      const tr = old.get(d.id);
      if (tr && tr.dataset.sig === sig) return tr;
      return h('tr', { 'data-delivery': d.id, 'data-sig': sig },
        h('td', { class: 'id' }, h('a', { href: '#/deliveries/' + encodeURIComponent(d.id) }, d.id)),
        h('td', {}, stateBadge(d.state)),
        h('td', {}, String(d.attempts)),
        h('td', {}, d.last_status ? String(d.last_status) : (d.last_error ? 'error' : '')),
        h('td', { class: 'id hide-narrow' }, h('a', { href: '#/deliveries?subscription_id=' + encodeURIComponent(d.subscription_id) }, d.subscription_id)),
        h('td', {}, when(d.created_at)),
        h('td', { class: 'hide-narrow' }, d.state === 'pending' ? when(d.next_attempt_at) : ''));
    });
    rows.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    while (tbody.children.length > rows.length) tbody.lastElementChild.remove();
    more.hidden = !next;
  }
}

function bulkRetryForm(filters) {
  const form = h('form', { class: 'inline', onsubmit: submit },
    field('Subscription (empty: all yours)', { name: 'subscription_id', value: filters.subscription_id || '' }),
    field('State', { name: 'status', value: '' }, { options: [['', 'failed and dead'], ['failed', 'failed'], ['dead', 'dead'], ['pending', 'pending (send now)']] }),
    field('Made from', { name: 'since', type: 'datetime-local', step: 1 }),
    field('Made before', { name: 'until', type: 'datetime-local', step: 1 }),
    h('button', { type: 'submit' }, 'Retry these'));
  return h('fieldset', {}, h('legend', {}, 'Retry in bulk'),
    h('p', { class: 'muted' }, 'Queues again up to 1000 deliveries per press, oldest first.'), form);

  async function submit(e) {
    e.preventDefault();
    const v = formValues(form);
    const body = {};
    if (v.subscription_id) body.subscription_id = v.subscription_id;
    if (v.status) body.status = v.status;
    if (v.since) body.since = toRFC3339(v.since);
    if (v.until) body.until = toRFC3339(v.until);
    try {
      const r = await api('POST', '/v1/deliveries/retry', body);
      say(`${r.retried} deliveries queued again${r.retried === r.limit ? ' (the most one press takes: press again for more)' : ''}.`);
    } catch (err) {
      fail(err);
    }
  }
}

function replayForm(filters) {
  const form = h('form', { class: 'inline', onsubmit: submit },
    field('Subscription', { name: 'subscription_id', value: filters.subscription_id || '', required: true }),
    field('Events since', { name: 'since', type: 'datetime-local', step: 1, required: true }),
    h('button', { type: 'submit' }, 'Replay'));
  return h('fieldset', {}, h('legend', {}, 'Replay a subscription'),
    h('p', { class: 'muted' }, 'Sends the subscription\u2019s events since then again, as new deliveries.'), form);

  async function submit(e) {
    e.preventDefault();
    const v = formValues(form);
    try {
      const r = await api('POST', `/v1/subscriptions/${encodeURIComponent(v.subscription_id)}/replay`, { since: toRFC3339(v.since) });
      say(`${r.replayed} events replayed.`);
    } catch (err) {
      fail(err);
    }
  }
}

export function deliveryView(main, id, s) {
  let timer = 0;
  let stopped = false;
  const head = h('div');
  const eventBox = h('div');
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Attempts, first to last' });
  const retryButton = h('button', { type: 'button', class: 'primary', id: 'retry', onclick: retry }, 'Retry now');
  const skipButton = h('button', { type: 'button', id: 'skip', onclick: skip }, 'Skip');
  const actions = h('div', { class: 'actions' }, retryButton, skipButton);
  main.append(
    h('p', {}, h('a', { href: '#/deliveries' }, '\u2190 All deliveries')),
    h('h1', {}, 'Delivery ', h('code', {}, id)),
    head, actions,
    h('h2', {}, 'Event'), eventBox,
    h('h2', { id: 'attempts' }, 'Attempts'), timeline);
  let eventShown = '';

  load();
  return () => { stopped = true; clearTimeout(timer); };

  async function load() {
    try {
      const d = await api('GET', '/v1/deliveries/' + encodeURIComponent(id));
      if (stopped) return;
      render(d);
      if (d.event_id && eventShown !== d.event_id) {
        eventShown = d.event_id;
        showEvent(d);
      }
    } catch (err) {
      if (!stopped) fail(err);
    }
    if (!stopped) timer = setTimeout(load, POLL_MS);
  }

  function render(d) {
    // What the API allows in each state: retry a failed, dead or waiting one; skip a dead or
    // waiting one.
    retryButton.disabled = !['failed', 'dead', 'pending'].includes(d.state);
    skipButton.disabled = !['dead', 'pending'].includes(d.state);
    head.replaceChildren(h('dl', { class: 'facts' },
      h('dt', {}, 'State'), h('dd', { id: 'delivery-state' }, stateBadge(d.state)),
      h('dt', {}, 'Attempts'), h('dd', {}, String(d.attempts)),
      h('dt', {}, 'Subscription'), h('dd', { class: 'id' }, h('a', { href: '#/deliveries?subscription_id=' + encodeURIComponent(d.subscription_id) }, d.subscription_id)),
      h('dt', {}, 'Made'), h('dd', {}, when(d.created_at)),
      d.state === 'pending' ? [h('dt', {}, 'Next attempt'), h('dd', {}, when(d.next_attempt_at))] : null,
      d.last_error ? [h('dt', {}, 'Last error'), h('dd', {}, d.last_error)] : null,
      d.ordering_key ? [h('dt', {}, 'Order'), h('dd', {}, `${d.ordering_key} #${d.sequence}`)] : null));
    const log = d.attempt_log || [];
    if (timeline.children.length !== log.length || timeline.dataset.state !== d.state) {
      timeline.dataset.state = d.state;
      timeline.replaceChildren(...(log.length ? log.map(attempt) : [h('li', { class: 'muted' }, 'No attempt yet.')]));
    }
  }

  async function showEvent(d) {
    // The event is the publisher's: the operator reads it; an app sees it as it was sent, in
    // each attempt's request body.
    if (s.role !== 'admin') {
      eventBox.replaceChildren(h('p', { class: 'muted' }, `Event ${d.event_id}: what was sent is in each attempt's request below.`));
      return;
    }
    try {
      const ev = await api('GET', '/v1/events/' + encodeURIComponent(d.event_id));
      eventBox.replaceChildren(h('dl', { class: 'facts' },
        h('dt', {}, 'Event'), h('dd', { class: 'id' }, ev.id),
        h('dt', {}, 'Type'), h('dd', {}, ev.type),
        h('dt', {}, 'Account'), h('dd', { class: 'id' }, ev.account_id),
        h('dt', {}, 'Entity'), h('dd', {}, `${ev.entity.type} ${ev.entity.id}`),
        h('dt', {}, 'Occurred'), h('dd', {}, when(ev.occurred_at))),
      h('details', {}, h('summary', {}, 'Data'), h('pre', {}, JSON.stringify(ev.data, null, 2))));
    } catch (err) {
      eventBox.replaceChildren(h('p', { class: 'muted' }, `Event ${d.event_id}: ${err.message}`));
    }
  }

  async function retry() {
    try {
      await api('POST', `/v1/deliveries/${encodeURIComponent(id)}/retry`);
      say('Queued to be sent again now.');
      clearTimeout(timer);
      load();
    } catch (err) {
      fail(err);
    }
  }

  async function skip() {
    if (!confirm('Skip this delivery? It will not be sent, and becomes failed.')) return;
    try {
      await api('POST', `/v1/deliveries/${encodeURIComponent(id)}/skip`);
      say('Skipped.');
      clearTimeout(timer);
      load();
    } catch (err) {
      fail(err);
    }
  }
}

function attempt(a) {
  const headers = (list) => (list && list.length
    ? table([['Header'], ['Value']], list.map((x) => h('tr', {}, h('td', { class: 'id' }, x.name), h('td', { class: 'id' }, x.value))))
    : h('p', { class: 'muted' }, 'none'));
  return h('li', { class: 'outcome-' + a.outcome, 'data-attempt': String(a.number) },
    h('div', { class: 'attempt-head' },
      h('strong', {}, `Attempt ${a.number}`),
      when(a.started_at),
      h('span', {}, `${a.duration_ms} ms`),
      h('span', {}, a.response_status ? `answered ${a.response_status}` : 'no answer'),
      h('span', { class: 'muted' }, a.outcome.replace('_', ' '))),
    a.error ? h('p', {}, 'Error: ', a.error) : null,
    h('details', {}, h('summary', {}, 'Request sent'),
      h('p', { class: 'id' }, `${a.request_method || ''} ${a.request_url || ''}`),
      headers(a.request_headers),
      a.request_body ? h('pre', {}, pretty(a.request_body)) : null),
    h('details', {}, h('summary', {}, 'Response'),
      headers(a.response_headers),
      a.response_body ? h('pre', {}, pretty(a.response_body)) : h('p', { class: 'muted' }, 'no body')),
    a.plugin_version ? h('p', { class: 'muted' }, 'Shaped by ', a.plugin_version) : null);
}

function pretty(body) {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body; }
}

function toLocalInput(rfc3339) {
  const d = new Date(rfc3339);
  if (isNaN(d)) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
