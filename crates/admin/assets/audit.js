// Audit: who changed what, when, from what to what (GET audit), newest first, paged with "Older entries".
import { el, get, render, start, table, when } from './common.js';

const show = (v) => el('code', {}, v === undefined ? '' : JSON.stringify(v));

start(async () => {
  const rows = [];
  const more = el('button', { type: 'button', class: 'secondary', hidden: true }, 'Older entries');
  const holder = el('div');
  let before = null;
  async function page() {
    const answer = await get(`/audit?limit=50${before ? `&before=${before}` : ''}`);
    for (const e of answer.entries || []) rows.push([when(e.at), e.who, e.action, e.target, show(e.before), show(e.after)]);
    holder.replaceChildren(table('Audit entries, newest first', ['When', 'Who', 'Action', 'Target', 'Before', 'After'], rows, 'nothing has been changed yet.'));
    before = answer.next_before;
    more.hidden = !before;
  }
  more.addEventListener('click', () => page());
  await page();
  render(holder, el('div', { class: 'actions' }, more));
});
