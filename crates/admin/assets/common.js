// Shared by every console page: the admin API client (credentials from the browser's Basic sign-in, the CSRF
// token from GET session on every state-changing call), element building without innerHTML, and errors shown
// in the page's role=alert region.

export const API = '/admin/api/v1';

/** A refusal from the admin API: status and the JSON body's message. */
export class ApiError extends Error {
  constructor(status, body) {
    const text = (body && (body.message || body.error)) || `HTTP ${status}`;
    super(`${text} (HTTP ${status})`);
    this.status = status;
    this.body = body || {};
  }
}

let sessionPromise = null;

/** The signed-in administrator: {user, name, display_name, csrf_token}. */
export function session() {
  if (!sessionPromise) {
    sessionPromise = call('GET', '/session').catch((e) => {
      sessionPromise = null;
      throw e;
    });
  }
  return sessionPromise;
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-CSRF-Token'] = (await session()).csrf_token;
  }
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { message: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** GET `path` under the API. */
export const get = (path) => call('GET', path);
/** A state-changing call (the CSRF token is added). */
export const send = (method, path, body) => call(method, path, body);

/** Builds an element: attributes (`on*` are listeners, `class`, booleans) and children (strings are text). */
export function el(tag, attrs = {}, ...children) {
  const node = tag === 'svg' || attrs.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'svg' || value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/** An SVG element (same arguments as `el`). */
export const svg = (tag, attrs = {}, ...children) => el(tag, { ...attrs, svg: true }, ...children);

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A table: caption, header labels, rows of cells (a cell is text or a node). */
export function table(caption, headers, rows, empty = 'None.') {
  if (!rows.length) return el('p', { class: 'muted' }, `${caption}: ${empty}`);
  return el('div', { class: 'scroll' },
    el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c)))))));
}

/** A badge whose meaning is in its text, not only its colour. */
export const badge = (on, onText = 'On', offText = 'Off') =>
  el('span', { class: on ? 'badge on' : 'badge off' }, on ? onText : offText);

/** Shows `error` (or hides the alert when null) in the page's role=alert region. */
export function alert(error) {
  const box = document.getElementById('alert');
  if (!error) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
}

/** Replaces the page's content. */
export function render(...children) {
  const content = document.getElementById('content');
  content.replaceChildren(...children.flat().filter(Boolean));
  content.setAttribute('aria-busy', 'false');
}

/** A `role=status` line for confirmations. */
export const status = () => el('p', { class: 'status', role: 'status', 'aria-live': 'polite' });

/** Runs a page: signs in (shows who), then `load()`; errors go to the alert region. */
export async function start(load) {
  try {
    const who = await session();
    document.getElementById('who').textContent = `Signed in as ${who.display_name || who.name || who.user} (${who.user})`;
    await load();
  } catch (e) {
    alert(e);
    render(el('p', { class: 'muted' }, 'This page could not be loaded.'));
  }
}

/** A labelled form field: `<label>` + control, tied by id. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintNode = hint ? el('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute('aria-describedby', hintNode.id);
  return el('div', { class: 'field' }, el('label', { for: id }, label), control, hintNode);
}

/** A timestamp for people. */
export const when = (t) => (t ? new Date(t).toLocaleString() : '—');
