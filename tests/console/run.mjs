// Drives the management console in headless Chromium (Debian's, through playwright-core's executablePath) for
// tests/it/console.rs: one browser launch, the scenarios named in the plan run in order, one JSON report on
// stdout. The Rust test asserts on the report and on what the servers say afterwards.
//
//   node tests/console/run.mjs '{"admin":"http://127.0.0.1:PORT", "administrator":["fran","fran-pw"],
//     "other":["alice","alice-pw"], "scenarios":["signin", ...], "screenshots":"/some/dir"}'
//
// CHROMIUM names the browser (default /usr/bin/chromium). Nothing here sleeps: Playwright's locators wait for
// what they need, each with a deadline.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const plan = JSON.parse(process.argv[2] || '{}');
const base = plan.admin;
const PAGES = ['', 'apis', 'consent', 'oauth', 'lockouts', 'inspect', 'live', 'audit'];
const TIMEOUT = 10_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

/** A signed-in context (HTTP Basic, as the browser's sign-in dialog would send it). */
async function signedIn(user, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({
    viewport,
    httpCredentials: user ? { username: user[0], password: user[1] } : undefined,
  });
  context.setDefaultTimeout(TIMEOUT);
  // Nothing leaves loopback (the consent link points at Azure AD: it is read, never followed).
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
  return context;
}

async function open(context, path) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const response = await page.goto(`${base}/admin/${path}`);
  return { page, response, errors };
}

/** A full-page PNG named `name` when the plan asks for screenshots. */
async function shot(page, name) {
  if (!plan.screenshots) return;
  mkdirSync(plan.screenshots, { recursive: true });
  await page.screenshot({ path: join(plan.screenshots, `${name}.png`), fullPage: true });
}

