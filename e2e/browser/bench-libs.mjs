// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// bench-libs measures candidate graph libraries for the /flows page in
// headless Chromium: first render of a flow graph (positions given, and
// with the library's own force layout) and an in-place update of every
// edge's width and colour, as a delta does. Runs alternate between
// libraries, each in a fresh page; it prints medians as JSON.
//
//	npm ci && npm install --no-save vis-network@10.1.5 sigma@3.0.3 graphology@0.26.0
//	node e2e/browser/bench-libs.mjs [runs]
//
// (docs/benchmarks.md, "Live view page").
import { fileURLToPath } from 'node:url';
import { launch, median, graph } from './chromium.mjs';

const nm = (f) => fileURLToPath(new URL('../../node_modules/' + f, import.meta.url));
const libs = {
  cytoscape: [nm('cytoscape/dist/cytoscape.min.js')],
  'vis-network': [nm('vis-network/standalone/umd/vis-network.min.js')],
  sigma: [nm('graphology/dist/graphology.umd.min.js'), nm('sigma/dist/sigma.min.js')],
};
const sizes = [[40, 100], [120, 500]]; // [nodes, edges]
const runs = Number(process.argv[2] || 7);

// inPage runs in the browser: it builds the graph with one library and
// returns {render, update} in milliseconds.
async function inPage({ lib, g, layout }) {
  const paint = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const el = document.getElementById('g');
  const n = g.nodes.length;
  g.nodes.forEach((v, i) => { v.x = 400 * Math.cos(2 * Math.PI * i / n); v.y = 400 * Math.sin(2 * Math.PI * i / n); });
  const width = (b) => 1 + Math.log10(1 + b) / 2;
  const colour = (f) => (f > 0.05 ? '#d62728' : '#888888');
  const t0 = performance.now();
  let update;
  if (lib === 'cytoscape') {
    const cy = cytoscape({
      container: el,
      elements: [
        ...g.nodes.map((v) => ({ data: { id: v.id, label: v.name }, position: { x: v.x, y: v.y } })),
        ...g.edges.map((e) => ({ data: { id: e.id, source: e.source, target: e.target, w: width(e.bytes), c: colour(e.fail) } })),
      ],
      style: [
        { selector: 'node', style: { label: 'data(label)', width: 12, height: 12, 'font-size': 8 } },
        { selector: 'edge', style: { width: 'data(w)', 'line-color': 'data(c)', 'curve-style': 'haystack' } },
      ],
      layout: layout ? { name: 'cose', animate: false, randomize: false } : { name: 'preset' },
    });
    update = (k) => cy.batch(() => cy.edges().forEach((e, i) => e.data({ w: 1 + ((i + k) % 7), c: (i + k) % 5 ? '#888888' : '#d62728' })));
  } else if (lib === 'vis-network') {
    const nodes = new vis.DataSet(g.nodes.map((v) => ({ id: v.id, label: v.name, x: v.x, y: v.y, size: 6, font: { size: 8 } })));
    const edges = new vis.DataSet(g.edges.map((e) => ({ id: e.id, from: e.source, to: e.target, width: width(e.bytes), color: colour(e.fail) })));
    const opts = layout ? {} : { physics: false };
    const done = layout ? null : Promise.resolve();
    const net = new vis.Network(el, { nodes, edges }, opts);
    if (layout) await new Promise((r) => net.once('stabilizationIterationsDone', r));
    await done;
    update = (k) => edges.update(g.edges.map((e, i) => ({ id: e.id, width: 1 + ((i + k) % 7), color: (i + k) % 5 ? '#888888' : '#d62728' })));
  } else {
    if (layout) return null; // sigma has no layout of its own
    const G = new graphology.MultiGraph();
    g.nodes.forEach((v) => G.addNode(v.id, { label: v.name, x: v.x, y: v.y, size: 4 }));
    g.edges.forEach((e) => G.addEdgeWithKey(e.id, e.source, e.target, { size: width(e.bytes), color: colour(e.fail) }));
    const s = new Sigma(G, el);
    window.keep = s;
    update = (k) => g.edges.forEach((e, i) => { G.setEdgeAttribute(e.id, 'size', 1 + ((i + k) % 7)); G.setEdgeAttribute(e.id, 'color', (i + k) % 5 ? '#888888' : '#d62728'); });
  }
  await paint();
  const render = performance.now() - t0;
  // busy is the main thread's work for the next frames: from each frame's
  // start to the end of the last rAF callback (ours, registered last).
  const busy = async (frames) => {
    let sum = 0;
    for (let i = 0; i < frames; i++) {
      sum += await new Promise((r) => requestAnimationFrame((ts) => r(performance.now() - ts)));
    }
    return sum;
  };
  const idle = await busy(3);
  const ups = [];
  for (let k = 1; k <= 7; k++) {
    await paint();
    const t = performance.now();
    update(k);
    const sync = performance.now() - t;
    ups.push(sync + await busy(3));
  }
  ups.sort((a, b) => a - b);
  return { render, update: ups[3], idle };
}

const browser = await launch(true);
const results = {};
const names = Object.keys(libs);
for (let r = 0; r < runs; r++) {
  for (let j = 0; j < names.length; j++) {
    const lib = names[(r + j) % names.length]; // alternate which goes first
    for (const [nNodes, nEdges] of sizes) {
      for (const layout of [false, true]) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.setContent('<div id="g" style="width:1000px;height:700px"></div>');
        for (const f of libs[lib]) await page.addScriptTag({ path: f });
        const out = await page.evaluate(inPage, { lib, g: graph(nNodes, nEdges), layout });
        await page.close();
        if (!out) continue;
        const key = `${lib} ${nEdges} edges ${layout ? 'layout' : 'preset'}`;
        (results[key] ||= { render: [], update: [] });
        results[key].render.push(out.render);
        results[key].update.push(out.update);
        (results[key].idle ||= []).push(out.idle);
      }
    }
  }
}
await browser.close();
const report = {};
for (const [k, v] of Object.entries(results)) {
  report[k] = { first_render_ms: +median(v.render).toFixed(1), update_all_edges_ms: +median(v.update).toFixed(1), idle_3_frames_ms: +median(v.idle).toFixed(1), runs: v.render.length };
}
console.log(JSON.stringify(report, null, 1));
