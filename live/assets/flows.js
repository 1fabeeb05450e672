// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// The /flows page: it follows GET api/v1/flows/stream (a snapshot, then
// one delta per drain; docs/live.md) into a Store, and shows the store as
// a graph, a table and the details of what is selected. Pausing stops the
// view, not the store: on resume the view catches up with nothing lost.
// Cluster scope polls GET api/v1/flows?scope=cluster instead.
//
// URLs are relative to the page, served at /flows: "api/v1/..." is
// /api/v1/... there, and under any prefix a proxy adds.

import { Store } from './state.js';
import { TableView } from './table.js';
import { render as renderDetails } from './details.js';

const STREAM = 'api/v1/flows/stream';
const SNAPSHOT = 'api/v1/flows';
const CLUSTER_POLL_MS = 15000;
const RETRY_MS = 3000;
// The view is redrawn at most this often (a 500-edge redraw takes tens of
// milliseconds: docs/benchmarks.md); deltas that come meanwhile are in the
// store and shown together.
const VIEW_EVERY_MS = 1000;

const $ = (id) => document.getElementById(id);

class Page {
  constructor() {
    this.node = new Store();
    this.cluster = new Store();
    this.scope = 'node';
    this.paused = false;
    this.conn = 'connecting';
    this.selected = null;
    this.source = null;
    this.events = { snapshots: 0, deltas: 0, errors: 0 };
    this.shownVersion = -1;
    this.frame = 0;
    this.graph = null;
    this.graphReady = this.loadGraph();
    this.table = new TableView($('edges'), $('count'), (sel) => this.select(sel));
    const filter = () => this.table.setFilter($('filter').value, $('failures-only').checked);
    $('filter').addEventListener('input', filter);
    $('failures-only').addEventListener('change', filter);
    $('pause').addEventListener('click', () => this.setPaused(!this.paused));
    $('scope-node').addEventListener('click', () => this.setScope('node'));
    $('scope-cluster').addEventListener('click', () => this.setScope('cluster'));
    $('details').addEventListener('close', () => this.select(null));
    this.connect(false);
  }

  get store() { return this.scope === 'cluster' ? this.cluster : this.node; }

  // loadGraph builds the graph view when the library was built in
  // (index.html then loads it before this module); else the page is the
  // table alone and says how to get the graph.
  async loadGraph() {
    if (typeof window.cytoscape !== 'function') {
      $('notice').hidden = false;
      $('graph-pane').hidden = true;
      document.body.classList.add('no-graph');
      return;
    }
    const { GraphView } = await import('./graph.js');
    this.graph = new GraphView($('graph'), (sel) => this.select(sel));
    $('fit').addEventListener('click', () => this.graph.fit());
    this.schedule();
  }

