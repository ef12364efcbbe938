// app.js - the console's entry point: sign-in (a token kept in sessionStorage, checked with
// GET /v1/whoami), the header with the token's name and role, and the hash router that draws
// one page at a time (#/overview, #/migrations, #/jobs, #/jobs/ID, #/plan, #/backups, #/drift,
// #/history). Leaving a page aborts its requests, streams and timers. Pages live in pages.js
// and job.js.
import { api, session, setUnauthorizedHandler } from './api.js';
import { clear } from './dom.js';
import { backups, drift, errorBox, history, jobs, migrations, overview, plan } from './pages.js';
import { job } from './job.js';

const PAGES = { overview, migrations, jobs, plan, backups, drift, history };
const $ = (id) => document.getElementById(id);
let current = null;

function showSignin(message) {
  $('signin').hidden = false;
  $('signin-error').hidden = !message;
  $('signin-error').textContent = message || '';
  $('token').focus();
}

// whoami: who the token is (or that reading is open without one). False when it is refused.
async function whoami() {
  try {
    const w = await api('/v1/whoami');
    session.name = w.name;
    session.role = w.role || 'none';
    session.readOpen = !!w.read_open;
    return true;
  } catch (e) {
    session.role = 'none';
    if (e.status === 401) return false;
    throw e;
  }
}

function shell() {
  const signedIn = session.role !== 'none';
  const reading = signedIn || session.readOpen;
  $('nav').hidden = !reading;
  $('who').hidden = !signedIn;
  $('who-name').textContent = session.name || '';
  $('who-role').textContent = session.role;
  $('signin').hidden = signedIn;
  if (!signedIn) $('signin-error').hidden = true;
  return reading;
}

function route() {
  if (current) current.abort();
  const page = $('page');
  if (!shell()) { clear(page); showSignin(); return; }
  const parts = (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);
  const name = parts[0];
  const fn = name === 'jobs' && parts[1] ? job : PAGES[name];
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  current = new AbortController();
  if (!fn) { clear(page, errorBox({ code: 'not_found', message: `no page ${name}` })); return; }
  document.title = `${name} · migrated console`;
  fn(page, { signal: current.signal, param: parts[1] }).catch((e) => {
    if (e.name !== 'AbortError') clear(page, errorBox(e));
  });
}

async function signIn(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  session.set(token);
  let ok;
  try { ok = await whoami(); } catch (e) { showSignin(e.message); return; }
  if (!ok || session.role === 'none') { session.set(''); showSignin('The daemon does not know this token.'); return; }
  $('token').value = '';
  if (!/^#\/./.test(location.hash)) location.hash = '#/overview';
  route();
}

function signOut() {
  session.set('');
  session.role = 'none';
  session.name = null;
  whoami().catch(() => false).finally(route);
}

async function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  setUnauthorizedHandler(() => {
    if (!session.token) return;
    session.set('');
    session.role = 'none';
    route();
    showSignin('The token was refused (revoked, or the daemon reloaded its tokens): sign in again.');
  });
  try {
    if (!(await whoami())) { session.set(''); await whoami(); } // a stale token: read as nobody
  } catch (e) {
    clear($('page'), errorBox(e));
    return;
  }
  route();
}

start();
