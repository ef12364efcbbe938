// tests/browser/console.test.mjs - the web console (/ui/) in a real browser: Debian's chromium
// driven by puppeteer-core against real daemons and a real PostgreSQL that
// scripts/browser-test.sh starts. Each test names the behaviour it proves; the output ends with
// "browser: N passed, N failed". Env (set by the harness): CONSOLE_OK (a daemon whose three
// migrations succeed, the second slowly), CONSOLE_BAD (one whose last migration fails with 22012
// and markup in its SQL, error and hint), CONSOLE_OPEN (read_auth = false), CONSOLE_RESUME (for
// the reconnect test), CONSOLE_CANCEL (one migration that sleeps a minute), CONSOLE_ADMIN / CONSOLE_READ (tokens named ops and mon), UI_DIR, SHOTS_DIR,
// AXE_JS (axe.min.js), CHROMIUM.
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const env = process.env;
const OK = env.CONSOLE_OK, BAD = env.CONSOLE_BAD, OPEN = env.CONSOLE_OPEN, RESUME = env.CONSOLE_RESUME, CANCEL = env.CONSOLE_CANCEL;
const ADMIN = env.CONSOLE_ADMIN, READ = env.CONSOLE_READ;
const MARKUP = '<img src=x onerror=alert(1)>';
const AXE = fs.readFileSync(env.AXE_JS, 'utf8');
const sel = (id) => `[data-testid="${id}"]`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
const figures = {};
let browser;

class Fail extends Error {}
function check(cond, msg) { if (!cond) throw new Fail(msg); }

async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

