// dom.js - builds the page from elements and text nodes, never from HTML strings: migration
// names, SQL, error messages and log lines come from users and databases, so every string ends
// up as textContent. Also the small formatters every page shares. Not for talking to the API.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'testid') el.setAttribute('data-testid', v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.setAttribute(`data-${dk}`, String(dv));
    else if (/^on/i.test(k)) throw new Error(`event handler attribute ${k}: use on: {}`);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, kids) {
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// h('td', {class: 'x'}, 'text', child...): an element; strings become text nodes.
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  apply(el, props);
  return append(el, kids);
}

// svg('rect', {x: 1}): an SVG element, same rules.
export function svg(tag, props, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  return append(el, kids);
}

export function clear(el, ...kids) {
  el.replaceChildren();
  return append(el, kids);
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtBytes(n) {
  if (typeof n !== 'number') return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

export function fmtAge(iso) {
  if (!iso) return '—';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (Number.isNaN(s)) return '—';
  if (s < 90) return `${Math.max(0, Math.round(s))} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

// A state as a badge: the class picks a colour, the text says it (colour is never the only cue).
export function badge(state, props = {}) {
  const s = String(state ?? 'unknown');
  return h('span', { class: `badge s-${s.replace(/[^a-z_-]/gi, '')}`, ...props }, s);
}

// A definition list from [label, value] pairs (values may be nodes).
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]));
}

export function table(headers, rows, props = {}) {
  return h('div', { class: 'scroll' },
    h('table', props, h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)));
}
