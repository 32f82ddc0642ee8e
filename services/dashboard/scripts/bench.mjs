#!/usr/bin/env node
// A benchmark, not a test: prints the first screen's compressed size, the time from opening
// the dashboard to the overview's first figures, and the orders list's time to show page 1
// and page 100. Run it against a dashboard served with its API on the same origin, e.g. a
// `cairn up --demo` holding 100,000 orders:
//   node scripts/bench.mjs --base-url http://127.0.0.1:8080 [--email demo@cairn.local --password 'cairn demo'] [--runs 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { firstScreenSize } from './size.mjs';

const { values } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    email: { type: 'string', default: 'demo@cairn.local' },
    password: { type: 'string', default: 'cairn demo' },
    runs: { type: 'string', default: '3' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const base = (values['base-url'] ?? '').replace(/\/$/, '');
if (!base) {
  console.error('usage: node scripts/bench.mjs --base-url <url> [--email e --password p] [--runs 3]');
  process.exit(2);
}
const runs = Math.max(1, Number(values.runs) || 3);

const size = firstScreenSize();
console.log(`first screen: ${(size.total / 1024).toFixed(1)} KB gzip (${size.rows.map((r) => r.file).join(', ')})`);

const login = await fetch(`${base}/v1/auth/token`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email: values.email, password: values.password }),
});
if (!login.ok) {
  console.error(`login failed: ${login.status} ${await login.text()}`);
  process.exit(2);
}
const token = (await login.json()).access_token;
const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
const session = JSON.stringify({ token, email: values.email, tenantId: claims.tenant_id ?? '', exp: claims.exp });
const total = (await (await fetch(`${base}/v1/orders?per_page=1`, { headers: { Authorization: `Bearer ${token}` } })).json()).total;
console.log(`orders in the tenant: ${total}`);
// Page 100 at 50 a page needs 4,951 orders; with fewer, the last page stands in for it.
const target = Math.max(1, Math.min(100, Math.ceil(total / 50)));

async function withPage(f) {
  const profile = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: values.chromium,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1440, height: 900 },
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(120_000);
  // Logged in already: the figures measure the app and the API, not typing.
  await page.addInitScript((s) => sessionStorage.setItem('cairn.session', s), session);
  try {
    return await f(page);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const overview = [];
const page1 = [];
const page100 = [];
let mode = 'unknown';
for (let i = 0; i < runs; i++) {
  await withPage(async (page) => {
    const t0 = performance.now();
    await page.goto(`${base}/`);
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid=kpi-total]')?.getAttribute('data-value') !== '' &&
        !!document.querySelector('[data-testid=kpi-total]'),
    );
    overview.push(performance.now() - t0);
  });
  await withPage(async (page) => {
    const t0 = performance.now();
    await page.goto(`${base}/orders`);
    await page.locator('[data-testid=orders-table] tbody tr[data-order]').first().waitFor();
    page1.push(performance.now() - t0);
    mode = (await page.locator('[data-testid=pager]').getAttribute('data-mode')) ?? 'unknown';
    if (mode === 'offset') {
      // Page numbers: open page 100 directly, as a seller jumping there would.
      const t1 = performance.now();
      await page.goto(`${base}/orders?page=${target}`);
      await page.waitForFunction(
        (n) =>
          document.querySelector('[data-testid=pager]')?.getAttribute('data-page') === String(n) &&
          !!document.querySelector('[data-testid=orders-table] tbody tr[data-order]'),
        target,
      );
      page100.push(performance.now() - t1);
    } else {
      // Cursors: page 100 is 99 "next" clicks away; the figure is the 100th page's own time.
      let last = 0;
      for (let p = 2; p <= target; p++) {
        const before = await page.locator('[data-testid=orders-table] tbody tr[data-order]').first().getAttribute('data-order');
        const next = page.locator('[data-testid=page-next]');
        if (await next.isDisabled()) break;
        const t1 = performance.now();
        await next.click();
        await page.waitForFunction((b) => {
          const first = document.querySelector('[data-testid=orders-table] tbody tr[data-order]');
          return first && first.getAttribute('data-order') !== b && !document.querySelector('table.is-stale');
        }, before);
        last = performance.now() - t1;
      }
      page100.push(last);
    }
  });
}
console.log(`overview, first figures: median ${fmt(median(overview))} (runs: ${overview.map(fmt).join(', ')})`);
console.log(`orders, page 1:          median ${fmt(median(page1))} (runs: ${page1.map(fmt).join(', ')})`);
console.log(`orders, page ${target} (${mode} paging): median ${fmt(median(page100))} (runs: ${page100.map(fmt).join(', ')})`);
