// job.js - the job page (#/jobs/ID): state, progress n/N with the current migration, elapsed
// time and an estimate, every step with its duration and error (SQLSTATE, line, hint), the log
// lines; while the job runs it follows GET /v1/jobs/ID/events (api.js's stream, which resumes
// with Last-Event-ID after a dropped connection). Not for the job list (pages.js).
import { api, session, stream } from './api.js';
import { confirmAction, errorBox, expectedTotals } from './pages.js';
import { badge, clear, facts, fmtMs, fmtTime, h } from './dom.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);
const WORK = new Set(['migration', 'down']); // the steps the progress bar counts

function stepError(e) {
  const f = e.failure || {};
  const where = [];
  if (e.sqlstate || f.sqlstate) where.push(`SQLSTATE ${e.sqlstate || f.sqlstate}`);
  if (e.prisma_code) where.push(`Prisma ${e.prisma_code}`);
  if (f.line) where.push(`line ${f.line}${f.column ? `, column ${f.column}` : ''}`);
  if (f.statement_number) where.push(`statement ${f.statement_number}${f.statements ? ` of ${f.statements}` : ''}`);
  const hint = f.hint || e.hint;
  return h('div', { class: 'error', testid: 'error-message' },
    h('div', null, h('strong', null, where.join(' · ') || e.code || 'error')),
    h('div', null, f.message || e.message),
    f.detail && h('div', null, `Detail: ${f.detail}`),
    hint && h('div', { class: 'hint' }, `Hint: ${hint}`),
    f.statement && h('pre', null, f.statement),
    f.nothing_remains === true ? h('div', { class: 'muted' }, 'Nothing of this migration remains in the database.') : null);
}

// The job as the page knows it, updated by the stream's records.
function model(job) {
  return { job, steps: new Map((job.steps || []).map((s) => [s.index, s])), logs: (job.logs || []).slice() };
}

function apply(m, ev) {
  const d = ev.data || {};
  if (ev.event === 'state' && d.state && !FINAL.has(m.job.state)) m.job.state = d.state;
  else if (ev.event === 'step' && d.step) m.steps.set(d.step.index, d.step);
  else if (ev.event === 'log' || ev.event === 'cancel') {
    m.logs.push({ ts: d.ts, level: d.level, message: d.message });
    if (ev.event === 'cancel') m.job.cancel_requested = true;
  } else if (ev.event === 'end') {
    Object.assign(m.job, { state: d.state, error: d.error, result: d.result, finished_at: d.ts || m.job.finished_at });
  }
  if (ev.event === 'state' && d.state === 'running' && !m.job.started_at) m.job.started_at = d.ts;
}

function progressOf(m) {
  const steps = [...m.steps.values()].sort((a, b) => a.index - b.index);
  const work = steps.filter((s) => WORK.has(s.kind));
  const pre = steps.find((s) => s.kind === 'preflight' && typeof s.pending === 'number');
  const r = m.job.result || {};
  let total = pre ? pre.pending : typeof r.pending === 'number' ? r.pending : expectedTotals.get(m.job.id);
  if (typeof total !== 'number' || total < work.length) total = work.length;
  const done = work.filter((s) => s.state === 'succeeded').length;
  const current = work.find((s) => s.state === 'running');
  const finished = work.filter((s) => s.state === 'succeeded' && typeof s.duration_ms === 'number');
  const avg = finished.length ? finished.reduce((a, s) => a + s.duration_ms, 0) / finished.length : null;
  return { steps, total, done, current, eta: avg !== null && total > done ? avg * (total - done) : null };
}

