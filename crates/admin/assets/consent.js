// AAD consent: the platform's "Setup AAD consent" button as a form. GET consent-url builds the admin-consent
// URL from the tenant, client id, redirect URI and resource; the page shows it and opens it in a new tab.
import { el, field, get, render, start, status } from './common.js';

start(async () => {
  const tenant = el('input', { type: 'text', name: 'tenant', required: true, autocomplete: 'off', placeholder: 'contoso.onmicrosoft.com or a tenant id' });
  const client = el('input', { type: 'text', name: 'client_id', required: true, autocomplete: 'off', placeholder: '00000000-0000-0000-0000-000000000000' });
  const redirect = el('input', { type: 'url', name: 'redirect_uri', autocomplete: 'off', placeholder: 'https://gateway.example.com/consented' });
  const resource = el('input', { type: 'text', name: 'resource', autocomplete: 'off', placeholder: 'https://api.k2.com/' });
  const result = el('div', { 'aria-live': 'polite' });
  const note = status();
  const form = el('form', { novalidate: true },
    field('Tenant', tenant, 'The Azure AD (Entra ID) tenant: its domain or id.'),
    field('Client id', client, 'The application (client) id of the app registration that needs consent.'),
    field('Redirect URI', redirect, 'Where Azure AD sends the administrator after consenting; one of the app\u2019s redirect URIs.'),
    field('Resource', resource, 'The API the app calls on the users\u2019 behalf (its App ID URI).'),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Build the consent URL')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.replaceChildren();
    note.textContent = '';
    const params = new URLSearchParams({ tenant: tenant.value.trim(), client_id: client.value.trim() });
    if (redirect.value.trim()) params.set('redirect_uri', redirect.value.trim());
    if (resource.value.trim()) params.set('resource', resource.value.trim());
    try {
      const answer = await get(`/consent-url?${params}`);
      const link = el('a', { href: answer.url, target: '_blank', rel: 'noopener noreferrer', id: 'consent-link' }, 'Open the admin-consent page (new tab)');
      result.replaceChildren(
        el('h2', {}, 'Admin-consent URL'),
        el('pre', { id: 'consent-url' }, answer.url),
        el('p', {}, link),
        answer.explanation ? el('p', { class: 'explain' }, answer.explanation) : null,
      );
      note.textContent = 'The URL is ready; sign in there with a tenant administrator account.';
    } catch (e) {
      result.replaceChildren(el('p', { class: 'alert', role: 'alert' }, `No URL: ${e.message}`));
    }
  });
  render(
    el('div', { class: 'explain' },
      el('p', {}, 'Azure AD needs a tenant administrator\u2019s consent once before the gateway can act for the tenant\u2019s users: ',
        'the consent covers User.Read, Directory.Read.All and Directory.AccessAsUser.All. Until it is granted, sign-ins fail with ',
        el('code', {}, 'AADSTS90094: The grant requires admin permission'), ' (or AADSTS65001).'),
      el('p', {}, 'You need it for Azure AD user managers and the outbound OAuth resources of Microsoft APIs; an on-premises Active Directory needs none. ',
        'Sign in with a Tenant Admin account; turn Multi-Factor Authentication off while you consent if the consent loop does not finish, and back on afterwards.')),
    form, note, result,
  );
});
