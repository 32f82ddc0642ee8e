import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, signupApi, tokenFor } from './lib.mjs';

test("another tenant's order id in the URL shows not found, never the order", async () => {
  const demo = await tokenFor();
  const theirs = (await api('/v1/orders?per_page=1', { token: demo })).body.items[0];
  assert.ok(theirs, 'the demo tenant has an order');
  const other = await signupApi('tenant-b');
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, `/orders/${theirs.id}`);
    await loginUi(page, other);
    await page.locator('[data-testid=order-not-found]').waitFor();
    const text = await page.locator('.content').innerText();
    assert.ok(!text.includes(theirs.external_id), 'the other tenant’s order number is not shown');
    assert.ok(!text.includes(theirs.buyer_nick), 'nor its buyer');
    assert.equal(await page.locator('[data-testid=order-page]').count(), 0);
    await settle(page);
    await shootBoth(page, 'order-not-found', { fullPage: false });

    // A missing id and a malformed one read the same.
    await gotoApp(page, `/orders/${randomUUID()}`);
    await page.locator('[data-testid=order-not-found]').waitFor();
    await gotoApp(page, '/orders/not-an-id');
    await page.locator('[data-testid=order-not-found]').waitFor();
    // And the new tenant's own screens are empty, not the demo's.
    await gotoApp(page, '/orders');
    await page.locator('[data-testid=orders-table] [data-state=empty]').waitFor();
    await settle(page);
    await shootBoth(page, 'orders-empty', { fullPage: false });
    assertClean(b);
  } finally {
    await b.close();
  }
});
