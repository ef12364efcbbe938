// pages.js - the console's pages but the job page (job.js): Overview, Migrations, Jobs, Plan,
// Backups, Drift, History, and the actions behind confirmations (deploy, resolve, rollback,
// restore, take a backup). Each page is a function (el, {signal}) that fills el from the API;
// the router aborts signal when the page is left. Not for routing or sign-in (app.js).
import { api, newKey, session } from './api.js';
import { badge, clear, facts, fmtAge, fmtBytes, fmtMs, fmtTime, h, svg, table } from './dom.js';

// Totals the deploy dialog knew, for the job page until the job's preflight step says it.
export const expectedTotals = new Map();

export function errorBox(e, props = {}) {
  const d = (e && e.detail) || {};
  return h('div', { class: 'error', role: 'alert', testid: 'error-message', ...props },
    h('strong', null, e && e.code ? `${e.code}: ` : 'error: '), e ? e.message : 'unknown error',
    d.sqlstate && h('div', null, `SQLSTATE ${d.sqlstate}`),
    d.prisma_code && h('div', null, `Prisma ${d.prisma_code}`),
    d.hint && h('div', { class: 'hint' }, `Hint: ${d.hint}`));
}

function section(title, ...kids) {
  return h('section', { class: 'card' }, h('h2', null, title), kids);
}

function loading() { return h('p', { class: 'muted' }, 'Loading…'); }

// Fills a card's body from an async function; an API error becomes an error box in its place.
async function fill(el, fn) {
  try { clear(el, await fn()); } catch (e) { if (e.name !== 'AbortError') clear(el, errorBox(e)); }
}

function targetDb(target) { // "user@host:port/db" -> "db"
  const s = String(target || '');
  return s.includes('/') ? s.slice(s.lastIndexOf('/') + 1) : s;
}

/* ---------- the confirmation dialog ---------- */

// confirmAction: opens the dialog restating what will happen. load() may add what it has to
// read first (the plan); the confirm button stays disabled until then, and until the typed text
// equals typeToConfirm. One Idempotency-Key per confirmation: a double click sends one request.
export function confirmAction({ title, body, okLabel = 'Confirm', load, typeToConfirm, run, after }) {
  const dlg = document.getElementById('confirm');
  const ok = document.getElementById('confirm-ok');
  const errEl = document.getElementById('confirm-error');
  const form = document.getElementById('confirm-form');
  const bodyEl = document.getElementById('confirm-body');
  let key = newKey(), ready = !load, typed = !typeToConfirm, busy = false;
  const extra = h('div');
  const sync = () => { ok.disabled = !(ready && typed) || busy; };
  document.getElementById('confirm-title').textContent = title;
  ok.textContent = okLabel;
  errEl.hidden = true;
  clear(bodyEl, body, extra);
  if (typeToConfirm) {
    const input = h('input', { id: 'confirm-typed', type: 'text', autocomplete: 'off', spellcheck: 'false' });
    input.addEventListener('input', () => { typed = input.value === typeToConfirm; sync(); });
    bodyEl.append(h('p', null, h('label', { for: 'confirm-typed' }, 'Type the database name ',
      h('code', null, typeToConfirm), ' to confirm')), input);
  }
  const state = { dryRun: false, setLabel: (t) => { ok.textContent = t; } };
  sync();
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    if (busy || ok.disabled) return;
    busy = true; sync();
    try {
      const res = await run(key, state);
      dlg.close();
      if (after) after(res);
    } catch (e) {
      errEl.hidden = false;
      const running = e.detail && e.detail.job && e.detail.job.id; // 409: the job that runs now
      clear(errEl, errorBox(e, { testid: null, role: null }),
        running && h('a', { href: `#/jobs/${encodeURIComponent(running)}`, on: { click: () => dlg.close() } }, 'Open the job that runs now'));
      key = newKey(); // the request was refused: another click is another attempt
    } finally { busy = false; sync(); }
  };
  document.getElementById('confirm-cancel').onclick = () => dlg.close();
  dlg.showModal();
  if (load) {
    extra.append(loading());
    load(state).then((nodes) => { clear(extra, nodes); ready = true; sync(); },
      (e) => { clear(extra, errorBox(e)); });
  }
}

function jobStarted(job) {
  if (job && job.id) location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
}

