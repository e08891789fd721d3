// Lockouts: the accounts and addresses locked out after failed sign-ins (GET lockouts), each with Unlock.
import { alert, el, get, render, send, start, status, table, when } from './common.js';

const note = status();

async function load(message) {
  const answer = await get('/lockouts');
  const unlock = (kind, id, label) => {
    const button = el('button', { type: 'button', class: 'secondary', 'aria-label': `Unlock ${label}` }, 'Unlock');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await send('DELETE', `/lockouts/${kind}/${encodeURIComponent(id)}`);
        await load(`Unlocked ${label}.`);
      } catch (e) {
        button.disabled = false;
        alert(`Not unlocked: ${e.message}`);
      }
    });
    return button;
  };
  const users = (answer.users || []).map((u) => [u.name, String(u.failures), u.locked_until ? when(u.locked_until) : 'not locked', unlock('users', u.name, u.name)]);
  const ips = (answer.ips || []).map((i) => [i.ip, String(i.failures), i.locked_until ? when(i.locked_until) : 'not locked', unlock('ips', i.ip, i.ip)]);
  note.textContent = message || '';
  const refresh = el('button', { type: 'button', class: 'secondary' }, 'Refresh');
  refresh.addEventListener('click', () => load('Refreshed.'));
  render(
    el('p', {}, 'Accounts and client addresses with failed sign-ins in the current window. Unlocking clears the counter; the next wrong password counts again.'),
    el('h2', {}, 'Users'),
    table('Locked-out users', ['User', 'Failures', 'Locked until', 'Action'], users, 'no user is locked out.'),
    el('h2', {}, 'Addresses'),
    table('Locked-out addresses', ['Address', 'Failures', 'Locked until', 'Action'], ips, 'no address is locked out.'),
    el('div', { class: 'actions' }, refresh), note,
  );
}

start(() => load());
