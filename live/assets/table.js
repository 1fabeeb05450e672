// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// The table of edges: sortable columns, a filter over label values, a
// "failures only" toggle. Rows are kept by edge ID and only changed cells
// are rewritten, so a delta does not rebuild the table.

import { OTHER, failures } from './state.js';
import { bytes, count, percent, perSecond, rate } from './format.js';

// failedText is the Failed cell: failed / attempted connects since start
// or, in cluster scope (rates only), failed connects per second and their
// share of the attempts.
function failedText(r) {
  if (r.rateOnly) return r.attemptRate ? `${perSecond(r.failedRate)} (${percent(r.failedRate / r.attemptRate)})` : '';
  return r.attempts ? `${count(r.failed)} / ${count(r.attempts)}` : '';
}

// Each column sorts by value(row), else by row[key].
const COLUMNS = [
  { key: 'local', label: 'Local', text: (r) => r.localName },
  { key: 'remote', label: 'Remote', text: (r) => r.remoteName },
  { key: 'port', label: 'Port', text: (r) => r.port },
  { key: 'rate', label: 'Bytes/s', num: true, text: (r) => rate(r.rate), title: (r) => `sent ${rate(r.sentRate)}, received ${rate(r.recvRate)}` },
  // Cluster scope has rates only (Prometheus's recording rules): no totals,
  // and the table leaves out their columns.
  { key: 'sent', label: 'Sent', num: true, totals: true, text: (r) => (r.rateOnly ? '–' : bytes(r.sent)) },
  { key: 'received', label: 'Received', num: true, totals: true, text: (r) => (r.rateOnly ? '–' : bytes(r.received)) },
  { key: 'failed', label: 'Failed', num: true, text: failedText, value: (r) => (r.rateOnly ? r.failedRate : r.failed),
    title: (r) => (r.rateOnly ? 'failed connects per second (share of attempted), over 5 m' : 'failed / attempted connects') },
];

// row is what the table shows of one edge.
function row(store, e) {
  const r = store.rates(e);
  const l = e.labels || {};
  const other = e.id === OTHER;
  const rateOnly = store.scope === 'cluster';
  const failed = failures(e.total);
  return {
    id: e.id,
    rateOnly,
    localName: other ? '(other edges)' : e.local.name,
    remoteName: other ? '' : e.remote.name,
    port: other ? '' : [l.protocol, l.port, l.role].filter(Boolean).join(' '),
    sentRate: r.transmit_bytes, recvRate: r.receive_bytes, rate: r.transmit_bytes + r.receive_bytes,
    sent: e.total.transmit_bytes || 0, received: e.total.receive_bytes || 0,
    attempts: e.total.connect_attempts || 0, failed,
    attemptRate: r.connect_attempts, failedRate: r.failures,
    failing: (rateOnly ? r.failures : failed) > 0,
  };
}

// matcher turns the filter text into a test of an edge: every word must
// match. "key=value" matches a label exactly (key may leave out local_ or
// remote_: namespace=x matches either side); other words match a part of
// any label value or node name, case-insensitively.
export function matcher(text) {
  const terms = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return () => true;
  return (e) => {
    const labels = e.labels || {};
    const values = [...Object.values(labels), e.local && e.local.name, e.remote && e.remote.name]
      .filter(Boolean).map((v) => String(v).toLowerCase());
    return terms.every((t) => {
      const eq = t.indexOf('=');
      if (eq > 0) {
        const k = t.slice(0, eq), v = t.slice(eq + 1);
        return Object.entries(labels).some(([name, val]) => (name === k || name.endsWith('_' + k)) && String(val).toLowerCase() === v);
      }
      return values.some((v) => v.includes(t));
    });
  };
}

function round3(x) { return x ? Number(x.toPrecision(3)) : 0; }

// reorder puts want's rows into body in that order with the fewest moves:
// the rows of the longest run already in order stay, the rest move. A
// moved row costs the browser a style and layout pass, and between two
// deltas few rows change places.
function reorder(body, want) {
  const pos = new Map([...body.rows].map((tr, i) => [tr, i]));
  const seq = want.map((tr) => (pos.has(tr) ? pos.get(tr) : -1));
  // Longest increasing subsequence of seq (new rows excluded), O(n log n).
  const tails = [], prev = new Array(seq.length).fill(-1);
  seq.forEach((v, i) => {
    if (v < 0) return;
    let lo = 0, hi = tails.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (seq[tails[m]] < v) lo = m + 1; else hi = m; }
    prev[i] = lo > 0 ? tails[lo - 1] : -1;
    tails[lo] = i;
  });
  const stay = new Set();
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) stay.add(i);
  // From the end: each row that moves goes before the row that follows it.
  let next = null;
  for (let i = want.length - 1; i >= 0; i--) {
    if (!stay.has(i) && (want[i].parentNode !== body || want[i].nextSibling !== next)) body.insertBefore(want[i], next);
    next = want[i];
  }
}