export function deployButton() {
  if (!session.can('deploy')) return null;
  return h('button', { type: 'button', testid: 'deploy-button', on: { click: openDeploy } }, 'Deploy pending migrations…');
}

function openDeploy() {
  let pending = 0;
  confirmAction({
    title: 'Deploy pending migrations',
    okLabel: 'Deploy',
    body: [h('p', null, 'This applies every pending migration below, in order, under Prisma\'s advisory lock. ' +
      'A pg_dump backup is taken first (unless backup_before_deploy is off); the deploy stops at the first failure, ' +
      'which stays recorded as failed until it is resolved.')],
    load: async (state) => {
      const [plan, status] = await Promise.all([api('/v1/plan'), api('/v1/status')]);
      if (!plan.would_deploy) throw Object.assign(new Error((plan.error && plan.error.error && plan.error.error.message) ||
        'a deploy would be refused now'), { code: 'refused', detail: (plan.error && plan.error.error && plan.error.error.detail) || {} });
      pending = (plan.planned || []).length;
      const pf = plan.preflight || {};
      const dry = h('input', { type: 'checkbox', id: 'deploy-dry' });
      dry.addEventListener('change', () => { state.dryRun = dry.checked; state.setLabel(dry.checked ? 'Dry run' : 'Deploy'); });
      return [
        facts([['Database', status.database && status.database.target], ['Pending', String(pending)],
          ['Data preflight', pf.status ? `${pf.status} (${pf.failed || 0} failing of ${pf.checks || 0} checks)` : 'not run']]),
        pending ? h('ol', { class: 'plan-list' }, (plan.planned || []).map((m) =>
          h('li', null, h('code', null, m.name), ` — ${m.mode}, ${m.statements} statement${m.statements === 1 ? '' : 's'}`)))
          : h('p', null, 'Nothing is pending: the job will succeed without changing anything.'),
        pf.status === 'fails' ? h('p', { class: 'warn' }, 'The data preflight finds rows that make a statement fail: see the Plan page.') : null,
        h('p', null, dry, ' ', h('label', { for: 'deploy-dry' }, 'Dry run only: check and plan, change nothing')),
      ];
    },
    run: async (key, state) => {
      const job = await api('/v1/deploy', { method: 'POST', body: state.dryRun ? { dry_run: true } : {}, key });
      if (job && job.id) expectedTotals.set(job.id, pending);
      return job;
    },
    after: jobStarted,
  });
}

function openResolve(name, as) {
  const what = as === 'applied'
    ? 'records it as applied without running it: say so only when its changes are in the database already.'
    : 'records it as rolled back: nothing runs on the database, and the next deploy applies it again.';
  confirmAction({
    title: `Resolve ${name} as ${as}`,
    okLabel: `Mark ${as}`,
    body: [h('p', null, 'Like prisma migrate resolve, this changes only the history table (_prisma_migrations): it ', what)],
    run: (key) => api('/v1/resolve', { method: 'POST', body: { migration: name, as }, key }),
    after: jobStarted,
  });
}

function openRollback(to, after) {
  confirmAction({
    title: `Roll back to ${to}`,
    okLabel: 'Roll back',
    body: [h('p', null, 'This runs the down.sql of each migration applied after ', h('code', null, to),
      ', newest first, each in one transaction with the history update that records it rolled back:'),
    after.length ? h('ol', null, after.map((n) => h('li', null, h('code', null, n)))) : h('p', null, '(none)'),
    h('p', null, 'A migration without down.sql makes the daemon refuse the whole rollback before anything runs.')],
    run: (key) => api('/v1/rollback', { method: 'POST', body: { strategy: 'down', to }, key }),
    after: jobStarted,
  });
}

function openBackup() {
  confirmAction({
    title: 'Take a backup',
    okLabel: 'Take backup',
    body: [h('p', null, 'This runs pg_dump (custom format) of the database into the backup folder now, as a job; ' +
      'retention (backup_keep, backup_keep_within) may then remove the oldest backups.')],
    run: (key) => api('/v1/backups', { method: 'POST', body: {}, key }),
    after: jobStarted,
  });
}

