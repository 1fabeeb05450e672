// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// flows-page drives the /flows page in headless Chromium for
// e2e/live_page_test.go: it reads one JSON command a line on stdin, does
// it, and prints one JSON line with what it saw ({"error": ...} when the
// command failed). It reads the page through the DOM and the page's
// read-only window.podflowView.
//
//	{"cmd":"open","url":"http://127.0.0.1:9810/flows","user":"u","password":"p"}
//	{"cmd":"observe"}
//	{"cmd":"filter","text":"port=80","failuresOnly":true}
//	{"cmd":"sort","column":"Sent"}
//	{"cmd":"clickRow","id":"..."}   {"cmd":"clickNode","label":"..."}
//	{"cmd":"pause"}                  {"cmd":"scope","scope":"cluster"}
//	{"cmd":"screenshot","path":"/tmp/x.png"}
//	{"cmd":"close"}
import readline from 'node:readline';
import { launch } from './chromium.mjs';

let browser, context, page;
const problems = []; // page errors and failed requests, reported by observe

async function open({ url, user, password }) {
  if (context) await context.close();
  browser ||= await launch();
  context = await browser.newContext({
    viewport: { width: 1400, height: 850 },
    ...(user ? { httpCredentials: { username: user, password } } : {}),
  });
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const at = m.location() && m.location().url;
    problems.push('console: ' + m.text() + (at ? ` (${at})` : ''));
  });
  // Without credentials for a server that asks, headless Chromium fails
  // the navigation (no one to prompt); the 401 was seen all the same.
  let status = 0;
  page.on('response', (r) => { if (r.url() === url) status = r.status(); });
  try {
    status = (await page.goto(url)).status();
  } catch (err) {
    if (!status) throw err;
  }
  const out = { status };
  if (status === 200) {
    await page.waitForFunction(() => window.podflowView);
    await page.evaluate(() => podflowView.ready());
    out.graphBuiltIn = await page.evaluate(() => podflowView.graphBuiltIn);
    out.notice = await page.isVisible('#notice');
  }
  return out;
}

// observe is the page's state: connection, seq, graph, the shown rows in
// order, the details panel.
async function observe() {
  const view = await page.evaluate(() => ({
    state: podflowView.state, seq: podflowView.seq, shownSeq: podflowView.shownSeq, settled: podflowView.settled,
    events: podflowView.events, graph: podflowView.graph(), rows: podflowView.rows(),
  }));
  view.status = await page.textContent('#status');
  view.count = await page.textContent('#count');
  view.scope = await page.evaluate(() => podflowView.scope);
  view.scopeSwitch = await page.isVisible('#scope');
  view.graphVisible = await page.isVisible('#graph-pane');
  view.notice = (await page.isVisible('#notice')) ? await page.innerText('#notice') : '';
  view.details = await details();
  view.problems = problems.splice(0);
  return view;
}

async function details() {
  if (!(await page.isVisible('#details'))) return null;
  return page.evaluate(() => {
    const d = document.getElementById('details');
    return {
      title: d.querySelector('h2').textContent,
      text: d.innerText,
      promql: [...d.querySelectorAll('dl.promql code')].map((c) => c.textContent),
    };
  });
}

async function clickNode({ label }) {
  await page.waitForFunction(() => podflowView.settled);
  const pos = await page.evaluate((l) => {
    const n = podflowView.graph().nodes.find((x) => x.label === l);
    return n && n.rendered;
  }, label);
  if (!pos) throw new Error(`no node labelled ${label} in the graph`);
  const box = await page.locator('#graph').boundingBox();
  await page.mouse.click(box.x + pos.x, box.y + pos.y);
  await page.waitForTimeout(100);
  return { details: await details() };
}

const commands = {
  open,
  observe,
  async filter({ text, failuresOnly }) {
    await page.fill('#filter', text || '');
    await page.setChecked('#failures-only', !!failuresOnly);
    return observe();
  },
  async sort({ column }) {
    await page.click(`#edges thead button:text-is("${column}")`);
    return observe();
  },
  async clickRow({ id }) {
    await page.click(`#edges tbody tr[data-id="${CSS_escape(id)}"] button`);
    return { details: await details() };
  },
  clickNode,
  async pause() {
    await page.click('#pause');
    return observe();
  },
  async scope({ scope }) {
    await page.click(`#scope-${scope}`);
    return observe();
  },
  async screenshot({ path }) {
    await page.screenshot({ path });
    return { path };
  },
  async close() {
    if (browser) await browser.close();
    browser = null;
    return {};
  },
};

// CSS_escape quotes an attribute value for a selector.
function CSS_escape(s) { return String(s).replace(/["\\]/g, '\\$&'); }

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    const c = JSON.parse(line);
    const f = commands[c.cmd];
    if (!f) throw new Error(`unknown command ${c.cmd}`);
    out = await f(c);
  } catch (err) {
    out = { error: String(err && err.stack ? err.stack : err) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
if (browser) await browser.close();
