// Subscriptions: an app's own (the operator's: every app's); create, edit, pause and resume,
// rotate the secret (shown once), and send one an example event through the real path.
import { api, h, field, formValues, table, say, fail, reveal } from './lib.js';

export function subscriptionsView(main, s) {
  const list = h('div');
  const revealBox = h('div');
  const formatSelect = h('select', { name: 'format', id: 'new-format', required: true });
  const createForm = h('form', { class: 'inline', onsubmit: create },
    field('Account', { name: 'account_id', required: true }),
    h('label', { for: 'new-format' }, 'Format', formatSelect),
    field('Events (comma-separated)', { name: 'events', value: '*', required: true }),
    field('URL', { name: 'url', type: 'url', required: true, placeholder: 'https://example.com/webhooks' }),
    h('button', { type: 'submit', class: 'primary' }, 'Subscribe'));

  const exampleSelect = h('select', { name: 'subscription_id', id: 'example-subscription', required: true });
  const exampleResult = h('p', { 'aria-live': 'polite' });
  const exampleForm = h('form', { class: 'inline', onsubmit: sendExample },
    h('label', { for: 'example-subscription' }, 'Subscription', exampleSelect),
    field('Event type', { name: 'type', value: 'client.create', required: true }),
    h('button', { type: 'submit' }, 'Send'),
    exampleResult);

  main.append(
    h('h1', {}, 'Subscriptions'),
    revealBox,
    list,
    h('fieldset', {}, h('legend', {}, 'New subscription'), createForm),
    h('fieldset', {}, h('legend', {}, 'Send an example'),
      h('p', { class: 'muted' }, 'A sample event of that type, to that subscription only, through the real path: shaped, signed, sent and recorded like any delivery.'),
      exampleForm));

  loadFormats();
  load();
  return () => {};

  async function loadFormats() {
    try {
      const plugins = await api('GET', '/v1/plugins');
      formatSelect.replaceChildren(...plugins.data.map((p) => h('option', { value: p.name, selected: p.name === 'standard' ? true : undefined }, p.name)));
    } catch (err) {
      fail(err);
    }
  }

  async function load() {
    try {
      const page = await api('GET', '/v1/subscriptions?limit=200');
      exampleSelect.replaceChildren(...page.data.map((sub) => h('option', { value: sub.id }, `${sub.id} (${sub.events.join(', ')})`)));
      list.replaceChildren(page.data.length
        ? table([['Subscription'], ['Account'], ['Format'], ['Events'], ['URL'], ['State'], ['Actions']], page.data.map(row))
        : h('p', { class: 'muted' }, 'No subscriptions yet.'));
    } catch (err) {
      fail(err);
    }
  }

  function row(sub) {
    const state = sub.paused_at ? 'paused' : sub.state;
    return h('tr', { 'data-subscription': sub.id },
      h('td', { class: 'id' }, h('a', { href: '#/deliveries?subscription_id=' + encodeURIComponent(sub.id), title: 'Its deliveries' }, sub.id)),
      h('td', { class: 'id' }, sub.account_id),
      h('td', {}, sub.format),
      h('td', {}, sub.events.join(', ')),
      h('td', { class: 'id' }, sub.url),
      h('td', {}, state, sub.disabled_reason ? h('div', { class: 'muted' }, sub.disabled_reason) : null),
      h('td', {}, h('div', { class: 'actions' },
        sub.paused_at
          ? h('button', { type: 'button', onclick: () => act(sub, 'resume', 'Resumed') }, 'Resume')
          : h('button', { type: 'button', onclick: () => act(sub, 'pause', 'Paused') }, 'Pause'),
        h('button', { type: 'button', onclick: () => rotate(sub) }, 'Rotate secret'),
        h('button', { type: 'button', onclick: (e) => edit(e, sub) }, 'Edit'),
        h('button', { type: 'button', onclick: () => remove(sub) }, 'Delete'))));
  }

  async function act(sub, verb, done) {
    try {
      await api('POST', `/v1/subscriptions/${encodeURIComponent(sub.id)}/${verb}`);
      say(`${done}: ${sub.id}.`);
      load();
    } catch (err) {
      fail(err);
    }
  }

  async function rotate(sub) {
    // No confirmation: the old secret keeps signing beside the new one for 24 hours where the
    // format allows, and the new one is shown below.
    try {
      const r = await api('POST', `/v1/subscriptions/${encodeURIComponent(sub.id)}/rotate-secret`);
      revealBox.replaceChildren(reveal(`New signing secret of ${sub.id} (the old one keeps signing for 24 hours where the format allows)`, r.secret));
      load();
    } catch (err) {
      fail(err);
    }
  }

  async function remove(sub) {
    if (!confirm(`Delete ${sub.id}? Its pending deliveries are not sent.`)) return;
    try {
      await api('DELETE', `/v1/subscriptions/${encodeURIComponent(sub.id)}`);
      say(`Deleted ${sub.id}.`);
      load();
    } catch (err) {
      fail(err);
    }
  }

  function edit(e, sub) {
    const tr = e.target.closest('tr');
    const form = h('form', { class: 'inline', onsubmit: save },
      field('Events (comma-separated)', { name: 'events', value: sub.events.join(', '), required: true }),
      field('URL', { name: 'url', type: 'url', value: sub.url, required: true }),
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('button', { type: 'button', onclick: () => load() }, 'Cancel'));
    const cell = h('td', { colspan: 7 }, form);
    tr.replaceChildren(cell);
    form.querySelector('input').focus();

    async function save(ev) {
      ev.preventDefault();
      const v = formValues(form);
      try {
        await api('PATCH', `/v1/subscriptions/${encodeURIComponent(sub.id)}`, { events: splitList(v.events), url: v.url });
        say(`Saved ${sub.id}.`);
        load();
      } catch (err) {
        fail(err);
      }
    }
  }

  async function sendExample(e) {
    e.preventDefault();
    const v = formValues(exampleForm);
    try {
      const d = await api('POST', `/v1/subscriptions/${encodeURIComponent(v.subscription_id)}/example`, { type: v.type });
      exampleResult.replaceChildren('Sent as ', h('a', { href: '#/deliveries/' + encodeURIComponent(d.id), id: 'example-delivery' }, d.id), '.');
    } catch (err) {
      fail(err);
    }
  }

  async function create(e) {
    e.preventDefault();
    const v = formValues(createForm);
    try {
      const sub = await api('POST', '/v1/subscriptions', { account_id: v.account_id, format: v.format, events: splitList(v.events), url: v.url });
      revealBox.replaceChildren(reveal(`Signing secret of ${sub.id}`, sub.secret));
      createForm.reset();
      load();
    } catch (err) {
      fail(err);
    }
  }
}

function splitList(s) {
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}