function openRestore(b, dbName) {
  confirmAction({
    title: `Restore backup ${b.id}`,
    okLabel: 'Restore',
    typeToConfirm: dbName,
    body: [h('p', null, `This replaces the database ${dbName} with its state of ${fmtTime(b.created_at)} (${fmtAge(b.created_at)}): ` +
      'every write since then is discarded. A safety backup is taken first.'),
    facts([['Last migration then', b.head || 'none'], ['Size', fmtBytes(b.size_bytes)], ['Kind', b.kind]])],
    run: (key) => api('/v1/rollback', { method: 'POST', body: { strategy: 'restore', backup: b.id, confirm: true }, key }),
    after: jobStarted,
  });
}

/* ---------- Overview ---------- */

function checkItem(c) {
  const hint = c.hint || (c.error && c.error.hint);
  return h('li', { class: 'check' }, badge(c.status), ' ', h('strong', null, c.name),
    c.message && h('div', null, c.message), hint && h('div', { class: 'hint' }, `Hint: ${hint}`),
    c.name === 'database' && c.latency_ms !== undefined && h('div', { class: 'muted' }, `${c.latency_ms} ms, ${c.server_version || ''}`));
}

export async function overview(el) {
  const health = h('div', null, loading()), counts = h('div', null, loading()), job = h('div', null, loading());
  const backup = h('div', null, loading()), lock = h('div', null, loading()), drift = h('div', null, loading());
  clear(el, h('h1', null, 'Overview'), h('div', { class: 'grid' },
    section('Health', health), section('Migrations', counts), section('Last job', job),
    section('Migration lock', lock), section('Drift', drift), section('Last backup', backup)));
  const hp = api('/v1/health', { okStatuses: [503] });
  const rp = api('/readyz', { okStatuses: [503] }).catch(() => null);
  await Promise.all([
    fill(health, async () => {
      const [hd, rd] = await Promise.all([hp, rp]);
      return [h('p', { class: 'big' }, 'Status: ', h('span', { testid: 'health-status', class: `badge s-${hd.status}` }, hd.status)),
        rd && h('p', null, rd.ready ? 'Ready: the schema is up to date.' : 'Not ready: ', !rd.ready && (rd.reasons || []).join('; ')),
        h('ul', { class: 'checks' }, (hd.checks || []).map(checkItem)),
        h('p', { class: 'muted' }, `Probed ${fmtAge(hd.probed_at)}`)];
    }),
    fill(lock, async () => {
      const c = ((await hp).checks || []).find((x) => x.name === 'migration_lock');
      if (!c) return h('p', null, 'Unknown (the database is not reachable).');
      if (!c.held) return h('p', null, 'Free: no session holds Prisma\'s advisory lock.');
      const o = c.holder || {};
      return facts([['Held by', `pid ${o.pid ?? '?'} (${o.application_name || 'no application_name'})`],
        ['Session age', o.session_age_s !== undefined ? fmtMs(o.session_age_s * 1000) : '—'], ['State', o.state]]);
    }),
    fill(drift, async () => {
      const c = ((await hp).checks || []).find((x) => x.name === 'drift');
      return [c ? [badge(c.status), ' ', c.message || 'no drift at the last check'] : h('p', null, 'No periodic drift check is configured.'),
        h('p', null, h('a', { href: '#/drift' }, 'Open the drift page'))];
    }),
    fill(counts, async () => {
      const s = await api('/v1/status');
      const sum = s.summary || {};
      return [facts(Object.entries(sum).map(([k, v]) => [k.replace('_', ' '), String(v)])),
        h('p', null, s.up_to_date ? 'Up to date.' : `${sum.pending || 0} pending.`),
        sum.pending ? deployButton() : null];
    }),
    fill(job, async () => {
      const j = ((await api('/v1/jobs?limit=1')).jobs || [])[0];
      if (!j) return h('p', null, 'No job yet.');
      return [h('p', null, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, `${j.kind} ${j.id.slice(0, 8)}`), ' ', badge(j.state)),
        facts([['Created', fmtAge(j.created_at)], ['By', j.requested_by || '—']]),
        j.error && h('p', { class: 'error-text' }, j.error.message)];
    }),
    fill(backup, async () => {
      const b = ((await api('/v1/backups')).backups || [])[0];
      if (!b) return h('p', null, 'No backup yet.');
      return facts([['Taken', `${fmtAge(b.created_at)} (${b.kind})`], ['Size', fmtBytes(b.size_bytes)], ['Head', b.head || 'none']]);
    }),
  ]);
}