export async function job(el, { signal, param }) {
  const id = param;
  const head = h('div'), prog = h('div'), stepsEl = h('div'), logsEl = h('div'), live = h('p', { class: 'muted', 'aria-live': 'polite' });
  clear(el, h('h1', null, 'Job ', h('code', null, id)), head, prog, live, h('h2', null, 'Steps'), stepsEl, h('h2', null, 'Log'), logsEl);
  let m;
  try { m = model(await api(`/v1/jobs/${encodeURIComponent(id)}`, { signal })); } catch (e) {
    if (e.name !== 'AbortError') clear(el, h('h1', null, 'Job'), errorBox(e));
    return;
  }
  const bar = h('progress', { max: 1, value: 0, 'aria-label': 'migrations applied' });
  const meter = h('div', { testid: 'job-progress', class: 'progress', data: { done: 0, total: 0 } }, bar, h('span'));

  const render = () => {
    const j = m.job, p = progressOf(m);
    const cancel = session.can('deploy') && !FINAL.has(j.state) && !j.cancel_requested
      ? h('button', { type: 'button', class: 'secondary', on: { click: () => openCancel(j.id) } }, 'Cancel job…') : null;
    clear(head, h('p', { class: 'big' }, `${j.kind} `, h('span', { testid: 'job-state', class: `badge s-${j.state}` }, j.state),
      j.cancel_requested && !FINAL.has(j.state) ? ' (cancel requested)' : '', ' ', cancel),
    facts([['Requested by', j.requested_by || '—'], ['Created', fmtTime(j.created_at)], ['Started', fmtTime(j.started_at)],
      ['Finished', fmtTime(j.finished_at)], j.request && j.request.dry_run ? ['Dry run', 'yes: nothing was changed'] : null]),
    j.error && (j.error.failure || j.error.sqlstate) ? stepError(j.error) : j.error ? errorBox({ code: j.error.code, message: j.error.message, detail: j.error }) : null);
    meter.setAttribute('data-done', String(p.done));
    meter.setAttribute('data-total', String(p.total));
    bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    const end = j.finished_at ? Date.parse(j.finished_at) : Date.now();
    const elapsed = j.started_at ? end - Date.parse(j.started_at) : null;
    const failed = p.steps.find((s) => s.state === 'failed');
    meter.lastChild.textContent = ` ${p.done}/${p.total}` + (p.current ? ` — now ${p.current.name}` : '') +
      (failed && FINAL.has(j.state) ? ` — stopped at ${failed.name}` : '') +
      (elapsed !== null ? ` — elapsed ${fmtMs(elapsed)}` : '') + (!FINAL.has(j.state) && p.eta !== null ? ` — about ${fmtMs(p.eta)} left` : '');
    if (!prog.firstChild) prog.append(meter);
    clear(stepsEl, p.steps.length ? h('ol', { class: 'steps' }, p.steps.map((s) => h('li', { testid: 'job-step', data: { state: s.state } },
      h('span', { class: 'step-name' }, h('code', null, s.name)), ' ', h('span', { class: 'muted' }, s.kind), ' ', badge(s.state), ' ',
      h('span', { class: 'muted' }, fmtMs(s.duration_ms ?? (s.started_at && !s.finished_at ? Date.now() - Date.parse(s.started_at) : null))),
      s.error ? stepError(s.error) : null))) : h('p', { class: 'muted' }, 'No step yet.'));
    clear(logsEl, m.logs.length ? h('ul', { class: 'logs' }, m.logs.map((l) => h('li', null,
      h('span', { class: 'muted' }, l.ts ? new Date(l.ts).toLocaleTimeString() : ''), ` ${l.level || 'info'}: `, l.message))) : h('p', { class: 'muted' }, 'No log line.'));
  };
  render();
  if (FINAL.has(m.job.state)) return;
  const tick = setInterval(render, 1000);
  signal.addEventListener('abort', () => clearInterval(tick));
  live.textContent = 'Following the job live…';
  try {
    await stream(`/v1/jobs/${encodeURIComponent(id)}/events`, {
      signal,
      onEvent: (ev) => { apply(m, ev); render(); },
      onStatus: (s) => { live.textContent = s === 'live' ? 'Following the job live.' : 'Connection lost: reconnecting (resuming after the last event)…'; },
    });
    if (signal.aborted) return;
    m = model(Object.assign(await api(`/v1/jobs/${encodeURIComponent(id)}`, { signal }), {}));
    live.textContent = 'The job has ended.';
  } catch (e) {
    if (e.name !== 'AbortError') live.replaceChildren(errorBox(e));
  } finally {
    clearInterval(tick);
  }
  if (!signal.aborted) render();
}

function openCancel(id) {
  confirmAction({
    title: 'Cancel this job',
    okLabel: 'Cancel job',
    body: [h('p', null, 'A queued job is dropped. A running one has its statement cancelled on the server: a transactional ' +
      'migration is rolled back and recorded rolled back, so the next deploy runs it again; the job ends cancelled.')],
    run: () => api(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
  });
}
