// APIs: the platform's "API Authentication and Administrators" page. The Workflow REST API and SmartObject
// OData API switches (role=switch), each one's switched-off answer, base paths, the Workflow API's OpenAPI
// document, the OData exposure (all / selected / all except, picked from GET smartobjects) and record limit.
// Save sends only what changed, based on the version read (409: someone else saved meanwhile).
import { ApiError, alert, badge, el, field, get, render, send, start, status, when } from './common.js';

const API_NAMES = { workflow: 'Workflow REST API', odata: 'SmartObject OData API' };
const WORKFLOW_BASE = '/api/workflow/v1';

let current = null; // the settings as last read
const controls = {};
const note = status();

function source(entry) {
  if (!entry) return '';
  if (entry.source === 'store') return `Set in the console by ${entry.changed_by || 'an administrator'} at ${when(entry.changed_at)}.`;
  if (entry.changed_by) return `Reset to gateway.yaml by ${entry.changed_by} at ${when(entry.changed_at)}.`;
  return 'From gateway.yaml.';
}

function routesOf(overview, key) {
  const builtin = (overview.routes || []).filter((r) => String(r.upstream).startsWith('builtin'));
  const isWorkflow = (r) => r.prefix === '/api/workflow' || r.prefix.startsWith('/api/workflow/');
  return builtin.filter((r) => (key === 'workflow' ? isWorkflow(r) : !isWorkflow(r)));
}

function switchCard(key, entry, routes) {
  const value = entry && entry.value;
  const name = API_NAMES[key];
  if (!value) {
    return el('section', { class: 'card', 'aria-labelledby': `${key}-h` },
      el('h2', { id: `${key}-h` }, name, badge(false, 'On', 'Not served')),
      el('p', {}, `No builtin route serves the ${name}; add one to gateway.yaml to switch it here.`));
  }
  const labelId = `${key}-switch-label`;
  const stateText = el('span', { class: 'state' });
  const button = el('button', {
    type: 'button', role: 'switch', class: 'switch', id: `${key}-switch`,
    'aria-checked': String(value.enabled), 'aria-labelledby': labelId,
    'aria-describedby': `${key}-offline`,
  }, el('span', { class: 'track', 'aria-hidden': 'true' }), el('span', { class: 'label', id: labelId }, key === 'workflow' ? 'Workflow API' : 'SmartObject OData API'), stateText);
  const statusSelect = el('select', { id: `${key}-status` },
    [404, 503].map((s) => el('option', { value: s, selected: s === value.status }, s === 503 ? '503 Service Unavailable' : '404 Not Found')));
  const message = el('input', { type: 'text', id: `${key}-message`, value: value.message, maxlength: current.limits ? current.limits.message_max : 500 });
  const sync = () => {
    const on = button.getAttribute('aria-checked') === 'true';
    stateText.textContent = on ? 'On' : 'Off';
  };
  button.addEventListener('click', () => {
    button.setAttribute('aria-checked', String(button.getAttribute('aria-checked') !== 'true'));
    sync();
    note.textContent = 'Unsaved changes: press Save.';
  });
  sync();
  controls[key] = { button, statusSelect, message };
  const offline = value.enabled
    ? el('p', { id: `${key}-offline` }, `The ${name} is on: requests are authenticated and served.`)
    : el('p', { id: `${key}-offline`, class: 'fail' }, `Switched off: every request gets ${value.status} “${value.message}”.`);
  const base = routes.length
    ? el('ul', {}, routes.map((r) => el('li', {}, el('code', {}, r.prefix), ` (route ${r.name}, on the public listener)`)))
    : el('p', { class: 'muted' }, 'No route.');
  return el('section', { class: `card ${value.enabled ? 'on' : 'off'}`, 'aria-labelledby': `${key}-h` },
    el('h2', { id: `${key}-h` }, name, badge(value.enabled)),
    offline,
    el('div', { class: 'actions' }, button),
    field('Switched-off status', statusSelect),
    field('Switched-off message', message, 'What callers read while the API is off.'),
    el('h3', {}, 'Base paths'), base,
    key === 'workflow'
      ? el('p', {}, 'OpenAPI document: ', el('code', {}, `${WORKFLOW_BASE}/swagger/docs/v1`), ' on the public listener (sign in as for any call).')
      : null,
    el('p', { class: 'hint' }, source(entry)));
}