const scenarios = {
  /** An administrator signs in and sees the overview. */
  async signin() {
    const context = await signedIn(plan.administrator);
    const { page, response, errors } = await open(context, '');
    await page.getByText(/^Signed in as /).waitFor();
    await page.getByRole('table', { name: 'Routes' }).waitFor();
    const headers = response.headers();
    const result = {
      status: response.status(),
      who: await page.locator('#who').textContent(),
      h1: await page.getByRole('heading', { level: 1 }).textContent(),
      current: await page.locator('nav a[aria-current="page"]').textContent(),
      routes: await page.getByRole('table', { name: 'Routes' }).locator('tbody tr').count(),
      csp: headers['content-security-policy'],
      nosniff: headers['x-content-type-options'],
      cache: headers['cache-control'],
      type: headers['content-type'],
      errors,
    };
    await context.close();
    return result;
  },

  /** No credentials: the Basic challenge. */
  async anonymous() {
    // (Chromium without credentials to offer ends the navigation with ERR_INVALID_AUTH_CREDENTIALS; the
    // request context shows the answer itself.)
    const context = await signedIn(null);
    const response = await context.request.get(`${base}/admin/apis`);
    const result = { status: response.status(), challenge: response.headers()['www-authenticate'] };
    await context.close();
    return result;
  },

  /** Keyboard: the skip link comes first, Tab reaches the Workflow switch, Space flips it (not saved). */
  async keyboard() {
    const context = await signedIn(plan.administrator);
    const { page } = await open(context, 'apis');
    const toggle = page.getByRole('switch', { name: 'Workflow API' });
    await toggle.waitFor();
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    let tabs = 1;
    while (tabs < 60 && !(await toggle.evaluate((n) => n === document.activeElement))) {
      await page.keyboard.press('Tab');
      tabs += 1;
    }
    const reached = await toggle.evaluate((n) => n === document.activeElement);
    const before = await toggle.getAttribute('aria-checked');
    await page.keyboard.press('Space');
    const after = await toggle.getAttribute('aria-checked');
    const outline = await toggle.evaluate((n) => getComputedStyle(n).outlineStyle);
    await context.close();
    return { first, reached, tabs, before, after, outline };
  },

  /** The Workflow API switched off in the page, with its answer. */
  async workflowOff() {
    const context = await signedIn(plan.administrator);
    const { page, errors } = await open(context, 'apis');
    const toggle = page.getByRole('switch', { name: 'Workflow API' });
    await toggle.waitFor();
    const before = await toggle.getAttribute('aria-checked');
    await toggle.click();
    await page.getByLabel('Switched-off status').first().selectOption('503');
    await page.getByLabel('Switched-off message').first().fill(plan.message);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: /^Saved \(/ }).waitFor();
    const card = page.locator('section.card', { has: page.getByRole('heading', { name: /Workflow REST API/ }) });
    const result = {
      before,
      after: await page.getByRole('switch', { name: 'Workflow API' }).getAttribute('aria-checked'),
      badge: await card.locator('.badge').first().textContent(),
      off: await card.locator('.fail').first().textContent(),
      cardClass: await card.getAttribute('class'),
      errors,
    };
    await context.close();
    return result;
  },

  /** The OData exposure: only the picked SmartObject. */
  async exposure() {
    const context = await signedIn(plan.administrator);
    const { page, errors } = await open(context, 'apis');
    await page.getByLabel('Only the selected SmartObjects').check();
    for (const name of plan.expose) await page.getByRole('checkbox', { name: new RegExp(`^${name}\\b`) }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    const saved = await page.getByRole('status').filter({ hasText: /^Saved \(/ }).textContent();
    const checked = await page.locator('#expose-picker input:checked').evaluateAll((ns) => ns.map((n) => n.value));
    await context.close();
    return { saved, checked, errors };
  },

  /** A stale save (someone else saved meanwhile) is announced and reloads the settings. */
  async conflict() {
    const context = await signedIn(plan.administrator);
    const { page } = await open(context, 'apis');
    await page.getByRole('button', { name: 'Save' }).waitFor();
    // Another administrator's save, from the same session, while this page shows the old version.
    await page.evaluate(async () => {
      const session = await (await fetch('/admin/api/v1/session')).json();
      const settings = await (await fetch('/admin/api/v1/settings')).json();
      await fetch('/admin/api/v1/settings', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token },
        body: JSON.stringify({ version: settings.version, changes: { 'odata.page_size': 500 } }),
      });
    });
    await page.getByLabel(/Record limit/).fill('250');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = await page.getByRole('alert').filter({ hasText: 'Not saved' }).textContent();
    await page.getByRole('status').filter({ hasText: 'Reloaded' }).waitFor();
    const limit = await page.getByLabel(/Record limit/).inputValue();
    await context.close();
    return { alert, limit };
  },

  /** A state-changing call without the CSRF token is refused. */
  async csrf() {
    const context = await signedIn(plan.administrator);
    const { page } = await open(context, 'apis');
    await page.getByRole('button', { name: 'Save' }).waitFor();
    const answer = await page.evaluate(async () => {
      const settings = await (await fetch('/admin/api/v1/settings')).json();
      const r = await fetch('/admin/api/v1/settings', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ version: settings.version, changes: { 'odata.page_size': 7 } }),
      });
      return { status: r.status, body: await r.json() };
    });
    await context.close();
    return answer;
  },

  /** A signed-in non-administrator: 403 on every page, asset and API call. */
  async nonAdmin() {
    const context = await signedIn(plan.other);
    const page = await context.newPage();
    const pages = {};
    for (const path of [...PAGES, 'assets/common.js']) pages[path] = (await page.goto(`${base}/admin/${path}`)).status();
    const api = {};
    const request = context.request;
    const auth = { Authorization: `Basic ${Buffer.from(plan.other.join(':')).toString('base64')}` };
    for (const [method, path] of plan.api_calls) {
      const r = await request.fetch(`${base}/admin/api/v1${path}`, { method, headers: auth, data: method === 'GET' ? undefined : {} });
      api[`${method} ${path}`] = r.status();
    }
    await context.close();
    return { pages, api };
  },

  /** The audit page lists the changes. */
  async audit() {
    const context = await signedIn(plan.administrator);
    const { page } = await open(context, 'audit');
    const rows = page.getByRole('table', { name: /Audit entries/ }).locator('tbody tr');
    await rows.first().waitFor();
    const targets = await rows.evaluateAll((trs) => trs.map((tr) => tr.children[3].textContent));
    const who = await rows.first().locator('td').nth(1).textContent();
    await context.close();
    return { targets, who };
  },

  /** A locked-out user is listed on the Lockouts page and unlocked with its button. */
  async unlock() {
    const context = await signedIn(plan.administrator);
    const { page, errors } = await open(context, 'lockouts');
    const users = page.getByRole('table', { name: 'Locked-out users' });
    const row = users.locator('tbody tr', { hasText: plan.locked });
    await row.waitFor();
    const lockedUntil = await row.locator('td').nth(2).textContent();
    await shot(page, 'lockouts-locked');
    await page.getByRole('button', { name: `Unlock ${plan.locked}` }).click();
    const note = await page.getByRole('status').filter({ hasText: /^Unlocked / }).textContent();
    const after = await page.getByText(/Locked-out users: no user is locked out\./).count();
    await context.close();
    return { lockedUntil, note, after, errors };
  },

  /** The token inspector: a token whose audience lacks the trailing slash, and why it fails. */
  async inspect() {
    const context = await signedIn(plan.administrator);
    const { page, errors } = await open(context, 'inspect');
    await page.getByLabel('Token (a JWT access token)').fill(plan.token);
    await page.getByRole('button', { name: 'Inspect' }).click();
    const verdict = await page.locator('#verdict').textContent();
    const audience = page.getByRole('table', { name: 'Checks' }).locator('tbody tr', { hasText: /^audience/ });
    const result = await audience.locator('td').nth(1).textContent();
    const detail = await audience.locator('td').nth(2).textContent();
    await shot(page, 'inspect-result');
    const url = page.url();
    const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
    await context.close();
    return { verdict, result, detail, url, stored, errors };
  },

  /** The Tokens view: an administrator revokes a user's OAuth connection (after confirming). */
  async revoke() {
    const context = await signedIn(plan.administrator);
    const { page, errors } = await open(context, 'oauth');
    const dialogs = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.accept();
    });
    await page.getByRole('table', { name: 'Connections' }).waitFor();
    await shot(page, 'oauth-tokens');
    const secret = await page.getByRole('table', { name: 'Resources' }).locator('tbody tr', { hasText: plan.revoke.resource }).locator('td').nth(3).textContent();
    await page.getByRole('button', { name: `Revoke ${plan.revoke.user}'s connection to ${plan.revoke.resource}` }).click();
    const note = await page.getByRole('status').filter({ hasText: /^Revoked / }).textContent();
    // The console announces the revocation once the list is refreshed; the empty list is read after the note.
    const after = await page.getByText('Connections: no connection matches.').count();
    await context.close();
    return { secret, dialogs, note, after, errors };
  },

  /** At a phone's width no page scrolls sideways. */
  async phone() {
    const context = await signedIn(plan.administrator, { width: 390, height: 844 });
    const widths = {};
    for (const path of PAGES) {
      const { page } = await open(context, path);
      await page.locator('#content[aria-busy="false"]').waitFor().catch((e) => {
        throw new Error(`/admin/${path}: ${e.message}`);
      });
      widths[path || 'overview'] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      await page.close();
    }
    await context.close();
    return { widths };
  },

  /** A PNG of each page at 1280 px. */
  async screenshots() {
    mkdirSync(plan.screenshots, { recursive: true });
    const context = await signedIn(plan.administrator);
    const saved = [];
    for (const path of PAGES) {
      const { page } = await open(context, path);
      await page.locator('#content[aria-busy="false"]').waitFor().catch((e) => {
        throw new Error(`/admin/${path}: ${e.message}`);
      });
      if (path === 'live') await page.locator('svg.chart polyline').first().waitFor({ timeout: 8000 }).catch(() => {});
      const file = join(plan.screenshots, `${path || 'overview'}.png`);
      await page.screenshot({ path: file, fullPage: true });
      saved.push(file);
      await page.close();
    }
    await context.close();
    return { files: saved };
  },
};

const report = {};
for (const name of plan.scenarios || []) {
  const started = Date.now();
  try {
    report[name] = { ok: true, ms: 0, ...(await scenarios[name]()) };
  } catch (e) {
    report[name] = { ok: false, error: String(e && e.stack ? e.stack : e) };
  }
  report[name].ms = Date.now() - started;
}
await browser.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
