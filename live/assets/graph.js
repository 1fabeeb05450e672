// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// The topology graph, drawn with cytoscape.js (chosen by measurement:
// docs/benchmarks.md, "Live view page"). sync() brings the graph in line
// with the store in place: existing elements only change their data (one
// batch, one redraw), new nodes are placed beside their neighbours and
// laid out with every other node locked, so nothing already drawn moves.

import { OTHER } from './state.js';

// A new layout runs at most this often, for the nodes that came meanwhile.
const LAYOUT_EVERY_MS = 1500;

const STYLE = [
  { selector: 'node', style: {
    width: 'data(size)', height: 'data(size)', label: 'data(label)', 'font-size': 9,
    'background-color': '#4c78a8', color: '#222', 'text-valign': 'bottom', 'text-margin-y': 2,
    'min-zoomed-font-size': 6,
  } },
  { selector: 'node.remote', style: { 'background-color': '#9d755d', shape: 'round-rectangle' } },
  { selector: 'node.world', style: { 'background-color': '#b279a2', shape: 'diamond' } },
  { selector: 'node.overflow', style: { 'background-color': '#bab0ac', shape: 'octagon' } },
  { selector: 'edge', style: {
    width: 'data(width)', 'line-color': 'data(color)', 'target-arrow-color': 'data(color)',
    'target-arrow-shape': 'triangle', 'arrow-scale': 0.6, 'curve-style': 'straight', opacity: 0.85,
    'z-index': 'data(z)',
  } },
  { selector: ':selected', style: { 'overlay-color': '#f58518', 'overlay-opacity': 0.35, 'overlay-padding': 4 } },
];

// Widths, sizes and colours come in steps: an element whose rate moved
// less than a step keeps its style, and the graph is not redrawn for it.

// edgeWidth maps bytes/s to pixels: 1 at idle, ~10 at 1 GB/s, in half
// pixels.
export function edgeWidth(bps) {
  return Math.round(2 * Math.min(12, 1 + 1.2 * Math.log10(1 + bps / 100))) / 2;
}

// edgeColor maps the failed-connect ratio to grey (none) through red (all),
// in eight steps.
export function edgeColor(ratio) {
  if (ratio === null || ratio <= 0) return '#8a94a6';
  const t = Math.min(1, 0.35 + Math.ceil(ratio * 8) / 8 * 0.65);
  const mix = (a, b) => Math.round(a + (b - a) * t).toString(16).padStart(2, '0');
  return '#' + mix(0x8a, 0xd6) + mix(0x94, 0x27) + mix(0xa6, 0x28);
}

// Edges between the same two nodes (one per port, role or protocol: a
// host's many connections to 127.0.0.1) are drawn straight, on top of each
// other, rather than fanned out into arcs that fill the view; the one with
// the most failed connects, then the most traffic, is drawn on top (and
// takes a click). The table lists them all.
function edgeZ(ratio, bps) {
  const failing = ratio === null || ratio <= 0 ? 0 : Math.ceil(ratio * 8);
  return failing * 20 + Math.min(19, Math.round(Math.log10(1 + bps)));
}

// nodeSize maps a node's bytes/s (all its edges) to its diameter, in
// steps of two pixels.
export function nodeSize(bps) {
  return 2 * Math.round(Math.min(60, 14 + 5 * Math.log10(1 + bps / 100)) / 2);
}

// ends returns the edge's source and target: the client side, then the
// server side, so arrows point at servers.
function ends(e) {
  const role = e.labels && e.labels.role;
  return role === 'server' ? [e.remote, e.local] : [e.local, e.remote];
}

function nodeClass(n, isLocal) {
  if (n.id === '__overflow__' || n.name === '__overflow__') return 'overflow';
  if (n.kind === 'world') return 'world';
  return isLocal ? 'local' : 'remote';
}

export class GraphView {
  constructor(el, onSelect) {
    this.cy = cytoscape({
      container: el, style: STYLE, elements: [],
      minZoom: 0.1, maxZoom: 4, boxSelectionEnabled: false,
    });
    this.cy.on('tap', 'node', (ev) => onSelect({ type: 'node', id: ev.target.id() }));
    this.cy.on('tap', 'edge', (ev) => onSelect({ type: 'edge', id: ev.target.id() }));
    this.cy.on('tap', (ev) => { if (ev.target === this.cy) onSelect(null); });
    // The view follows the graph (fits it when nodes come) until the user
    // pans or zooms; the Fit button hands it back.
    this.follow = true;
    this.cy.on('viewport', () => { if (!this.fitting) this.follow = false; });
    this.pendingSet = new Set(); // nodes added since the last layout
    this.lastLayout = -Infinity;
    this.timer = null;
    this.layouts = 0; // layouts run, for tests and benchmarks
  }

