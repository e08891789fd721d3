// Token inspector: paste a token, the admin listener checks it as the gateway would (POST inspect) and the
// page lists every check with pass/fail and why. The token goes only in the POST body to this listener:
// never in the URL, storage or logs.
import { el, field, render, send, start, table } from './common.js';

start(async () => {
  const token = el('textarea', { id: 'token', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', rows: 6 });
  const route = el('input', { type: 'text', id: 'route', autocomplete: 'off', placeholder: 'e.g. odata or /api/odata/v4' });
  const result = el('div', { id: 'result', 'aria-live': 'polite' });
  const form = el('form', { novalidate: true },
    field('Token (a JWT access token)', token, 'It is sent only to this admin listener, in the request body; nothing is stored or logged.'),
    field('Route (optional)', route, 'Check against a route\u2019s providers and audiences instead of every provider.'),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Inspect'),
      el('button', { type: 'reset', class: 'secondary' }, 'Clear')),
  );
  form.addEventListener('reset', () => result.replaceChildren());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.replaceChildren();
    if (!token.value.trim()) {
      result.replaceChildren(el('p', { class: 'alert', role: 'alert' }, 'Paste a token first.'));
      token.focus();
      return;
    }
    const body = { token: token.value.trim() };
    if (route.value.trim()) body.route = route.value.trim();
    try {
      const answer = await send('POST', '/inspect', body);
      const ok = String(answer.verdict).toLowerCase();
      const passed = ok === 'accepted' || ok === 'valid' || ok === 'ok' || ok === 'pass';
      const shown = { pass: ['pass', '✔ Pass'], fail: ['fail', '✘ Fail'], skip: ['muted', '– Not reached'] };
      const rows = (answer.checks || []).map((c) => {
        const [cls, label] = shown[c.outcome] || (c.ok ? shown.pass : shown.fail);
        return [c.name, el('span', { class: cls }, label), c.detail || ''];
      });
      result.replaceChildren(
        el('h2', {}, 'Result'),
        el('p', { class: `verdict ${passed ? 'pass' : 'fail'}`, id: 'verdict' }, `Verdict: ${answer.verdict}`),
        table('Checks', ['Check', 'Result', 'Details'], rows),
        el('h3', {}, 'Header'), el('pre', {}, JSON.stringify(answer.header, null, 2)),
        el('h3', {}, 'Claims'), el('pre', {}, JSON.stringify(answer.claims, null, 2)),
      );
    } catch (e) {
      result.replaceChildren(el('p', { class: 'alert', role: 'alert' }, `Not inspected: ${e.message}`));
    }
  });
  render(
    el('div', { class: 'explain', id: 'audience-help' },
      el('p', {}, el('strong', {}, 'Audience and the trailing slash. '),
        'A token\u2019s ', el('code', {}, 'aud'), ' must equal one of the provider\u2019s audiences exactly, character for character: ',
        el('code', {}, 'https://api.k2.com'), ' and ', el('code', {}, 'https://api.k2.com/'), ' are different audiences. ',
        'Azure AD issues the App ID URI exactly as registered, so a token for an app registered without the slash is refused by a gateway expecting it (and the other way round). ',
        'Fix it by listing both forms in the provider\u2019s audiences, or by requesting the token for the resource as the gateway spells it.')),
    form, result,
  );
});