function exposureCard(entry, pageSize, smartobjects) {
  const exposure = entry.value || { mode: 'all' };
  const chosen = new Set((exposure.names || []).map((n) => n.toLowerCase()));
  const modes = [
    ['all', 'All SmartObjects with a List method'],
    ['only', 'Only the selected SmartObjects'],
    ['all_except', 'All except the selected SmartObjects'],
  ];
  const radios = modes.map(([mode, label]) => {
    const input = el('input', { type: 'radio', name: 'expose-mode', value: mode, id: `expose-${mode}`, checked: exposure.mode === mode });
    return el('div', { class: 'choice' }, input, el('label', { for: input.id }, label));
  });
  const boxes = smartobjects.map((s) => {
    const input = el('input', { type: 'checkbox', value: s.name, id: `so-${s.name}`, checked: chosen.has(s.name.toLowerCase()) });
    const extra = [s.published_name && s.published_name !== s.name ? ` as ${s.published_name}` : '', s.listable ? '' : ' (no List method)', s.published ? ' · published' : ''].join('');
    return el('div', { class: 'choice' }, input, el('label', { for: input.id }, s.name, el('span', { class: 'hint' }, extra)));
  });
  const picker = el('fieldset', { id: 'expose-picker' }, el('legend', {}, `SmartObjects (${smartobjects.length})`), el('div', { class: 'picker' }, boxes));
  const syncPicker = () => {
    const mode = document.querySelector('input[name="expose-mode"]:checked');
    picker.disabled = !mode || mode.value === 'all';
  };
  radios.forEach((r) => r.querySelector('input').addEventListener('change', syncPicker));
  const limit = el('input', { type: 'number', id: 'page-size', min: 1, max: current.limits ? current.limits.page_size_max : 10000, value: pageSize.value, inputmode: 'numeric' });
  controls.expose = { picker };
  controls.pageSize = limit;
  queueMicrotask(syncPicker);
  return el('section', { class: 'card', 'aria-labelledby': 'expose-h' },
    el('h2', { id: 'expose-h' }, 'SmartObject OData exposure'),
    el('fieldset', {}, el('legend', {}, 'Which SmartObjects the OData API publishes'), radios),
    picker,
    el('p', { class: 'hint' }, source(entry)),
    field('Record limit (entities per response)', limit, `At most ${current.limits ? current.limits.page_size_max : 10000}. ${source(pageSize)}`));
}

function changes() {
  const out = {};
  for (const key of ['workflow', 'odata']) {
    const c = controls[key];
    const was = current.settings[key] && current.settings[key].value;
    if (!c || !was) continue;
    const now = { enabled: c.button.getAttribute('aria-checked') === 'true', status: Number(c.statusSelect.value), message: c.message.value };
    if (now.enabled !== was.enabled || now.status !== was.status || now.message !== was.message) out[key] = now;
  }
  const mode = (document.querySelector('input[name="expose-mode"]:checked') || {}).value || 'all';
  const names = [...controls.expose.picker.querySelectorAll('input[type="checkbox"]:checked')].map((b) => b.value);
  const exposure = mode === 'all' ? { mode } : { mode, names };
  const wasExposure = current.settings['odata.expose'].value;
  const norm = (e) => JSON.stringify({ mode: e.mode, names: (e.names || []).map((n) => n.toLowerCase()).sort() });
  if (norm(exposure) !== norm(wasExposure)) out['odata.expose'] = exposure;
  const pageSize = Number(controls.pageSize.value);
  if (pageSize !== current.settings['odata.page_size'].value) out['odata.page_size'] = Number.isInteger(pageSize) ? pageSize : controls.pageSize.value;
  return out;
}

function markInvalid(fieldName) {
  document.querySelectorAll('[aria-invalid="true"]').forEach((n) => n.removeAttribute('aria-invalid'));
  const target = !fieldName ? null
    : fieldName.startsWith('odata.expose') ? controls.expose.picker
    : fieldName === 'odata.page_size' ? controls.pageSize
    : fieldName.startsWith('workflow') ? controls.workflow && controls.workflow.message
    : fieldName.startsWith('odata') ? controls.odata && controls.odata.message : null;
  if (target) {
    target.setAttribute('aria-invalid', 'true');
    target.focus();
  }
}

async function load(message) {
  const [settings, overview, smartobjects] = await Promise.all([get('/settings'), get('/overview'), get('/smartobjects')]);
  current = settings;
  const save = el('button', { type: 'button', id: 'save' }, 'Save');
  const reload = el('button', { type: 'button', class: 'secondary' }, 'Discard changes');
  save.addEventListener('click', async () => {
    alert(null);
    const body = changes();
    if (!Object.keys(body).length) {
      note.textContent = 'Nothing to save.';
      return;
    }
    save.disabled = true;
    try {
      const answer = await send('PUT', '/settings', { version: current.version, changes: body });
      await load(`Saved (settings version ${answer.version}). Every replica applies it within 2 seconds.`);
    } catch (e) {
      save.disabled = false;
      if (e instanceof ApiError && e.status === 409) {
        alert(`Not saved: ${e.body.message || 'the settings changed meanwhile'}. The page shows the current settings now; make your change again.`);
        await load('Reloaded the current settings.');
      } else if (e instanceof ApiError && e.body.field) {
        alert(`Not saved: ${e.body.field}: ${e.body.message}`);
        markInvalid(e.body.field);
      } else {
        alert(`Not saved: ${e.message}`);
      }
    }
  });
  reload.addEventListener('click', () => load('Changes discarded.'));
  note.textContent = message || '';
  render(
    el('p', {}, 'Switch the built-in APIs on or off, choose what the OData API publishes, then press Save. Changes apply to every replica within 2 seconds and are audited.'),
    el('div', { class: 'grid' },
      switchCard('workflow', settings.settings.workflow, routesOf(overview, 'workflow')),
      switchCard('odata', settings.settings.odata, routesOf(overview, 'odata'))),
    exposureCard(settings.settings['odata.expose'], settings.settings['odata.page_size'], smartobjects.smartobjects || []),
    el('div', { class: 'actions' }, save, reload, el('span', { class: 'hint' }, `Settings version ${settings.version}`)),
    note,
  );
}

start(() => load());