  // sync makes the graph show the store's edges with their current rates.
  sync(store) {
    const cy = this.cy;
    const nodes = new Map(); // id -> {node, isLocal, bps}
    const edges = [];
    for (const e of store.edges.values()) {
      if (e.id === OTHER) continue; // the table shows it; it joins no two identities
      const r = store.rates(e);
      const bps = r.transmit_bytes + r.receive_bytes;
      const [src, dst] = ends(e);
      for (const [n, isLocal] of [[e.local, true], [e.remote, false]]) {
        const cur = nodes.get(n.id) || { node: n, isLocal: false, bps: 0 };
        cur.isLocal ||= isLocal;
        cur.bps += bps;
        nodes.set(n.id, cur);
      }
      const ratio = store.failedRatio(e);
      edges.push({ id: e.id, source: src.id, target: dst.id, width: edgeWidth(bps), color: edgeColor(ratio), z: edgeZ(ratio, bps) });
    }
    const added = [];
    cy.batch(() => {
      const keep = new Set(edges.map((e) => e.id));
      cy.edges().forEach((x) => { if (!keep.has(x.id())) x.remove(); });
      cy.nodes().forEach((x) => { if (!nodes.has(x.id())) x.remove(); });
      for (const [id, v] of nodes) {
        const data = { id, label: v.node.name || id, size: nodeSize(v.bps) };
        const cls = nodeClass(v.node, v.isLocal);
        const x = cy.getElementById(id);
        if (x.nonempty()) {
          if (x.data('size') !== data.size) x.data(data);
          if (!x.hasClass(cls)) x.classes(cls);
        } else {
          added.push(cy.add({ group: 'nodes', data, classes: cls }));
        }
      }
      for (const e of edges) {
        const x = cy.getElementById(e.id);
        if (x.nonempty()) {
          if (x.data('width') !== e.width || x.data('color') !== e.color) x.data({ width: e.width, color: e.color, z: e.z });
        } else {
          cy.add({ group: 'edges', data: e });
        }
      }
    });
    for (const n of added) this.place(n);
    if (added.length) this.scheduleLayout(added);
  }

  // place puts a new node beside the neighbours it already has, or on the
  // rim of what is drawn, before the layout refines it.
  place(n) {
    const known = n.neighborhood('node').filter((m) => !this.pendingSet.has(m.id()));
    const bb = this.cy.nodes().filter((m) => !this.pendingSet.has(m.id()) && m !== n).boundingBox();
    const a = Math.random() * 2 * Math.PI;
    if (known.nonempty()) {
      let x = 0, y = 0;
      known.forEach((m) => { x += m.position('x'); y += m.position('y'); });
      n.position({ x: x / known.length + 90 * Math.cos(a), y: y / known.length + 90 * Math.sin(a) });
    } else if (bb.w > 0 && isFinite(bb.w)) {
      n.position({ x: (bb.x1 + bb.x2) / 2 + Math.cos(a) * (bb.w / 2 + 80), y: (bb.y1 + bb.y2) / 2 + Math.sin(a) * (bb.h / 2 + 80) });
    } else {
      n.position({ x: 150 * Math.cos(a), y: 150 * Math.sin(a) });
    }
    this.pendingSet.add(n.id());
  }

  scheduleLayout() {
    if (this.timer) return;
    const wait = Math.max(0, this.lastLayout + LAYOUT_EVERY_MS - performance.now());
    this.timer = setTimeout(() => { this.timer = null; this.layout(); }, wait);
  }

  // layout runs cose on the whole graph with every node but the new ones
  // locked: only new nodes move. The first layout places everything.
  layout() {
    const cy = this.cy;
    const fresh = cy.nodes().filter((n) => this.pendingSet.has(n.id()));
    this.pendingSet.clear();
    this.lastLayout = performance.now();
    if (fresh.empty()) return;
    const first = fresh.length === cy.nodes().length;
    const locked = cy.nodes().not(fresh).filter((n) => !n.locked());
    locked.lock();
    cy.layout({
      name: 'cose', animate: false, randomize: first, fit: false, padding: 30,
      numIter: first ? 1000 : 300, nodeDimensionsIncludeLabels: false,
      idealEdgeLength: () => 80, nodeRepulsion: () => 8000,
    }).run();
    locked.unlock();
    this.layouts++;
    if (this.follow) this.fit();
  }

  // pending says whether new nodes wait for their layout.
  get pending() { return this.pendingSet.size > 0; }

  // fit shows the whole graph, no closer than life size.
  fit() {
    this.fitting = true;
    this.cy.fit(undefined, 30);
    if (this.cy.zoom() > 1.2) {
      this.cy.zoom(1.2);
      this.cy.center();
    }
    this.fitting = false;
    this.follow = true;
  }

  select(sel) {
    this.cy.$(':selected').unselect();
    if (sel) this.cy.getElementById(sel.id).select();
  }

  // debug is what window.podflowView shows of the graph.
  debug() {
    return {
      nodes: this.cy.nodes().map((n) => ({ id: n.id(), label: n.data('label'), size: n.data('size'), classes: n.classes(), position: n.position(), rendered: n.renderedPosition() })),
      edges: this.cy.edges().map((e) => ({ id: e.id(), source: e.data('source'), target: e.data('target'), width: e.data('width'), color: e.data('color') })),
    };
  }
}