/* ---------- Migrations ---------- */

function checksumState(m) {
  if (!m.recorded_checksum) return '—';
  return m.recorded_checksum === m.checksum ? 'matches' : 'edited since applied';
}

export async function migrations(el) {
  const body = h('div', null, loading());
  const filter = h('select', { id: 'state-filter' }, ['all', 'applied', 'pending', 'failed', 'rolled_back', 'modified', 'missing', 'running']
    .map((s) => h('option', { value: s }, s)));
  clear(el, h('h1', null, 'Migrations'), h('p', null, h('label', { for: 'state-filter' }, 'Show '), filter), body);
  await fill(body, async () => {
    const s = await api('/v1/status');
    const ms = s.migrations || [];
    const applied = ms.filter((m) => m.state === 'applied').map((m) => m.name);
    const rows = ms.map((m) => {
      const acts = [];
      if (session.can('admin') && m.state === 'failed') {
        acts.push(h('button', { type: 'button', class: 'small', on: { click: () => openResolve(m.name, 'rolled-back') } }, 'Mark rolled back'),
          h('button', { type: 'button', class: 'small secondary', on: { click: () => openResolve(m.name, 'applied') } }, 'Mark applied'));
      }
      const later = applied.slice(applied.indexOf(m.name) + 1);
      if (session.can('admin') && m.state === 'applied' && later.length)
        acts.push(h('button', { type: 'button', class: 'small secondary', on: { click: () => openRollback(m.name, later.slice().reverse()) } }, 'Roll back to here'));
      return h('tr', { testid: 'migration-row', data: { name: m.name, state: m.state } },
        h('td', null, h('code', null, m.name), m.explanation && h('div', { class: 'muted' }, m.explanation)),
        h('td', null, badge(m.state)), h('td', null, fmtTime(m.finished_at)), h('td', null, fmtMs(m.duration_ms)),
        h('td', null, checksumState(m)), h('td', null, m.has_down_sql ? 'yes' : 'no'), h('td', null, acts));
    });
    filter.addEventListener('change', () => {
      for (const r of rows) r.hidden = filter.value !== 'all' && r.getAttribute('data-state') !== filter.value;
    });
    const sum = s.summary || {};
    return [h('p', null, `${sum.total || 0} migrations in ${s.migrations_dir || 'the folder'}; ${sum.pending || 0} pending. `,
      sum.pending ? deployButton() : null),
    table(['Migration', 'State', 'Applied at', 'Duration', 'Checksum', 'down.sql', 'Actions'], rows)];
  });
}

/* ---------- Jobs ---------- */

export async function jobs(el) {
  const body = h('div', null, loading());
  clear(el, h('h1', null, 'Jobs'), body);
  await fill(body, async () => {
    const list = (await api('/v1/jobs?limit=100')).jobs || [];
    if (!list.length) return h('p', null, 'No job yet.');
    return table(['Job', 'Kind', 'State', 'Created', 'Duration', 'By'], list.map((j) => h('tr', null,
      h('td', null, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id.slice(0, 8))), h('td', null, j.kind),
      h('td', null, badge(j.state)), h('td', null, fmtTime(j.created_at)),
      h('td', null, j.started_at && j.finished_at ? fmtMs(Date.parse(j.finished_at) - Date.parse(j.started_at)) : '—'),
      h('td', null, j.requested_by || '—'))));
  });
}

/* ---------- Plan ---------- */

function preflightView(pf) {
  if (!pf) return h('p', null, 'No data preflight in this plan (a deploy would be refused anyway).');
  return [h('p', null, 'Status: ', badge(pf.status), ` ${pf.checks || 0} checks, ${pf.failed || 0} failing, ${pf.skipped || 0} skipped`,
    pf.reason ? ` (${pf.reason})` : ''),
  (pf.findings || []).length ? table(['Migration', 'Line', 'Check', 'Relation', 'Status', 'Rows', 'What', 'Hint'],
    pf.findings.map((f) => h('tr', null, h('td', null, h('code', null, f.migration)), h('td', null, f.line),
      h('td', null, f.check), h('td', null, f.relation || '—'), h('td', null, badge(f.status)),
      h('td', null, f.violating_rows ?? '—', f.estimate ? ' (estimate)' : ''), h('td', null, f.message),
      h('td', null, f.hint || '—')))) : null];
}

