// api.js - the console's only way out: fetch() to the daemon's own API (same origin, the CSP
// allows nothing else), with the token from sessionStorage as a bearer header, never in a URL.
// Also the Server-Sent Events reader for job progress: EventSource cannot send a bearer header,
// so the stream is read with fetch and reconnects itself with Last-Event-ID.

const KEY = 'migrated.token';
const ROLES = ['none', 'read', 'deploy', 'admin'];

export const session = {
  token: sessionStorage.getItem(KEY) || '',
  name: null,
  role: 'none',
  readOpen: false,
  set(token) {
    this.token = token;
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  },
  // can('deploy'): whether this token's role may take an action needing that role.
  can(role) { return ROLES.indexOf(this.role) >= ROLES.indexOf(role); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'http';
    this.detail = e.detail || {};
  }
}

function headers(extra) {
  const hd = { Accept: 'application/json', ...extra };
  if (session.token) hd.Authorization = `Bearer ${session.token}`;
  return hd;
}

// api('/v1/status'): the parsed JSON. Throws ApiError for an error answer (the one error
// shape), and for a 503 whose body is not an error (health, readiness) returns the body when
// okStatuses allows it.
export async function api(path, { method = 'GET', body, key, signal, okStatuses = [] } = {}) {
  const extra = {};
  if (body !== undefined) extra['Content-Type'] = 'application/json';
  if (key) extra['Idempotency-Key'] = key;
  const r = await fetch(path, {
    method, signal, headers: headers(extra), body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit', cache: 'no-store', redirect: 'error',
  });
  let doc = null;
  try { doc = await r.json(); } catch { doc = null; }
  if (r.ok || okStatuses.includes(r.status)) return doc;
  const err = new ApiError(r.status, doc);
  if (r.status === 401 && onUnauthorized) onUnauthorized(err);
  throw err;
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// One key per click: a double click sends the same key and the daemon starts one job.
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

// stream('/v1/jobs/ID/events', {onEvent, signal}): reads the job's events until its end event,
// reconnecting after a dropped connection with Last-Event-ID (the daemon resumes after it).
// onEvent({id, event, data}) gets each event once; onStatus('live'|'reconnecting') says how it is.
export async function stream(path, { onEvent, onStatus = () => {}, signal }) {
  let last = null, retry = 2000, failures = 0;
  while (!signal.aborted) {
    let ended = false;
    try {
      const hd = headers({ Accept: 'text/event-stream' });
      if (last !== null) hd['Last-Event-ID'] = String(last);
      const r = await fetch(path, { headers: hd, signal, cache: 'no-store', credentials: 'omit' });
      if (!r.ok) {
        let doc = null;
        try { doc = await r.json(); } catch { doc = null; }
        throw Object.assign(new ApiError(r.status, doc), { final: r.status < 500 });
      }
      onStatus('live');
      failures = 0;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const ev = { id: null, event: 'message', data: '' };
          const data = [];
          for (const line of block.split('\n')) {
            if (!line || line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const f = i < 0 ? line : line.slice(0, i);
            const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (f === 'id') ev.id = v;
            else if (f === 'event') ev.event = v;
            else if (f === 'data') data.push(v);
            else if (f === 'retry' && /^\d+$/.test(v)) retry = Math.min(+v, 30000);
          }
          if (!data.length) continue;
          if (ev.id !== null && /^\d+$/.test(ev.id)) last = +ev.id;
          try { ev.data = JSON.parse(data.join('\n')); } catch { ev.data = data.join('\n'); }
          onEvent(ev);
          if (ev.event === 'end') ended = true;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e.final) throw e;
      failures++;
    }
    if (ended) return;
    onStatus('reconnecting');
    await new Promise((res) => setTimeout(res, Math.min(retry * Math.max(1, failures), 30000)));
  }
}
