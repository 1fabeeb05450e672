// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Debian's chromium, driven by playwright-core (which never downloads a
// browser of its own). CHROMIUM overrides the path.
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// launch starts it headless; benchmarks pass unthrottled=true so that
// frames come as fast as they are drawn, not at 60 Hz, and a frame's time
// is its work.
export function launch(unthrottled = false) {
  const args = ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
    '--disable-component-update', '--disable-sync', '--no-first-run'];
  if (unthrottled) args.push('--disable-frame-rate-limit', '--disable-gpu-vsync');
  return chromium.launch({ executablePath: chromiumPath, args });
}

// median of numbers.
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// graph returns a deterministic flow graph of nEdges edges among nNodes
// nodes, shaped like a node's flows: a few busy servers, many clients.
export function graph(nNodes, nEdges, seed = 1) {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const nodes = [];
  for (let i = 0; i < nNodes; i++) nodes.push({ id: 'n' + i, name: 'workload-' + i });
  const edges = [];
  const seen = new Set();
  while (edges.length < nEdges) {
    const a = Math.floor(rnd() * nNodes);
    const b = Math.floor(Math.pow(rnd(), 3) * nNodes); // servers: low indexes
    const port = [80, 443, 5432, 6379, 53][Math.floor(rnd() * 5)];
    const id = `${a}-${b}-${port}`;
    if (a === b || seen.has(id)) continue;
    seen.add(id);
    edges.push({ id: 'e' + id, source: 'n' + a, target: 'n' + b, port, bytes: Math.floor(rnd() * 1e7), fail: rnd() < 0.1 ? rnd() : 0 });
  }
  return { nodes, edges };
}
