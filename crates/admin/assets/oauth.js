// OAuth: the outbound resource types and resources (secrets masked: only "set" / "not set"), and the Tokens
// view: the users' connections, filtered by user and resource, each with Revoke (after a confirmation).
import { alert, el, field, get, render, send, start, status, table, when } from './common.js';

const note = status();
const list = (v) => (Array.isArray(v) && v.length ? v.join(' ') : '—');

async function connections(holder, user, resource) {
  const params = new URLSearchParams();
  if (user) params.set('user', user);
  if (resource) params.set('resource', resource);
  const answer = await get(`/oauth/connections?${params}`);
  const rows = (answer.connections || []).map((c) => {
    const revoke = el('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${c.user}'s connection to ${c.resource}` }, 'Revoke');
    revoke.addEventListener('click', async () => {
      if (!window.confirm(`Revoke ${c.user}'s tokens for ${c.resource}? They must connect again.`)) return;
      revoke.disabled = true;
      try {
        await send('DELETE', `/oauth/connections/${encodeURIComponent(c.resource)}/${encodeURIComponent(c.user)}`);
      } catch (e) {
        revoke.disabled = false;
        alert(`Not revoked: ${e.message}`);
        return;
      }
      // The list is refreshed before the note is announced, so that what the note says is what the list shows.
      // A failed refresh does not undo the revocation: it is reported as what it is.
      try {
        await connections(holder, user, resource);
      } catch (e) {
        alert(`Revoked, but the list could not be refreshed: ${e.message}`);
      }
      note.textContent = `Revoked ${c.user}'s connection to ${c.resource}.`;
    });
    return [c.user, c.resource, c.status, c.expires_at ? when(c.expires_at) : '—', list(c.scopes), when(c.updated_at), revoke];
  });
  holder.replaceChildren(table('Connections', ['User', 'Resource', 'Status', 'Expires', 'Scopes', 'Updated', 'Action'], rows, 'no connection matches.'));
}

start(async () => {
  const catalog = await get('/oauth');
  if (catalog.configured === false) {
    render(el('p', {}, 'No outbound OAuth is configured (the oauth: section of gateway.yaml).'));
    return;
  }
  const types = (catalog.resource_types || []).map((t) => [t.name, t.kind || t.flow || '—', t.authorize_url || t.authorization_endpoint || '—', t.token_url || t.token_endpoint || '—']);
  const resources = (catalog.resources || []).map((r) => [
    r.name, r.type || r.resource_type || '—', r.client_id || '—',
    el('span', { class: r.client_secret === 'set' ? 'pass' : 'muted' }, r.client_secret === 'set' ? 'set (hidden)' : 'not set'),
    list(r.scopes), r.resource || r.audience || '—',
  ]);
  const user = el('input', { type: 'search', id: 'filter-user', autocomplete: 'off' });
  const resource = el('select', { id: 'filter-resource' }, el('option', { value: '' }, 'Every resource'), (catalog.resources || []).map((r) => el('option', { value: r.name }, r.name)));
  const holder = el('div', { 'aria-live': 'polite' });
  const form = el('form', { class: 'filters' }, field('User', user, 'An FQN, e.g. K2:CONTOSO\\alice; empty for everyone.'), field('Resource', resource),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Show connections')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    note.textContent = '';
    try {
      await connections(holder, user.value.trim(), resource.value);
    } catch (e) {
      holder.replaceChildren(el('p', { class: 'alert', role: 'alert' }, e.message));
    }
  });
  render(
    el('h2', {}, 'Resource types'),
    table('Resource types', ['Name', 'Kind', 'Authorization endpoint', 'Token endpoint'], types),
    el('h2', {}, 'Resources'),
    table('Resources', ['Name', 'Type', 'Client id', 'Client secret', 'Scopes', 'Resource'], resources),
    el('h2', {}, 'Tokens'),
    el('p', {}, 'The users\u2019 stored connections. Revoking deletes the stored tokens; the user connects again on the next call.'),
    form, note, holder,
  );
  await connections(holder, '', '');
});