// A page with the watchers every test relies on: dialogs, console errors (an API answer >= 400
// logged as a failed resource is the console reading a status, not an error; a console file
// missing under /ui/ is), uncaught exceptions, requests leaving the daemon's origin, tokens in URLs.
async function open(base, { context } = {}) {
  const ctx = context || await browser.createBrowserContext();
  const page = await ctx.newPage();
  const origin = new URL(base).origin;
  const w = { dialogs: [], errors: [], foreign: [], tokenUrls: [], requests: 0 };
  page.on('dialog', (d) => { w.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => w.errors.push(`uncaught ${String(e.message || e).split('\n')[0]}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const u = (m.location() && m.location().url) || '';
    if (/^Failed to load resource: the server responded with a status of \d+/.test(m.text()) &&
        u.startsWith(`${origin}/`) && !u.startsWith(`${origin}/ui/`)) return;
    w.errors.push(`${m.text().split('\n')[0]} (${u})`);
  });
  page.on('request', (r) => {
    const u = r.url();
    w.requests++;
    if (!/^(data|blob|about):/.test(u) && new URL(u).origin !== origin) w.foreign.push(u);
    if ([ADMIN, READ].some((t) => u.includes(t))) w.tokenUrls.push(u.split('?')[0]);
  });
  await page.setViewport({ width: 1280, height: 800 });
  page.w = w;
  page.ctx = ctx;
  return page;
}

// What must hold on every page at every moment: no dialog, no console error, nothing foreign,
// no token in a URL, no event-handler attribute or script with alert( anywhere in the DOM.
async function sane(page, where) {
  const w = page.w;
  check(!w.dialogs.length, `${where}: a dialog opened: ${w.dialogs[0]}`);
  check(!w.errors.length, `${where}: console error: ${w.errors[0]}`);
  check(!w.foreign.length, `${where}: a request left the origin: ${w.foreign[0]}`);
  check(!w.tokenUrls.length, `${where}: a token in a URL: ${w.tokenUrls[0]}`);
  const bad = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('*')) {
      for (const a of el.attributes) if (/^on/i.test(a.name)) out.push(`<${el.localName} ${a.name}>`);
      if (el.localName === 'script' && (el.textContent.trim() || !/\.js$/.test(el.getAttribute('src') || ''))) out.push('an inline <script>');
      if (el.localName === 'img' && /^x$/.test(el.getAttribute('src') || '')) out.push('<img src=x>');
    }
    return out;
  });
  check(!bad.length, `${where}: markup became HTML: ${bad[0]}`);
}

const visible = (page, id) => page.$$eval(sel(id), (els) => els.filter((e) => e.checkVisibility()).length);
const textOf = (page, id) => page.$$eval(sel(id), (els) => els.filter((e) => e.checkVisibility()).map((e) => e.textContent.trim()));

async function signIn(page, base, token) {
  await page.goto(`${base}/ui/`, { waitUntil: 'load' });
  await until(() => visible(page, 'token-input'), 5000, 'the token input');
  await page.type(sel('token-input'), token);
  await page.click(sel('sign-in'));
  await until(async () => /^(ok|degraded|down)$/.test((await textOf(page, 'health-status'))[0] || ''), 5000, 'health-status');
}

async function go(page, hash, testid) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  if (testid) await until(() => visible(page, testid), 8000, `${testid} on ${hash}`);
  await page.waitForNetworkIdle({ idleTime: 150, timeout: 8000 }).catch(() => {});
}

async function axe(page, where) {
  await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length, target: v.nodes[0] && v.nodes[0].target.join(' ') }));
  });
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(!bad.length, `${where}: axe-core: ${bad.map((v) => `${v.id} (${v.impact}, ${v.n}x, ${v.target})`).join('; ')}`);
  figures.axe_pages = (figures.axe_pages || 0) + 1;
}

async function shoot(page, name) {
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewport({ width: w, height: h });
    await sleep(150);
    await page.screenshot({ path: path.join(env.SHOTS_DIR, `${name}-${w}x${h}.png`), fullPage: false });
  }
  await page.setViewport({ width: 1280, height: 800 });
  figures.screenshots = (figures.screenshots || 0) + 2;
}

async function rows(page) {
  return page.$$eval(sel('migration-row'), (els) => els.filter((e) => e.checkVisibility())
    .map((e) => [e.getAttribute('data-name'), e.getAttribute('data-state')]));
}

async function apiGet(base, p, token = ADMIN) {
  const r = await fetch(base + p, { headers: { Authorization: `Bearer ${token}` } });
  return r.json();
}

// Follows the job page until job-state is final; returns what it saw.
async function follow(page, ms = 60000) {
  const seen = [], runningDone = new Set();
  const end = Date.now() + ms;
  for (;;) {
    const s = await page.evaluate(() => {
      const st = document.querySelector('[data-testid="job-state"]');
      const pr = document.querySelector('[data-testid="job-progress"]');
      return { st: st && st.textContent.trim(), done: pr && +pr.getAttribute('data-done'), total: pr && +pr.getAttribute('data-total') };
    }).catch(() => ({}));
    if (s.st && seen[seen.length - 1] !== s.st) seen.push(s.st);
    if (s.st === 'running' && Number.isInteger(s.done)) runningDone.add(s.done);
    if (['succeeded', 'failed', 'cancelled', 'interrupted'].includes(s.st)) return { ...s, seen, runningDone: [...runningDone] };
    if (Date.now() > end) throw new Fail(`the job page never reached a final state (seen ${seen.join(' > ')})`);
    await sleep(80);
  }
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);
let admin; // the admin's page on CONSOLE_OK, shared by the tests that follow one another

test('static_routes_answer_with_strict_headers_etag_and_a_redirect', async () => {
  const r = await fetch(`${OK}/ui/`);
  check(r.status === 200, `/ui/ -> ${r.status}`);
  const csp = r.headers.get('content-security-policy') || '';
  for (const want of ["script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "default-src 'none'"])
    check(csp.includes(want), `CSP lacks ${want}: ${csp}`);
  check(!/unsafe-(inline|eval)/.test(csp), `CSP allows unsafe-*: ${csp}`);
  check(r.headers.get('x-content-type-options') === 'nosniff', 'no nosniff');
  check(r.headers.get('referrer-policy'), 'no Referrer-Policy');
  const etag = r.headers.get('etag');
  check(etag && r.headers.get('cache-control'), 'no ETag or Cache-Control');
  const again = await fetch(`${OK}/ui/`, { headers: { 'If-None-Match': etag } });
  check(again.status === 304, `If-None-Match -> ${again.status}, want 304`);
  const missing = await fetch(`${OK}/ui/nothing-here.js`);
  check(missing.status === 404, `unknown file -> ${missing.status}`);
  const root = await fetch(`${OK}/`, { redirect: 'manual' });
  check([301, 302, 303, 307, 308].includes(root.status) && /\/ui\/$/.test(root.headers.get('location') || ''), `/ -> ${root.status} ${root.headers.get('location')}`);
});

test('console_files_stay_under_150_KB_and_are_all_served', async () => {
  let total = 0;
  for (const f of fs.readdirSync(env.UI_DIR)) {
    const size = fs.statSync(path.join(env.UI_DIR, f)).size;
    total += size;
    const r = await fetch(`${OK}/ui/${f}`);
    const body = Buffer.from(await r.arrayBuffer());
    check(r.status === 200 && body.length === size, `/ui/${f} -> ${r.status}, ${body.length} bytes, want ${size}`);
  }
  figures.ui_bytes = total;
  check(total < 150 * 1024, `the console's files are ${total} bytes, over the 150 KB budget`);
});

test('sign_in_shows_the_token_name_and_role_and_keeps_the_token_out_of_urls', async () => {
  admin = await open(OK);
  await admin.goto(`${OK}/ui/`, { waitUntil: 'load' });
  await until(() => visible(admin, 'token-input'), 5000, 'the token input');
  await axe(admin, 'sign-in');
  await shoot(admin, 'signin');
  await admin.type(sel('token-input'), ADMIN);
  await admin.click(sel('sign-in'));
  await until(async () => /\bops\b/.test(await admin.evaluate(() => document.body.innerText)) &&
    /\badmin\b/.test(await admin.evaluate(() => document.body.innerText)), 5000, 'the name ops and role admin');
  const stored = await admin.evaluate(() => Object.values(sessionStorage));
  check(stored.includes(ADMIN), 'the token is not in sessionStorage');
  const local = await admin.evaluate(() => localStorage.length);
  check(local === 0, 'something was written to localStorage');
  await sane(admin, 'after sign-in');
});

test('overview_shows_health_and_counts_and_is_interactive_within_300_ms', async () => {
  await until(async () => (await textOf(admin, 'health-status'))[0] === 'ok', 5000, 'health ok');
  const text = await admin.evaluate(() => document.body.innerText);
  check(/pending\s+3/.test(text), 'the overview does not count 3 pending');
  check(await visible(admin, 'deploy-button'), 'no deploy button for the admin');
  // A fresh load, the token already in the tab: time from navigation start to health shown.
  const times = [];
  for (let i = 0; i < 3; i++) {
    await admin.goto('about:blank'); // a real load each time, not a same-document hash change
    await admin.goto(`${OK}/ui/#/overview`, { waitUntil: 'domcontentloaded' });
    const t = await admin.waitForFunction(() => {
      const e = document.querySelector('[data-testid="health-status"]');
      return e && e.textContent.trim() && document.querySelector('[data-testid="deploy-button"]') ? performance.now() : 0;
    }, { polling: 'raf', timeout: 5000 });
    times.push(Math.round(await t.jsonValue()));
  }
  figures.overview_interactive_ms = Math.min(...times);
  check(figures.overview_interactive_ms < 300, `overview interactive after ${times.join(', ')} ms, budget 300`);
  await axe(admin, 'overview');
  await shoot(admin, 'overview');
  await sane(admin, 'overview');
});

test('migrations_page_lists_every_migration_and_filters_by_state', async () => {
  await go(admin, '#/migrations', 'migration-row');
  const r = await rows(admin);
  check(r.length === 3 && r.every(([, s]) => s === 'pending'), `rows ${JSON.stringify(r)}`);
  await admin.select('#state-filter', 'applied');
  check((await rows(admin)).length === 0, 'the applied filter still shows pending rows');
  await admin.select('#state-filter', 'all');
  await axe(admin, 'migrations');
  await shoot(admin, 'migrations');
  await sane(admin, 'migrations');
});

test('plan_page_shows_statements_locks_and_the_data_preflight', async () => {
  await go(admin, '#/plan');
  const text = await until(async () => { const t = await admin.evaluate(() => document.body.innerText); return /Data preflight/.test(t) && t; }, 8000, 'the plan');
  check(/CREATE TABLE console_a/.test(text), 'no statement text on the plan page');
  check(/ROW EXCLUSIVE/.test(text), 'no lock level on the plan page');
  check(/Status:\s*ok/.test(text), 'no preflight status');
  await axe(admin, 'plan');
  await shoot(admin, 'plan');
  await sane(admin, 'plan');
});

test('deploy_from_the_console_runs_live_to_n_of_n_and_ends_succeeded', async () => {
  await go(admin, '#/overview', 'deploy-button');
  await admin.click(sel('deploy-button'));
  const ok = await until(async () => {
    const h = await admin.$(sel('confirm-button'));
    return h && !(await h.evaluate((e) => e.disabled)) && h;
  }, 10000, 'an enabled confirm button');
  const said = await admin.evaluate(() => document.getElementById('confirm').innerText);
  check(/20240102000000_seed/.test(said) && /backup/i.test(said), `the confirmation does not restate what happens: ${said.slice(0, 200)}`);
  await axe(admin, 'deploy confirmation');
  await shoot(admin, 'confirm');
  await ok.click({ count: 2 });
  const end = await follow(admin);
  check(end.st === 'succeeded', `the job ended ${end.st}`);
  check(end.seen.includes('running') || end.seen.includes('queued'), `never saw it live: ${end.seen.join(' > ')}`);
  check(end.done === 3 && end.total === 3, `progress ${end.done}/${end.total}, want 3/3`);
  check(end.runningDone.some((d) => d < 3), `no live progress while running: ${end.runningDone}`);
  const jobs = (await apiGet(OK, '/v1/jobs')).jobs;
  check(jobs.length === 1 && jobs[0].idempotency_key, `a double click made ${jobs.length} jobs (key ${jobs[0] && jobs[0].idempotency_key})`);
  await sleep(500);
  const steps = await admin.$$eval(sel('job-step'), (els) => els.length);
  const job = await apiGet(OK, `/v1/jobs/${jobs[0].id}`);
  check(steps === job.steps.length, `the page shows ${steps} steps, the daemon has ${job.steps.length}`);
  figures.live_progress = end.runningDone;
  await axe(admin, 'job page');
  await shoot(admin, 'job');
  await sane(admin, 'job page');
});

test('jobs_backups_drift_and_history_pages_render_after_a_deploy', async () => {
  await go(admin, '#/jobs');
  await until(async () => /deploy/.test(await admin.evaluate(() => document.querySelector('#page').innerText)), 5000, 'the job list');
  await axe(admin, 'jobs'); await shoot(admin, 'jobs'); await sane(admin, 'jobs');
  await go(admin, '#/backups');
  await until(async () => /pre-deploy/.test(await admin.evaluate(() => document.querySelector('#page').innerText)), 5000, 'the pre-deploy backup');
  await axe(admin, 'backups'); await shoot(admin, 'backups'); await sane(admin, 'backups');
  await go(admin, '#/drift');
  await until(async () => /drift/.test(await admin.evaluate(() => document.querySelector('#page').innerText)), 8000, 'the drift verdict');
  await admin.evaluate(() => [...document.querySelectorAll('button')].find((b) => /Check now/.test(b.textContent)).click());
  await until(async () => /shadow database/.test(await admin.evaluate(() => document.querySelector('#page').innerText)), 20000, 'the shadow comparison');
  await axe(admin, 'drift'); await shoot(admin, 'drift'); await sane(admin, 'drift');
  await go(admin, '#/history');
  await until(() => admin.$('svg.timeline rect'), 5000, 'an SVG bar on the timeline');
  await axe(admin, 'history'); await shoot(admin, 'history'); await sane(admin, 'history');
});

test('a_read_token_sees_no_deploy_or_admin_action_on_any_page', async () => {
  const p = await open(OK);
  await signIn(p, OK, READ);
  check(/\bmon\b/.test(await p.evaluate(() => document.body.innerText)), 'the read token\'s name is not shown');
  for (const hash of ['#/overview', '#/migrations', '#/jobs', '#/plan', '#/backups', '#/drift', '#/history']) {
    await go(p, hash);
    await sleep(200);
    check(!(await visible(p, 'deploy-button')), `a deploy button for the read token on ${hash}`);
    const acts = await p.evaluate(() => [...document.querySelectorAll('#page button')].filter((b) => b.checkVisibility())
      .map((b) => b.textContent).filter((t) => /Restore|Take a backup|Mark|Roll back|Cancel job/.test(t)));
    check(!acts.length, `the read token sees ${acts.join(', ')} on ${hash}`);
  }
  await sane(p, 'read token');
  await p.ctx.close();
});

test('a_failing_migration_shows_sqlstate_line_and_hint_and_its_markup_as_text', async () => {
  const p = await open(BAD);
  await signIn(p, BAD, ADMIN);
  await go(p, '#/migrations', 'deploy-button');
  await p.click(sel('deploy-button'));
  const ok = await until(async () => { const h = await p.$(sel('confirm-button')); return h && !(await h.evaluate((e) => e.disabled)) && h; }, 10000, 'confirm');
  await ok.click();
  const end = await follow(p);
  check(end.st === 'failed', `ended ${end.st}, want failed`);
  check(end.total === 2 && end.done === 1, `progress ${end.done}/${end.total}, want 1/2`);
  const errs = await until(async () => { const t = await textOf(p, 'error-message'); return t.some((x) => x.includes('22012')) && t; }, 5000, 'error-message with 22012');
  const e = errs.find((x) => x.includes('22012'));
  check(/line 3\b/.test(e), `no line in ${e}`);
  check(e.includes(`Hint: see ${MARKUP}`), `no hint (as text) in ${e}`);
  check(e.includes(`${MARKUP} <script>alert(3)</script>`), `the error text is not shown as text: ${e}`);
  await sleep(500);
  await sane(p, 'failed job page');
  await axe(p, 'failed job page');
  await shoot(p, 'job-failed');
  await go(p, '#/migrations', 'migration-row');
  check((await rows(p)).some(([n, s]) => n === '20240102000000_markup' && s === 'failed'), 'the failed row is not data-state=failed');
  await go(p, '#/plan');
  await sleep(300);
  await sane(p, 'plan after the failure');
  await go(p, '#/overview', 'health-status');
  await until(async () => (await textOf(p, 'health-status'))[0] === 'degraded', 8000, 'health degraded after the failure');
  await sane(p, 'overview after the failure');
  await p.ctx.close();
});

test('reading_works_without_a_token_when_read_auth_is_off', async () => {
  const p = await open(OPEN);
  await p.goto(`${OPEN}/ui/`, { waitUntil: 'load' });
  await until(async () => /^(ok|degraded)$/.test((await textOf(p, 'health-status'))[0] || ''), 5000, 'health without a token');
  check(!(await visible(p, 'deploy-button')), 'a deploy button without a token');
  await go(p, '#/migrations', 'migration-row');
  check((await rows(p)).length === 3, 'no migration rows without a token');
  await sane(p, 'read_auth = false');
  await p.ctx.close();
});

// Clicks the visible button whose text starts with label inside root (a row, the page).
async function clickButton(page, label, rootSel = '#page') {
  const ok = await page.evaluate((label, rootSel) => {
    const b = [...document.querySelectorAll(`${rootSel} button`)].find((e) => e.checkVisibility() && e.textContent.trim().startsWith(label));
    if (b) b.click();
    return !!b;
  }, label, rootSel);
  check(ok, `no visible "${label}" button in ${rootSel}`);
}

async function confirmAndFollow(page, mustSay) {
  const ok = await until(async () => { const h = await page.$(sel('confirm-button')); return h && !(await h.evaluate((e) => e.disabled)) && h; }, 10000, 'an enabled confirm button');
  const said = await page.evaluate(() => document.getElementById('confirm').innerText);
  check(mustSay.test(said), `the confirmation does not restate what happens (${mustSay}): ${said.slice(0, 160)}`);
  await ok.click();
  await until(async () => /#\/jobs\/./.test(await page.evaluate(() => location.hash)), 10000, 'the job page');
  return follow(page);
}

test('admin_actions_resolve_backup_restore_and_rollback_run_as_jobs_after_a_confirmation', async () => {
  const p = await open(BAD);
  await signIn(p, BAD, ADMIN);
  // resolve the failed migration as rolled back
  await go(p, '#/migrations', 'migration-row');
  await clickButton(p, 'Mark rolled back', '[data-testid="migration-row"][data-name="20240102000000_markup"]');
  let end = await confirmAndFollow(p, /_prisma_migrations/);
  check(end.st === 'succeeded', `the resolve job ended ${end.st}`);
  await go(p, '#/migrations', 'migration-row');
  const st = (await rows(p)).find(([n]) => n === '20240102000000_markup')[1];
  check(st !== 'failed', `the resolved migration is still ${st}`);
  // take a backup, then restore it: the confirm button waits for the database's name
  await go(p, '#/backups');
  await clickButton(p, 'Take a backup');
  end = await confirmAndFollow(p, /pg_dump/);
  check(end.st === 'succeeded', `the backup job ended ${end.st}`);
  await go(p, '#/backups');
  await until(async () => /manual/.test(await p.evaluate(() => document.querySelector('#page').innerText)), 5000, 'the manual backup');
  await clickButton(p, 'Restore');
  await until(() => p.$('#confirm-typed'), 5000, 'the database name field');
  check(await p.$eval(sel('confirm-button'), (e) => e.disabled), 'restore can be confirmed without typing the database name');
  await p.type('#confirm-typed', 'console_ba');
  check(await p.$eval(sel('confirm-button'), (e) => e.disabled), 'restore can be confirmed with a wrong name');
  await p.type('#confirm-typed', 'd');
  await axe(p, 'restore confirmation');
  end = await confirmAndFollow(p, /every write since then is discarded/);
  check(end.st === 'succeeded', `the restore job ended ${end.st}`);
  await sane(p, 'admin actions (bad)');
  await p.ctx.close();
  // on the deployed daemon: roll back by down.sql to the second migration
  const q = await open(OK);
  await signIn(q, OK, ADMIN);
  await go(q, '#/migrations', 'migration-row');
  await clickButton(q, 'Roll back to here', '[data-testid="migration-row"][data-name="20240102000000_seed"]');
  end = await confirmAndFollow(q, /20240103000000_more/);
  check(end.st === 'succeeded', `the rollback job ended ${end.st}`);
  await go(q, '#/migrations', 'migration-row');
  const more = (await rows(q)).find(([n]) => n === '20240103000000_more')[1];
  check(more !== 'applied', `20240103000000_more is still ${more} after the rollback`);
  await sane(q, 'admin actions (ok)');
  await q.ctx.close();
});

test('a_dry_run_changes_nothing_and_a_running_deploy_is_cancelled_from_its_page', async () => {
  const p = await open(CANCEL);
  await signIn(p, CANCEL, ADMIN);
  await go(p, '#/overview', 'deploy-button');
  await p.click(sel('deploy-button'));
  await until(async () => { const h = await p.$(sel('confirm-button')); return h && !(await h.evaluate((e) => e.disabled)); }, 10000, 'confirm');
  await p.click('#deploy-dry');
  check(/^Dry run$/.test(await p.$eval(sel('confirm-button'), (e) => e.textContent.trim())), 'the confirm button does not say Dry run');
  await p.click(sel('confirm-button'));
  let end = await follow(p);
  check(end.st === 'succeeded', `the dry run ended ${end.st}`);
  const status = await apiGet(CANCEL, '/v1/status');
  check(status.migrations.every((m) => m.state === 'pending'), 'the dry run applied something');
  // a real deploy, cancelled from its page while its migration sleeps
  await go(p, '#/overview', 'deploy-button');
  await p.click(sel('deploy-button'));
  const ok = await until(async () => { const h = await p.$(sel('confirm-button')); return h && !(await h.evaluate((e) => e.disabled)) && h; }, 10000, 'confirm');
  await ok.click();
  await until(async () => (await textOf(p, 'job-state'))[0] === 'running' &&
    /now 20240101000000_wait/.test(await p.$eval(sel('job-progress'), (e) => e.textContent)), 15000, 'the migration running');
  await clickButton(p, 'Cancel job');
  const c = await until(async () => { const h = await p.$(sel('confirm-button')); return h && !(await h.evaluate((e) => e.disabled)) && h; }, 5000, 'confirm');
  check(/cancelled on the server/.test(await p.evaluate(() => document.getElementById('confirm').innerText)), 'the cancel confirmation does not say what happens');
  await c.click();
  end = await follow(p, 20000);
  check(end.st === 'cancelled', `the cancelled deploy ended ${end.st}`);
  const after = await apiGet(CANCEL, '/v1/status');
  check(!after.migrations.some((m) => m.state === 'applied'), 'the cancelled migration is applied');
  await sane(p, 'dry run and cancel');
  await p.ctx.close();
});

test('a_dropped_event_stream_resumes_with_last_event_id', async () => {
  const r = await fetch(`${RESUME}/v1/deploy`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}`, 'Idempotency-Key': 'resume-1' } });
  const job = await r.json();
  check(r.status === 202, `POST /v1/deploy -> ${r.status}`);
  const p = await open(RESUME);
  await signIn(p, RESUME, ADMIN);
  await p.setRequestInterception(true);
  const asked = [];
  p.on('request', async (req) => {
    if (!req.url().endsWith('/events')) { req.continue(); return; }
    const last = req.headers()['last-event-id'] || null;
    asked.push(last);
    if (asked.length > 1) { req.continue(); return; }
    // the first connection: the job's first two events, then the connection ends before the end
    const upstream = await fetch(req.url(), { headers: { Authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(20000) });
    const reader = upstream.body.getReader();
    let text = '';
    while ((text.match(/\n\n/g) || []).length < 4) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    reader.cancel().catch(() => {});
    const blocks = text.split('\n\n').filter((b) => /^id: /m.test(b)).slice(0, 2);
    req.respond({ status: 200, contentType: 'text/event-stream', body: `retry: 200\n\n${blocks.join('\n\n')}\n\n` });
  });
  await go(p, `#/jobs/${job.id}`, 'job-state');
  const end = await follow(p);
  check(end.st === 'succeeded', `the job page ended ${end.st} after the dropped stream`);
  check(asked.length >= 2 && asked[0] === null && asked[1] === '2', `event requests sent Last-Event-ID ${JSON.stringify(asked)}, want [null, "2"]`);
  await sleep(300);
  const steps = await p.$$eval(sel('job-step'), (els) => els.length);
  const full = await apiGet(RESUME, `/v1/jobs/${job.id}`);
  check(steps === full.steps.length, `after resuming the page shows ${steps} steps, the daemon ${full.steps.length}`);
  await sane(p, 'resumed job page');
  await p.ctx.close();
});

const watchdog = setTimeout(() => { console.log('FAIL the browser tests took over 280 s'); console.log('browser: 0 passed, 1 failed'); process.exit(1); }, 280000);
try {
  browser = await puppeteer.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-proxy-server', '--no-first-run'],
  });
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      results.push([name, true]);
      console.log(`PASS ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push([name, false]);
      console.log(`FAIL ${name}: ${e instanceof Fail ? e.message : String(e && e.stack || e).split('\n').slice(0, 3).join(' | ')}`);
      if (admin) await admin.screenshot({ path: path.join(env.SHOTS_DIR, `failure-${name}.png`) }).catch(() => {});
    }
  }
} catch (e) {
  console.log(`FAIL browser: ${String(e.message || e).split('\n')[0]}`);
  results.push(['launch', false]);
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
console.log(`figures: ${JSON.stringify(figures)}`);
const passed = results.filter((r) => r[1]).length;
console.log(`browser: ${passed} passed, ${results.length - passed} failed`);
process.exitCode = results.length - passed ? 1 : 0;