function lockText(l) {
  const rows = typeof l.rows_estimate === 'number' ? `, ~${l.rows_estimate.toLocaleString()} rows` : '';
  const size = l.exists === false ? 'created by this deploy' : `${fmtBytes(l.size_bytes)}${rows}`;
  return h('li', null, h('strong', null, l.mode), ` on ${l.relation || '?'} (${size})`,
    l.rewrite ? ', rewrite' : '', l.scan ? ', scan' : '', l.why ? `: ${l.why}` : '', l.blocks ? h('div', { class: 'muted' }, l.blocks) : null);
}

function planMigration(m) {
  const stmts = (m.statements || []).map((s) => h('tr', null, h('td', null, s.line), h('td', null, h('pre', null, s.statement)),
    h('td', null, (s.locks || []).length ? h('ul', null, s.locks.map(lockText)) : 'none')));
  const lint = (m.lint || []).length
    ? h('ul', { class: 'lint' }, m.lint.map((f) => h('li', null, badge(f.severity), ` line ${f.line}: ${f.rule}: ${f.message}`,
      f.safe_pattern && h('div', { class: 'hint' }, `Safe pattern: ${f.safe_pattern}`))))
    : h('p', { class: 'muted' }, 'No lint finding.');
  return section(m.name, h('p', { class: 'muted' }, `mode: ${m.mode}${m.mode_reason ? ` (${m.mode_reason})` : ''}`),
    table(['Line', 'Statement', 'Locks'], stmts), lint);
}

export async function plan(el) {
  const body = h('div', null, loading());
  clear(el, h('h1', null, 'Plan'), body);
  await fill(body, async () => {
    const p = await api('/v1/plan');
    const err = p.error && p.error.error;
    return [
      h('p', null, p.would_deploy ? `A deploy would apply ${p.pending || 0} of ${p.found || 0} migrations.` : 'A deploy would be refused now.',
        ' ', p.would_deploy && p.pending ? deployButton() : null),
      err ? errorBox(err) : null,
      section('Data preflight', preflightView(p.preflight)),
      (p.migrations || []).map(planMigration),
    ];
  });
}

/* ---------- Backups ---------- */

export async function backups(el) {
  const body = h('div', null, loading());
  clear(el, h('h1', null, 'Backups'), session.can('deploy') ? h('p', null,
    h('button', { type: 'button', on: { click: openBackup } }, 'Take a backup now…')) : null, body);
  await fill(body, async () => {
    const list = (await api('/v1/backups')).backups || [];
    if (!list.length) return h('p', null, 'No backup yet.');
    return table(['Backup', 'Kind', 'Taken', 'Age', 'Size', 'Last migration', ''], list.map((b) => h('tr', null,
      h('td', null, h('code', null, b.id)), h('td', null, b.kind || '—'), h('td', null, fmtTime(b.created_at)),
      h('td', null, fmtAge(b.created_at)), h('td', null, fmtBytes(b.size_bytes)), h('td', null, b.head || 'none'),
      h('td', null, session.can('admin') ? h('button', { type: 'button', class: 'small secondary',
        on: { click: () => openRestore(b, targetDb(b.database)) } }, 'Restore…') : null))));
  });
}

/* ---------- Drift ---------- */

function driftView(d) {
  const verdict = d.drift === null || d.drift === undefined ? 'no verdict' : d.drift ? 'drift' : 'no drift';
  return [h('p', { class: 'big' }, badge(verdict === 'drift' ? 'degraded' : 'ok', { class: `badge s-${d.drift ? 'degraded' : 'ok'}` }), ` ${verdict}`,
    ` (${d.mode === 'shadow' ? 'against a shadow database' : 'fingerprint since the last deploy'})`),
  d.message ? h('p', null, d.message) : null,
  (d.differences || []).length ? table(['Kind', 'Object', 'Change', 'What'], d.differences.map((x) => h('tr', null,
    h('td', null, x.kind), h('td', null, h('code', null, x.object)), h('td', null, x.change), h('td', null, x.message)))) : null,
  (d.warnings || []).map((w) => h('p', { class: 'warn' }, w)),
  h('p', { class: 'muted' }, `Checked in ${fmtMs(d.duration_ms)}`)];
}

