// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// The details of the selected node or edge: identities (every label),
// totals, rates, failed connects by reason, mean RTT, and the PromQL that
// gives the same numbers in Prometheus.

import { OTHER, failures } from './state.js';
import { bytes, count, percent, perSecond, rate, seconds, selector } from './format.js';

// edgeQueries are the PromQL for an edge's numbers, by what they show.
export function edgeQueries(e, labelNames) {
  const s = selector(e.labels || {}, labelNames);
  return [
    ['Sent bytes/s', `sum(rate(podflow_flow_transmit_bytes_total${s}[5m]))`],
    ['Received bytes/s', `sum(rate(podflow_flow_receive_bytes_total${s}[5m]))`],
    ['Sent bytes', `sum(podflow_flow_transmit_bytes_total${s})`],
    ['Received bytes', `sum(podflow_flow_receive_bytes_total${s})`],
    ['Failed connects by reason', `sum by (reason) (podflow_tcp_connect_failures_total${s})`],
    ['Mean RTT', `sum(rate(podflow_tcp_rtt_seconds_sum${s}[5m])) / sum(rate(podflow_tcp_rtt_seconds_count${s}[5m]))`],
  ];
}

// sideLabels are the labels of one side of an edge (local_ or remote_).
function sideLabels(e, side) {
  const out = {};
  for (const [k, v] of Object.entries(e.labels || {})) if (k.startsWith(side + '_')) out[k] = v;
  return out;
}

// nodeQueries are the PromQL for a node: its traffic as the local side
// (what it sent and received) and as the remote side of other sockets.
export function nodeQueries(asLocal, asRemote, labelNames) {
  const q = [];
  if (asLocal) {
    const s = selector(asLocal, labelNames);
    q.push(['Sent bytes/s', `sum(rate(podflow_flow_transmit_bytes_total${s}[5m]))`]);
    q.push(['Received bytes/s', `sum(rate(podflow_flow_receive_bytes_total${s}[5m]))`]);
  }
  if (asRemote) {
    const s = selector(asRemote, labelNames);
    q.push(['Bytes/s sent to it', `sum(rate(podflow_flow_transmit_bytes_total${s}[5m]))`]);
    q.push(['Bytes/s received from it', `sum(rate(podflow_flow_receive_bytes_total${s}[5m]))`]);
  }
  return q;
}

function el(tag, attrs = {}, ...kids) {
  const x = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) x[k] = v;
  x.append(...kids);
  return x;
}

function dl(pairs) {
  const d = el('dl');
  for (const [k, v] of pairs) if (v !== null && v !== undefined && v !== '') d.append(el('dt', {}, k), el('dd', {}, v));
  return d;
}

function queriesList(qs) {
  const list = el('dl', { className: 'promql' });
  for (const [what, q] of qs) {
    const copy = el('button', { type: 'button', className: 'copy', title: 'Copy' }, 'Copy');
    copy.addEventListener('click', () => navigator.clipboard && navigator.clipboard.writeText(q));
    list.append(el('dt', {}, what, ' ', copy), el('dd', {}, el('code', {}, q)));
  }
  return list;
}

// rateCounters are an edge's numbers in cluster scope, which has rates
// over 5 m only (Prometheus's recording rules), no totals.
function rateCounters(r) {
  const reasons = Object.entries(r.connect_failures || {}).map(([k, v]) => `${k} ${perSecond(v)}`).join(', ');
  return dl([
    ['Sent', rate(r.transmit_bytes)],
    ['Received', rate(r.receive_bytes)],
    ['Connects', r.connect_attempts ? `${perSecond(r.connect_attempts)} attempted` : ''],
    ['Failed connects', r.failures ? `${perSecond(r.failures)}${r.connect_attempts ? ` (${percent(Math.min(1, r.failures / r.connect_attempts))} of attempts)` : ''}: ${reasons}` : ''],
  ]);
}

