// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// bench-page measures the /flows page itself in headless Chromium, fed
// by fakeserver.mjs (a snapshot of N edges, then a delta every second in
// which every edge gains traffic; the page redraws at most once a second,
// so each delta is one redraw):
//   - first render: from navigation to the table's N rows and the graph's
//     N edges laid out and painted;
//   - per delta: the main thread's time (CDP Performance.getMetrics
//     TaskDuration) over 8 deltas, divided by the deltas that came, with
//     the view live and paused (parsing and the store alone).
// Sizes alternate, each run in a fresh page; it prints medians as JSON.
//
//	make assets && node e2e/browser/bench-page.mjs [runs]    # BENCH_ALL=1: every run too
//
// (docs/benchmarks.md, "Live view page").
import { launch, median } from './chromium.mjs';
import { startFake } from './fakeserver.mjs';

const sizes = [[40, 100], [120, 500]]; // [nodes, edges]
const runs = Number(process.argv[2] || 5);
const DELTAS = 8, INTERVAL_MS = 1000;

async function taskSeconds(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'TaskDuration').value;
}

// perDelta is the main thread's time per delta over DELTAS intervals; the
// page is left alone meanwhile (polling it would be counted too).
async function perDelta(page, cdp) {
  const seq0 = await page.evaluate(() => podflowView.seq);
  const t0 = await taskSeconds(cdp);
  await page.waitForTimeout(DELTAS * INTERVAL_MS);
  const t1 = await taskSeconds(cdp);
  const seq1 = await page.evaluate(() => podflowView.seq);
  if (seq1 - seq0 < DELTAS - 1) throw new Error(`only ${seq1 - seq0} deltas came in ${DELTAS} intervals`);
  return ((t1 - t0) * 1000) / (seq1 - seq0);
}

async function once(browser, nNodes, nEdges) {
  const fake = await startFake({ nNodes, nEdges, intervalMs: INTERVAL_MS });
  const page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
  try {
    await page.goto(fake.url + '/flows');
    await page.evaluate(() => podflowView.ready());
    if (!(await page.evaluate(() => podflowView.graphBuiltIn))) throw new Error('the graph library is not built in: run make assets');
    const first = await page.evaluate(async (n) => {
      const frame = () => new Promise((r) => requestAnimationFrame(r));
      for (;;) {
        const g = podflowView.graph();
        if (g && g.edges.length === n && podflowView.layouts > 0 && podflowView.rows().length === n) break;
        await frame();
      }
      await frame();
      await frame();
      return performance.now(); // since navigation started
    }, nEdges);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const live = await perDelta(page, cdp);
    await page.click('#pause');
    const paused = await perDelta(page, cdp);
    return { first, live, paused };
  } finally {
    await page.close();
    await fake.close();
  }
}

const browser = await launch();
const results = {};
for (let r = 0; r < runs; r++) {
  for (let j = 0; j < sizes.length; j++) {
    const [nNodes, nEdges] = sizes[(r + j) % sizes.length];
    const out = await once(browser, nNodes, nEdges);
    const key = `${nEdges} edges, ${nNodes} nodes`;
    results[key] ||= { first: [], live: [], paused: [] };
    for (const k of ['first', 'live', 'paused']) results[key][k].push(out[k]);
  }
}
await browser.close();
const report = {};
for (const [k, v] of Object.entries(results)) {
  report[k] = {
    first_render_ms: +median(v.first).toFixed(0),
    main_thread_per_delta_ms: +median(v.live).toFixed(1),
    main_thread_per_delta_paused_ms: +median(v.paused).toFixed(1),
    runs: v.first.length,
    all: process.env.BENCH_ALL ? v : undefined,
  };
}
console.log(JSON.stringify(report, null, 1));
