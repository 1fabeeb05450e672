// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// The page's copy of the exporter's edges (live/api.go): a snapshot
// replaces it, a delta adds to it. Rates are taken from the deltas of the
// last RATE_WINDOW_MS (what each edge gained over the time those deltas
// cover), or from the snapshot's rate until deltas come.

export const OTHER = '__other__';
export const RATE_WINDOW_MS = 10000;

// The counters an edge's rates and totals are kept for, by wire name.
const SUMMED = ['transmit_bytes', 'transmit_packets', 'receive_bytes', 'receive_packets',
  'connect_attempts', 'connect_established', 'accepted_connections',
  'retransmitted_segments', 'resets_sent', 'resets_received'];

// failures sums a Counters' connect_failures over reasons.
export function failures(c) {
  let n = 0;
  for (const v of Object.values(c.connect_failures || {})) n += v;
  return n;
}

function addCounters(into, c) {
  for (const k of SUMMED) if (c[k]) into[k] = (into[k] || 0) + c[k];
  if (c.connect_failures) {
    into.connect_failures ||= {};
    for (const [r, v] of Object.entries(c.connect_failures)) into.connect_failures[r] = (into.connect_failures[r] || 0) + v;
  }
  for (const k of ['rtt', 'connect_duration']) {
    if (!c[k]) continue;
    into[k] ||= { count: 0, sum_seconds: 0 };
    into[k].count += c[k].count;
    into[k].sum_seconds += c[k].sum_seconds;
  }
}

export class Store {
  constructor() { this.reset(); }

  reset() {
    this.edges = new Map(); // id -> {id, local, remote, labels, total, rate, gains}
    this.windows = []; // [{seq, end (ms), seconds}] of the deltas in the window
    this.seq = 0;
    this.time = '';
    this.labelNames = [];
    this.totalEdges = 0;
    this.clusterAvailable = false;
    this.scope = 'node';
    this.version = 0; // bumped on every change, for views to notice
  }

  // applySnapshot replaces everything with a live.Snapshot.
  applySnapshot(s) {
    this.reset();
    this.scope = s.scope || 'node';
    this.seq = s.seq;
    this.time = s.time;
    this.labelNames = s.label_names || [];
    this.totalEdges = s.total_edges;
    this.clusterAvailable = !!s.cluster_available;
    for (const e of s.edges || []) {
      const total = {};
      addCounters(total, e.total || {});
      this.edges.set(e.id, { id: e.id, local: e.local, remote: e.remote, labels: e.labels || {}, total, snapRate: e.rate || null, gains: [] });
    }
    this.version++;
  }

  // applyDelta adds a live.Delta. It returns false when the delta does not
  // follow on from what the store holds (the caller asks for a snapshot).
  applyDelta(d) {
    if (d.last_seq <= this.seq) return true; // already counted
    if (d.first_seq > this.seq + 1) return false;
    const end = Date.parse(d.time) || Date.now();
    this.windows.push({ seq: d.last_seq, end, seconds: d.interval_seconds });
    for (const e of d.edges || []) {
      let cur = this.edges.get(e.id);
      if (!cur) {
        cur = { id: e.id, local: e.local, remote: e.remote, labels: e.labels || {}, total: {}, snapRate: null, gains: [] };
        this.edges.set(e.id, cur);
      }
      addCounters(cur.total, e.total || {});
      cur.gains.push({ seq: d.last_seq, c: e.total || {} });
    }
    for (const id of d.removed || []) this.edges.delete(id);
    this.seq = d.last_seq;
    this.time = d.time;
    this.totalEdges = this.edges.size;
    this.prune(end);
    this.version++;
    return true;
  }

  // prune drops the deltas older than the rate window (keeping the last).
  prune(now) {
    while (this.windows.length > 1 && this.windows[0].end <= now - RATE_WINDOW_MS) this.windows.shift();
    const oldest = this.windows.length ? this.windows[0].seq : Infinity;
    for (const e of this.edges.values()) {
      while (e.gains.length && e.gains[0].seq < oldest) e.gains.shift();
    }
  }

  // windowSeconds is the time the rate window covers.
  windowSeconds() {
    let s = 0;
    for (const w of this.windows) s += w.seconds;
    return s;
  }

  // rates returns an edge's per-second rates: {transmit_bytes, receive_bytes,
  // transmit_packets, receive_packets, connect_attempts, failures, connect_failures}.
  rates(e) {
    const secs = this.windowSeconds();
    if (!secs) return snapshotRates(e.snapRate);
    const sum = {};
    for (const g of e.gains) addCounters(sum, g.c);
    const r = {};
    for (const k of SUMMED) r[k] = (sum[k] || 0) / secs;
    r.connect_failures = {};
    for (const [k, v] of Object.entries(sum.connect_failures || {})) r.connect_failures[k] = v / secs;
    r.failures = failures(sum) / secs;
    return r;
  }

  // failedRatio is failures / connect attempts: over the rate window when
  // the edge made attempts in it, else since start, else (cluster scope,
  // which has no totals) of the snapshot's rates; null without attempts.
  failedRatio(e) {
    const sum = {};
    for (const g of e.gains) addCounters(sum, g.c);
    const c = [sum, e.total, e.snapRate || {}].find((x) => x.connect_attempts);
    if (!c) return null;
    return Math.min(1, failures(c) / c.connect_attempts);
  }
}

function snapshotRates(r) {
  const out = {};
  for (const k of SUMMED) out[k] = (r && r[k]) || 0;
  out.connect_failures = (r && r.connect_failures) || {};
  out.failures = 0;
  for (const v of Object.values(out.connect_failures)) out.failures += v;
  return out;
}
