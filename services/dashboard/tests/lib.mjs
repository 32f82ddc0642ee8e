// Shared helpers for the browser tests: Debian's Chromium through playwright-core (never a
// downloaded browser), the base URL, logins, screenshots in both languages, and API calls
// made from Node for setting things up and checking results.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHmac, randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');
export const screensDir = process.env.CAIRN_SCREENS_DIR ?? join(repoRoot, 'target', 'dashboard-screens');
mkdirSync(screensDir, { recursive: true });

export const BASE = (process.env.CAIRN_DASHBOARD_URL ?? 'http://127.0.0.1:4173').replace(/\/$/, '');
export const DEMO = {
  email: process.env.CAIRN_DEMO_EMAIL ?? 'demo@cairn.local',
  password: process.env.CAIRN_DEMO_PASSWORD ?? 'cairn demo',
};
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh browser profile and one page; `close()` removes the profile. */
export async function openBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'cairn-dash-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('console', (m) => {
    const text = m.text();
    // The CSP is part of the contract: any violation fails the test that caused it.
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Fails when the page logged a CSP violation or threw. */
export function assertClean(b) {
  if (b.problems.length) throw new Error(`browser problems:\n${b.problems.join('\n')}`);
}

export async function gotoApp(page, path = '/') {
  await page.goto(`${BASE}${path}`);
}

/** Logs in through the form and waits for the shell. */
export async function loginUi(page, { email, password } = DEMO) {
  if (!page.url().startsWith(BASE)) await gotoApp(page, '/login');
  await page.locator('[data-testid=login-form] input[name=email]').fill(email);
  await page.locator('[data-testid=login-form] input[name=password]').fill(password);
  await page.locator('[data-testid=login-submit]').click();
  await page.locator('[data-testid=logout]').waitFor();
}

export async function currentLang(page) {
  return page.evaluate(() => document.documentElement.lang);
}

/** Switches the language with the app's own switch (clicked from script, so it works behind a modal). */
export async function setLang(page, lang) {
  await page.evaluate((l) => {
    const b = document.querySelector(`[data-lang="${l}"]`);
    if (!(b instanceof HTMLElement)) throw new Error('no language switch on this screen');
    b.click();
  }, lang);
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
}

/**
 * Screenshots the screen in both languages: `<name>.zh-CN.png` and `<name>.en.png`, leaving
 * the page in the language it was in.
 */
export async function shootBoth(page, name, { fullPage = true } = {}) {
  const start = await currentLang(page);
  const other = start === 'en' ? 'zh-CN' : 'en';
  await settle(page);
  await page.screenshot({ path: join(screensDir, `${name}.${start}.png`), fullPage });
  await setLang(page, other);
  await settle(page);
  await page.screenshot({ path: join(screensDir, `${name}.${other}.png`), fullPage });
  await setLang(page, start);
}

/** Waits until nothing on the page shows a loading skeleton or spinner. */
export async function settle(page, timeout = 10_000) {
  await page
    .waitForFunction(() => !document.querySelector('.skeleton, [data-state=loading], .state-loading'), null, { timeout })
    .catch(() => {});
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

// ---- the API from Node ----

export async function api(path, { token, method = 'GET', body, headers = {} } = {}) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

export async function tokenFor({ email, password } = DEMO) {
  const r = await api('/v1/auth/token', { method: 'POST', body: { email, password } });
  if (r.status !== 200) throw new Error(`login ${email} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token;
}

export async function signupApi(prefix = 'test') {
  const id = randomUUID().slice(0, 8);
  const account = { tenant_name: `测试商家 ${id}`, email: `${prefix}-${id}@example.cn`, password: `pw-${id}-correct horse` };
  const r = await api('/v1/signup', { method: 'POST', body: account });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...account, token: r.body.access_token, tenantId: r.body.tenant_id };
}

/** Signs a Bazaar webhook as BAZAAR.md says: base64 HMAC-SHA256 over "{timestamp}.{raw body}". */
export function signBazaar(secret, timestamp, rawBody) {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('base64');
}

/**
 * Pushes a paid Bazaar trade to `webhookUrl` (absolute, or a path on the dashboard's origin),
 * signed with `secret` as BAZAAR.md says; answers the fetch Response. `lines` are Bazaar
 * `orders` entries (oid defaults to `<tid>-<n>`).
 */
export async function pushPaidTrade({ webhookUrl, secret, shopId, tid, buyer, payment, lines }) {
  const now = new Date().toISOString();
  const body = JSON.stringify({
    topic: 'trade.TradeBuyerPay',
    shop_id: shopId,
    trade: {
      tid,
      status: 'WAIT_SELLER_SEND_GOODS',
      created: now,
      pay_time: now,
      modified: now,
      buyer_nick: buyer,
      currency: 'CNY',
      payment,
      post_fee: '0.00',
      discount_fee: '0.00',
      orders: lines.map((l, n) => ({ oid: `${tid}-${n + 1}`, refund_status: 'NO_REFUND', ...l })),
    },
  });
  const ts = Math.floor(Date.now() / 1000);
  return fetch(webhookUrl.startsWith('http') ? webhookUrl : `${BASE}${webhookUrl}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'X-Bazaar-Topic': 'trade.TradeBuyerPay',
      'X-Bazaar-Message-Id': `msg-${tid}`,
      'X-Bazaar-Timestamp': String(ts),
      'X-Bazaar-Signature': signBazaar(secret, ts, body),
      'X-Bazaar-Shop-Id': shopId,
    },
    body,
  });
}

/** Polls `f` until it returns something truthy (no fixed sleeps). */
export async function until(f, { timeout = 30_000, interval = 500, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await f();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export function uid() {
  return randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase();
}
