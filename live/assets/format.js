// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Numbers as people read them, and PromQL as Prometheus reads it.

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

// bytes prints a byte count in SI units: 1234 -> "1.23 kB".
export function bytes(n) {
  if (!n) return '0 B';
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toPrecision(3)) + ' ' + UNITS[i];
}

export function rate(bps) { return bytes(bps) + '/s'; }

export function count(n) { return Math.round(n).toLocaleString('en-US'); }

// perSecond prints an event rate to three digits: 0.333 -> "0.333/s".
export function perSecond(r) {
  if (!r) return '0/s';
  return (r >= 1000 ? count(r) : String(Number(r.toPrecision(3)))) + '/s';
}

// percent prints a ratio to two digits: 0.5 -> "50%", 0.0042 -> "0.4%".
export function percent(x) {
  return String(Number((100 * x).toPrecision(x >= 0.01 ? 2 : 1))) + '%';
}

export function seconds(s) {
  if (s < 1e-3) return (s * 1e6).toPrecision(3) + ' µs';
  if (s < 1) return (s * 1e3).toPrecision(3) + ' ms';
  return s.toPrecision(3) + ' s';
}

// promString quotes a label value for PromQL: backslash, double quote and
// newline escaped.
export function promString(v) {
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

// selector is {name="value",...} for labels, in the order names gives
// (the exporter's label order), then any others sorted.
export function selector(labels, names = []) {
  const keys = [...names.filter((k) => k in labels), ...Object.keys(labels).filter((k) => !names.includes(k)).sort()];
  return '{' + keys.map((k) => `${k}=${promString(labels[k])}`).join(',') + '}';
}