export async function drift(el, { signal }) {
  const body = h('div', null, loading());
  const now = h('button', { type: 'button' }, 'Check now');
  clear(el, h('h1', null, 'Drift'), h('p', null, 'The live schema against what the applied migrations build. ', now), body);
  now.addEventListener('click', async () => {
    now.disabled = true;
    clear(body, h('p', { class: 'muted' }, 'Building the expected schema in a shadow database…'));
    await fill(body, async () => driftView(await api('/v1/drift', { signal })));
    now.disabled = false;
  });
  await fill(body, async () => driftView(await api('/v1/drift?shadow=0', { signal })));
}

/* ---------- History ---------- */

const OUTCOME = { succeeded: 'ok', failed: 'down', cancelled: 'degraded', interrupted: 'degraded', running: 'running', queued: 'running' };

function timeline(list) {
  const W = 760, H = 220, L = 50, B = 30, T = 10;
  const t0 = Math.min(...list.map((j) => Date.parse(j.created_at)));
  const t1 = Math.max(...list.map((j) => Date.parse(j.finished_at || j.created_at)), t0 + 1000);
  const dur = (j) => (j.started_at && j.finished_at ? Date.parse(j.finished_at) - Date.parse(j.started_at) : 0);
  const dmax = Math.max(...list.map(dur), 1000);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - 10);
  const y = (d) => H - B - (d / dmax) * (H - B - T);
  const out = list.filter((j) => j.state === 'failed').length;
  // A group, not role=img: the bars are links to their jobs (an image may hold no link).
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'timeline', role: 'group',
    'aria-label': `Timeline of ${list.length} deploys, ${out} failed; bar height is the duration, up to ${fmtMs(dmax)}` },
  svg('line', { x1: L, y1: H - B, x2: W - 10, y2: H - B, class: 'axis' }),
  svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }),
  svg('text', { x: L - 6, y: T + 10, class: 'tick', 'text-anchor': 'end' }, fmtMs(dmax)),
  svg('text', { x: L - 6, y: H - B, class: 'tick', 'text-anchor': 'end' }, '0'),
  svg('text', { x: L, y: H - 8, class: 'tick' }, new Date(t0).toLocaleString()),
  svg('text', { x: W - 10, y: H - 8, class: 'tick', 'text-anchor': 'end' }, new Date(t1).toLocaleString()),
  list.map((j) => {
    const cx = x(Date.parse(j.created_at)), top = Math.min(y(dur(j)), H - B - 3);
    return svg('a', { href: `#/jobs/${encodeURIComponent(j.id)}`, 'aria-label': `deploy ${j.id.slice(0, 8)}, ${j.state}, ${fmtMs(dur(j))}` },
      svg('rect', { x: cx - 4, y: top, width: 8, height: H - B - top, class: `bar o-${OUTCOME[j.state] || 'degraded'}` },
        svg('title', null, `${j.id.slice(0, 8)} ${j.state}, ${fmtMs(dur(j))}, ${fmtTime(j.created_at)}`)));
  }));
}

export async function history(el) {
  const body = h('div', null, loading());
  clear(el, h('h1', null, 'History'), body);
  await fill(body, async () => {
    const list = ((await api('/v1/jobs?limit=200')).jobs || []).filter((j) => j.kind === 'deploy').reverse();
    if (!list.length) return h('p', null, 'No deploy yet.');
    return [timeline(list),
      h('p', { class: 'legend' }, badge('succeeded'), ' ', badge('failed'), ' ', badge('cancelled'), ' bars are deploys, left to right by start time'),
      table(['Deploy', 'State', 'Started', 'Duration', 'Applied'], list.slice().reverse().map((j) => h('tr', null,
        h('td', null, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id.slice(0, 8))), h('td', null, badge(j.state)),
        h('td', null, fmtTime(j.started_at || j.created_at)),
        h('td', null, j.started_at && j.finished_at ? fmtMs(Date.parse(j.finished_at) - Date.parse(j.started_at)) : '—'),
        h('td', null, j.result && j.result.applied !== undefined ? String(j.result.applied) : '—'))))];
  });
}
