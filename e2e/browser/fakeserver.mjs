// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// A stand-in for the exporter's live view, for the page's render
// benchmark: it serves live/assets as live.PageHandler does (the graph
// library's script tag in place of the placeholder), and
// api/v1/flows/stream with a snapshot of a synthetic graph (chromium.mjs
// graph()) and then one delta per interval in which every edge gains
// traffic: its own steady rate, give or take 10%, so that every edge
// changes and a few trade places. The wire format is live/api.go's.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { graph } from './chromium.mjs';

const assets = fileURLToPath(new URL('../../live/assets/', import.meta.url));
const LIB = 'vendor/cytoscape.min.js';
const TYPES = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };
const LABELS = ['local_kind', 'local_workload', 'port', 'protocol', 'remote_kind', 'remote_workload', 'role'];

// edges turns graph(nNodes, nEdges) into live.Edge values.
function edges(nNodes, nEdges) {
  const g = graph(nNodes, nEdges);
  return g.edges.map((e) => {
    const local = { id: 'cgroup/' + e.source, name: e.source + '.service', kind: 'systemd' };
    const remote = { id: 'cgroup/' + e.target, name: e.target + '.service', kind: 'systemd' };
    const attempts = e.fail ? 20 : 0;
    return {
      id: e.id, local, remote,
      labels: { local_kind: 'systemd', local_workload: local.name, port: String(e.port), protocol: 'tcp', remote_kind: 'systemd', remote_workload: remote.name, role: 'client' },
      total: { transmit_bytes: e.bytes, receive_bytes: e.bytes >> 1, transmit_packets: e.bytes >> 10, receive_packets: e.bytes >> 11,
        ...(attempts ? { connect_attempts: attempts, connect_failures: { refused: Math.ceil(attempts * e.fail) } } : {}) },
      rate: { transmit_bytes: e.bytes / 100, receive_bytes: e.bytes / 200, transmit_packets: 0, receive_packets: 0, connect_attempts: 0, accepted_connections: 0, retransmitted_segments: 0 },
    };
  });
}

// startFake serves a graph of nEdges edges among nNodes nodes on a free
// port of 127.0.0.1; graphLib=false serves the page as a build without
// the library would; cluster=true offers scope=cluster (the same edges,
// rates only). It resolves to {url, close}.
export async function startFake({ nNodes = 120, nEdges = 500, intervalMs = 1000, graphLib = true, cluster = false } = {}) {
  const all = edges(nNodes, nEdges);
  let seq = 1;
  const clients = new Set();
  const snapshot = () => ({ scope: 'node', seq, time: new Date().toISOString(), rate_window_seconds: intervalMs / 1000, label_names: LABELS, total_edges: all.length, edges: all, cluster_available: cluster });
  const clusterSnapshot = () => ({ ...snapshot(), scope: 'cluster', rate_window_seconds: 300,
    edges: all.map((e) => ({ id: e.id, local: e.local, remote: e.remote, labels: e.labels, total: {}, rate: e.rate })) });
  const tick = setInterval(() => {
    seq++;
    const d = { first_seq: seq, last_seq: seq, time: new Date().toISOString(), interval_seconds: intervalMs / 1000, edges: [] };
    all.forEach((e, i) => {
      const noise = 0.9 + (((i * 7919 + seq * 104729) % 1000) / 1000) * 0.2;
      const gain = Math.round((e.rate.transmit_bytes * intervalMs / 1000) * noise);
      e.total.transmit_bytes += gain;
      d.edges.push({ id: e.id, local: e.local, remote: e.remote, labels: e.labels, total: { transmit_bytes: gain } });
    });
    for (const res of clients) res.write(`event: delta\nid: ${seq}\ndata: ${JSON.stringify(d)}\n\n`);
  }, intervalMs);

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/flows') {
      let html = await readFile(path.join(assets, 'index.html'), 'utf8');
      const tag = graphLib && existsSync(path.join(assets, LIB)) ? `<script src="flows/assets/${LIB}"></script>` : '';
      res.writeHead(200, { 'Content-Type': TYPES['.html'] });
      res.end(html.replace('<!--graph-library-->', tag));
    } else if (url.pathname.startsWith('/flows/assets/') && !url.pathname.includes('..')) {
      const name = url.pathname.slice('/flows/assets/'.length);
      if (!graphLib && name === LIB) { res.writeHead(404); res.end(); return; }
      try {
        const body = await readFile(path.join(assets, name));
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(name)] || 'application/octet-stream' });
        res.end(body);
      } catch { res.writeHead(404); res.end(); }
    } else if (url.pathname === '/api/v1/flows') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(url.searchParams.get('scope') === 'cluster' && cluster ? clusterSnapshot() : snapshot()));
    } else if (url.pathname === '/api/v1/flows/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write(`event: snapshot\nid: ${seq}\ndata: ${JSON.stringify(snapshot())}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else {
      res.writeHead(404); res.end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () => { clearInterval(tick); for (const c of clients) c.destroy(); return new Promise((r) => server.close(r)); },
  };
}

// Run alone, it serves until interrupted: node e2e/browser/fakeserver.mjs [edges] [nodes].
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const f = await startFake({ nEdges: Number(process.argv[2] || 500), nNodes: Number(process.argv[3] || 120), cluster: process.argv.includes('--cluster') });
  console.log(`${f.url}/flows`);
}