function counters(store, e, total) {
  const r = store.rates(e);
  if (store.scope === 'cluster') return rateCounters(r);
  const rtt = total.rtt && total.rtt.count ? total.rtt.sum_seconds / total.rtt.count : null;
  const reasons = Object.entries(total.connect_failures || {}).map(([k, v]) => `${k} ${count(v)}`).join(', ');
  return dl([
    ['Sent', `${rate(r.transmit_bytes)} · ${bytes(total.transmit_bytes || 0)} (${count(total.transmit_packets || 0)} packets)`],
    ['Received', `${rate(r.receive_bytes)} · ${bytes(total.receive_bytes || 0)} (${count(total.receive_packets || 0)} packets)`],
    ['Connects', total.connect_attempts ? `${count(total.connect_attempts)} attempted, ${count(total.connect_established || 0)} established` : ''],
    ['Failed connects', failures(total) ? `${count(failures(total))}: ${reasons}` : ''],
    ['Accepted', total.accepted_connections ? count(total.accepted_connections) : ''],
    ['Retransmitted', total.retransmitted_segments ? count(total.retransmitted_segments) + ' segments' : ''],
    ['Resets', total.resets_sent || total.resets_received ? `${count(total.resets_sent || 0)} sent, ${count(total.resets_received || 0)} received` : ''],
    ['Mean RTT', rtt === null ? '' : `${seconds(rtt)} (${count(total.rtt.count)} samples)`],
  ]);
}

function labelsList(labels) {
  return dl(Object.entries(labels).map(([k, v]) => [k, v]));
}

// render fills the panel for sel ({type, id}) from the store; it returns
// false when the selection is gone.
export function render(panel, store, sel) {
  panel.replaceChildren();
  if (!sel) { panel.hidden = true; return true; }
  const close = el('button', { type: 'button', className: 'close', title: 'Close' }, '×');
  close.addEventListener('click', () => panel.dispatchEvent(new CustomEvent('close')));
  if (sel.type === 'edge') {
    const e = store.edges.get(sel.id);
    if (!e) { panel.hidden = true; return false; }
    const other = e.id === OTHER;
    panel.append(close, el('h2', {}, other ? 'Other edges' : `${e.local.name} → ${e.remote.name}`));
    if (other) panel.append(el('p', {}, 'The sum of the edges beyond the top N of the snapshot.'));
    else {
      panel.append(el('h3', {}, 'Local'), labelsList(sideLabels(e, 'local')));
      panel.append(el('h3', {}, 'Remote'), labelsList(sideLabels(e, 'remote')));
      const rest = Object.fromEntries(Object.entries(e.labels || {}).filter(([k]) => !k.startsWith('local_') && !k.startsWith('remote_')));
      panel.append(el('h3', {}, 'Connection'), labelsList(rest));
    }
    panel.append(el('h3', {}, store.scope === 'cluster' ? 'Rates over 5 m' : 'Counts'), counters(store, e, e.total));
    if (!other) panel.append(el('h3', {}, 'PromQL'), queriesList(edgeQueries(e, store.labelNames)));
  } else {
    let node = null, asLocal = null, asRemote = null;
    const sum = { transmit_bytes: 0, receive_bytes: 0 };
    let sentRate = 0, recvRate = 0, edges = 0;
    for (const e of store.edges.values()) {
      if (e.id === OTHER) continue;
      const local = e.local.id === sel.id, remote = e.remote.id === sel.id;
      if (!local && !remote) continue;
      node = local ? e.local : e.remote;
      if (local) asLocal ||= sideLabels(e, 'local');
      if (remote) asRemote ||= sideLabels(e, 'remote');
      // Its own view: as the local side what it sent; as the remote side
      // what the local socket received from it.
      const r = store.rates(e);
      sum.transmit_bytes += local ? e.total.transmit_bytes || 0 : e.total.receive_bytes || 0;
      sum.receive_bytes += local ? e.total.receive_bytes || 0 : e.total.transmit_bytes || 0;
      sentRate += local ? r.transmit_bytes : r.receive_bytes;
      recvRate += local ? r.receive_bytes : r.transmit_bytes;
      edges++;
    }
    if (!node) { panel.hidden = true; return false; }
    panel.append(close, el('h2', {}, node.name));
    panel.append(dl([['Kind', node.kind], ['Namespace', node.namespace], ['ID', node.id], ['Edges', String(edges)]]));
    if (asLocal) panel.append(el('h3', {}, 'As the local side'), labelsList(asLocal));
    if (asRemote) panel.append(el('h3', {}, 'As the remote side'), labelsList(asRemote));
    const rateOnly = store.scope === 'cluster';
    panel.append(el('h3', {}, rateOnly ? 'Rates over 5 m' : 'Counts'), dl([
      ['Sent', rateOnly ? rate(sentRate) : `${rate(sentRate)} · ${bytes(sum.transmit_bytes)}`],
      ['Received', rateOnly ? rate(recvRate) : `${rate(recvRate)} · ${bytes(sum.receive_bytes)}`],
    ]));
    panel.append(el('h3', {}, 'PromQL'), queriesList(nodeQueries(asLocal, asRemote, store.labelNames)));
  }
  panel.hidden = false;
  return true;
}
