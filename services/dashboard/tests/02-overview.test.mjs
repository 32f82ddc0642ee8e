import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth } from './lib.mjs';

test('the overview shows orders arriving without a reload', async () => {
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/');
    await loginUi(page);
    const total = page.locator('[data-testid=kpi-total]');
    await page.waitForFunction(() => document.querySelector('[data-testid=kpi-total]')?.getAttribute('data-value') !== '');
    const first = Number(await total.getAttribute('data-value'));
    await page.locator('[data-testid=sync-health] .sync').first().waitFor();
    await settle(page);
    await shootBoth(page, 'overview');

    // No navigation from here on: the figure must move by itself (stream or refresh).
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations += 1;
    });
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=kpi-total]')?.getAttribute('data-value')) > n, first, {
      timeout: 90_000,
      polling: 500,
    });
    const later = Number(await total.getAttribute('data-value'));
    assert.ok(later > first, `orders went from ${first} to ${later}`);
    assert.equal(navigations, 0, 'the page was not reloaded');
    // The latest-orders feed is filled too.
    assert.ok((await page.locator('[data-testid=recent-orders] li').count()) > 0);
    assertClean(b);
  } finally {
    await b.close();
  }
});
