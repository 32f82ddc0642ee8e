import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, until } from './lib.mjs';

test("an invoice's PDF opens in the page; the register CSV downloads", async () => {
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/invoices');
    await loginUi(page);
    const first = page.locator('[data-testid=invoice-table] tbody tr[data-invoice]').first();
    await first.waitFor({ timeout: 60_000 });
    await settle(page);
    await shootBoth(page, 'invoices');

    const pdfResponse = page.waitForResponse((r) => /\/v1\/invoices\/[0-9a-f-]+\/pdf$/.test(r.url()));
    await first.click();
    const res = await pdfResponse;
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'] ?? '', /application\/pdf/);
    const auth = res.request().headers()['authorization'] ?? '';
    assert.ok(auth.startsWith('Bearer '), 'fetched with the bearer token');
    // What the page was sent is a PDF (asked again from here with the same token).
    const again = await fetch(res.url(), { headers: { Authorization: auth } });
    const bytes = Buffer.from(await again.arrayBuffer());
    assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-', 'the server sent a PDF');
    const frame = page.locator('[data-testid=invoice-pdf]');
    await frame.waitFor();
    const src = await frame.getAttribute('src');
    assert.match(src, /^blob:/, 'the PDF is shown in the page from a blob URL');
    // The frame really navigated to that blob (the CSP allows frame-src blob:).
    await page.waitForFunction((u) => [...document.querySelectorAll('iframe')].some((f) => f.src === u), src);
    // Chromium's PDF viewer opened the document: its frame appears and takes the PDF's title.
    const viewer = await until(() => page.frames().find((f) => f.url().startsWith('chrome-extension://')), {
      what: 'the PDF viewer',
      timeout: 20_000,
    });
    await viewer.waitForFunction(() => document.title !== '' && !/\.html$/.test(document.title), null, { timeout: 20_000 });
    assert.match(await viewer.title(), /发票|Invoice|INV|CRN/i, `the viewer shows the invoice (${await viewer.title()})`);
    await settle(page);
    await shootBoth(page, 'invoice-pdf', { fullPage: false });
    await page.keyboard.press('Escape');

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=register-download]').click()]);
    const file = await download.path();
    const csv = readFileSync(file, 'utf8');
    assert.ok(csv.length > 0, 'the CSV has content');
    assert.match(download.suggestedFilename(), /\.csv$/);
    assert.ok(csv.split('\n').length >= 2, 'a header and at least one document');

    await page.getByRole('tab', { name: '开票设置' }).click();
    await page.locator('[data-testid=invoice-settings]').waitFor();
    await settle(page);
    await shootBoth(page, 'invoice-settings');
    assertClean(b);
  } finally {
    await b.close();
  }
});