  // connect opens the stream. The browser reconnects by itself after a
  // network error, sending Last-Event-ID; when it gives up (an HTTP error,
  // or a delta that does not follow on), a new stream starts afresh and
  // its snapshot replaces the store.
  connect(later) {
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.retry);
    if (this.scope !== 'node') return;
    if (later) { this.retry = setTimeout(() => this.connect(false), RETRY_MS); return; }
    const es = new EventSource(STREAM);
    this.source = es;
    es.addEventListener('open', () => this.setConn('connected'));
    es.addEventListener('snapshot', (ev) => {
      this.node.applySnapshot(JSON.parse(ev.data));
      this.events.snapshots++;
      this.setConn('connected');
      this.showScopeSwitch();
      this.schedule();
    });
    es.addEventListener('delta', (ev) => {
      this.events.deltas++;
      if (!this.node.applyDelta(JSON.parse(ev.data))) {
        this.setConn('reconnecting');
        this.connect(false);
        return;
      }
      this.schedule();
    });
    es.addEventListener('error', () => {
      this.events.errors++;
      if (es.readyState === EventSource.CLOSED) {
        this.setConn('reconnecting');
        this.connect(true);
      } else {
        this.setConn('reconnecting');
      }
    });
  }

  setConn(state) {
    this.conn = state;
    this.status();
  }

  showScopeSwitch() {
    $('scope').hidden = !(this.node.clusterAvailable || this.scope === 'cluster');
  }

  async setScope(scope) {
    if (scope === this.scope) return;
    this.scope = scope;
    $('scope-node').setAttribute('aria-pressed', String(scope === 'node'));
    $('scope-cluster').setAttribute('aria-pressed', String(scope === 'cluster'));
    clearInterval(this.poll);
    this.select(null);
    this.shownVersion = -1;
    if (scope === 'cluster') {
      this.connect(false); // closes the stream
      this.pollCluster();
      this.poll = setInterval(() => this.pollCluster(), CLUSTER_POLL_MS);
    } else {
      this.connect(false);
    }
    this.schedule();
  }

  async pollCluster() {
    try {
      const resp = await fetch(SNAPSHOT + '?scope=cluster', { headers: { Accept: 'application/json' } });
      if (!resp.ok) throw new Error(`${resp.status} ${(await resp.text()).trim()}`);
      this.cluster.applySnapshot(await resp.json());
      this.clusterError = '';
      this.setConn('connected');
    } catch (err) {
      this.clusterError = String(err.message || err);
      this.setConn('reconnecting');
    }
    this.schedule();
  }

  setPaused(paused) {
    this.paused = paused;
    $('pause').setAttribute('aria-pressed', String(paused));
    $('pause').textContent = paused ? 'Resume' : 'Pause';
    this.status();
    this.schedule();
  }

  select(sel) {
    this.selected = sel;
    if (this.graph) this.graph.select(sel);
    this.table.select(sel);
    renderDetails($('details'), this.shown || this.store, sel);
  }

  // schedule redraws the view at the next frame, VIEW_EVERY_MS after the
  // last at the soonest, once however many deltas came meanwhile.
  schedule() {
    if (this.frame) return;
    const wait = Math.max(0, (this.shownAt || -Infinity) + VIEW_EVERY_MS - performance.now());
    this.frame = setTimeout(() => requestAnimationFrame(() => { this.frame = 0; this.show(); }), wait);
  }

  show() {
    this.status();
    this.shownAt = performance.now();
    const store = this.store;
    if (this.paused || store.version === this.shownVersion) return;
    this.shownVersion = store.version;
    this.shown = store;
    const t0 = performance.now();
    if (this.graph) this.graph.sync(store);
    const t1 = performance.now();
    this.table.sync(store);
    this.timings = { graph_ms: t1 - t0, table_ms: performance.now() - t1 };
    if (this.selected && !renderDetails($('details'), store, this.selected)) this.select(null);
    this.lastShown = { seq: store.seq, edges: store.edges.size };
  }

  status() {
    const s = this.store;
    const parts = [];
    if (this.scope === 'cluster') {
      parts.push('cluster', this.clusterError ? `error: ${this.clusterError}` : (s.time ? `as of ${s.time}` : 'loading'));
    } else {
      parts.push(this.conn, `seq ${s.seq}`);
    }
    if (this.paused) parts.push(`paused (showing seq ${this.lastShown ? this.lastShown.seq : 0})`);
    parts.push(`${s.edges.size} edges`);
    const text = parts.join(' · ');
    const el = $('status');
    if (el.textContent !== text) el.textContent = text;
    el.dataset.state = this.paused ? 'paused' : this.conn;
  }
}

const page = new Page();

// window.podflowView is a read-only view of the page for tests and for
// anyone curious in the console.
window.podflowView = Object.freeze({
  get state() { return page.paused ? 'paused' : page.conn; },
  get connection() { return page.conn; },
  get scope() { return page.scope; },
  get seq() { return page.store.seq; },
  get shownSeq() { return page.lastShown ? page.lastShown.seq : 0; },
  get events() { return { ...page.events }; },
  get graphBuiltIn() { return !!page.graph; },
  get layouts() { return page.graph ? page.graph.layouts : 0; },
  // settled: no new node waits for its layout, the view shows the store.
  get settled() { return (!page.graph || !page.graph.pending) && page.shownVersion === page.store.version; },
  get timings() { return { ...page.timings }; },
  ready: () => page.graphReady,
  graph: () => (page.graph ? page.graph.debug() : null),
  rows: () => page.table.debug(),
  edges: () => [...page.store.edges.values()].map((e) => ({ id: e.id, local: e.local, remote: e.remote, labels: { ...e.labels }, total: JSON.parse(JSON.stringify(e.total)), rate: page.store.rates(e) })),
});