export class TableView {
  constructor(table, countEl, onSelect) {
    this.table = table;
    this.body = table.tBodies[0];
    this.countEl = countEl;
    this.onSelect = onSelect;
    this.rows = new Map(); // id -> {tr, cells, data}
    this.sortKey = 'rate';
    this.sortDesc = true;
    this.filter = () => true;
    this.failuresOnly = false;
    this.selected = null;
    const head = table.tHead.rows[0];
    for (const c of COLUMNS) {
      const th = document.createElement('th');
      th.scope = 'col';
      if (c.num) th.classList.add('num');
      if (c.totals) th.classList.add('totals');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = c.label;
      b.addEventListener('click', () => this.sortBy(c.key));
      th.append(b);
      th.dataset.key = c.key;
      head.append(th);
    }
    this.markSort();
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else { this.sortKey = key; this.sortDesc = !!COLUMNS.find((c) => c.key === key).num; }
    this.markSort();
    this.order();
  }

  markSort() {
    for (const th of this.table.tHead.rows[0].cells) {
      if (th.dataset.key === this.sortKey) th.setAttribute('aria-sort', this.sortDesc ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    }
  }

  // setFilter shows the rows that match, without refreshing their data
  // (the view may be paused).
  setFilter(text, failuresOnly) {
    this.filter = matcher(text);
    this.failuresOnly = failuresOnly;
    for (const r of this.rows.values()) this.applyFilter(r);
    this.order();
  }

  applyFilter(r) {
    r.tr.hidden = !(this.filter(r.edge) && (!this.failuresOnly || r.data.failing));
  }

  // sync brings the rows in line with the store, then filters and sorts.
  sync(store) {
    const caption = store.scope === 'cluster' ? 'Edges of the whole cluster: rates over 5 m, from Prometheus'
      : 'Edges: rates over the last 10 s, totals since the exporter started';
    if (this.table.caption.textContent !== caption) this.table.caption.textContent = caption;
    this.table.classList.toggle('rate-only', store.scope === 'cluster');
    for (const [id, r] of this.rows) {
      if (!store.edges.has(id)) { r.tr.remove(); this.rows.delete(id); }
    }
    for (const e of store.edges.values()) {
      let r = this.rows.get(e.id);
      if (!r) r = this.newRow(e.id);
      r.edge = e;
      r.data = row(store, e);
      // Only what changed is written: a write costs a style and layout pass.
      COLUMNS.forEach((c, i) => {
        const text = c.text(r.data);
        if (r.texts[i] !== text) {
          r.texts[i] = text;
          (i === 0 ? r.cells[0].firstChild : r.cells[i]).textContent = text;
          if (c.title) r.cells[i].title = c.title(r.data);
        }
      });
      this.applyFilter(r);
      if (r.failing !== r.data.failing) r.tr.classList.toggle('failing', (r.failing = r.data.failing));
    }
    this.order();
  }

  newRow(id) {
    const tr = document.createElement('tr');
    tr.dataset.id = id;
    const cells = COLUMNS.map((c, i) => {
      const td = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) {
        td.scope = 'row';
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'link';
        b.append('');
        td.append(b);
      }
      if (c.num) td.classList.add('num');
      if (c.totals) td.classList.add('totals');
      tr.append(td);
      return td;
    });
    tr.addEventListener('click', () => this.onSelect({ type: 'edge', id }));
    if (this.selected && this.selected.type === 'edge' && this.selected.id === id) tr.classList.add('selected');
    const r = { tr, cells, texts: [], data: null };
    this.rows.set(id, r);
    return r;
  }

  // order sorts the rows by what they show (numbers to three digits, so
  // that rows do not trade places on noise; ties by ID) and counts the
  // shown ones. The body is rewritten only when the order changed.
  order() {
    const key = this.sortKey, dir = this.sortDesc ? -1 : 1;
    const col = COLUMNS.find((c) => c.key === key);
    const value = col.value || ((d) => d[key]);
    const rows = [...this.rows.values()].sort((a, b) => {
      const x = value(a.data), y = value(b.data);
      const c = typeof x === 'number' ? round3(x) - round3(y) : String(x).localeCompare(String(y));
      return c ? c * dir : a.data.id.localeCompare(b.data.id);
    });
    reorder(this.body, rows.map((r) => r.tr));
    const shown = rows.filter((r) => !r.tr.hidden).length;
    this.countEl.textContent = shown === rows.length ? `${rows.length} edges` : `${shown} of ${rows.length} edges`;
  }

  select(sel) {
    this.selected = sel;
    for (const [id, r] of this.rows) r.tr.classList.toggle('selected', !!sel && sel.type === 'edge' && sel.id === id);
  }

  // debug is what window.podflowView shows of the table: the shown rows,
  // in order, with what their cells say by column key.
  debug() {
    return [...this.body.rows].filter((tr) => !tr.hidden).map((tr) => {
      const r = this.rows.get(tr.dataset.id);
      return { ...r.data, cells: Object.fromEntries(COLUMNS.map((c, i) => [c.key, r.texts[i]])) };
    });
  }
}
