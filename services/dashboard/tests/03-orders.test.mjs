import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, tokenFor, until } from './lib.mjs';

test('an order found by its tid through the filter shows its lines, reservation states and timeline', async () => {
  const token = await tokenFor();
  // A paid order whose lines inventory has processed (so each has a reservation state).
  const order = await until(
    async () => {
      const r = await api('/v1/orders?status=allocated&per_page=20', { token });
      return r.body.items.find((o) => o.lines.every((l) => l.reservation_state));
    },
    { timeout: 60_000, what: 'an allocated order' },
  );
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/orders');
    await loginUi(page);
    await page.locator('[data-testid=orders-table] tbody tr[data-order]').first().waitFor();
    await settle(page);
    await shootBoth(page, 'orders');

    await page.locator('[data-testid=order-filters] input[name=tid]').fill(order.external_id);
    await page.locator('[data-testid=filter-apply]').click();
    await page.waitForURL(/tid=/);
    const rows = page.locator('[data-testid=orders-table] tbody tr[data-order]');
    await page.waitForFunction((tid) => {
      const rs = [...document.querySelectorAll('[data-testid=orders-table] tbody tr[data-order]')];
      return rs.length === 1 && rs[0].getAttribute('data-order') === tid;
    }, order.external_id);
    assert.equal(await rows.count(), 1, 'the filter finds exactly that order');
    await shootBoth(page, 'orders-filtered');

    await rows.first().getByRole('link', { name: order.external_id }).click();
    await page.locator('[data-testid=order-page]').waitFor();
    assert.equal(await page.locator('[data-testid=order-tid]').innerText(), order.external_id);
    const lines = page.locator('[data-testid=order-lines] tbody tr');
    assert.equal(await lines.count(), order.lines.length, 'every line is listed');
    const states = await page.locator('[data-testid=reservation-state]').allInnerTexts();
    assert.equal(states.length, order.lines.length);
    for (const s of states) assert.match(s, /已确认|已锁定|已出库|缺货排队|已释放|已过期|未预占/, `a reservation state: ${s}`);
    const timeline = page.locator('[data-testid=order-timeline] li');
    await timeline.first().waitFor();
    assert.ok((await timeline.count()) >= 2, 'the timeline has the creation and what followed');
    await settle(page);
    await shootBoth(page, 'order');

    // A deep link to the same page works on a fresh load.
    await page.reload();
    await page.locator('[data-testid=order-page]').waitFor();
    assertClean(b);
  } finally {
    await b.close();
  }
});

test('bulk shipping ships each selected order with its own waybill and shows per-order results', async () => {
  const token = await tokenFor();
  const picks = await until(
    async () => {
      const r = await api('/v1/orders?status=allocated&per_page=50', { token });
      return r.body.items.length >= 2 ? r.body.items.slice(0, 2) : null;
    },
    { timeout: 60_000, what: 'two allocated orders' },
  );
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/orders?status=allocated');
    await loginUi(page);
    for (const o of picks) {
      const row = page.locator(`[data-testid=orders-table] tr[data-order="${o.external_id}"]`);
      await row.waitFor();
      await row.locator('input[type=checkbox]').check();
    }
    await page.locator('[data-testid=bulkbar]').waitFor();
    await shootBoth(page, 'orders-selected', { fullPage: false });
    await page.locator('[data-testid=bulkbar] [data-action=ship]').click();
    const dialog = page.locator('[data-testid=ship-dialog]');
    await dialog.locator('input[name^=waybill-]').first().waitFor();
    const base = `SF${Date.now()}`;
    await dialog.locator(`input[name="waybill-${picks[0].external_id}"]`).fill(base);
    await dialog.getByRole('button', { name: '按首单号依次递增填充' }).click();
    await shootBoth(page, 'ship-dialog', { fullPage: false });
    await dialog.locator('[data-testid=ship-submit]').click();
    await dialog.locator('[data-testid=ship-summary]').waitFor();
    for (const o of picks) {
      const cell = dialog.locator(`[data-testid="ship-result-${o.external_id}"]`);
      assert.match(await cell.innerText(), /成功/, `order ${o.external_id} shipped`);
    }
    await shootBoth(page, 'ship-results', { fullPage: false });
    for (const o of picks) {
      const r = await api(`/v1/orders/${o.id}`, { token });
      assert.equal(r.body.status, 'shipped');
      assert.equal(r.body.shipments.length, 1);
    }
    const waybills = await Promise.all(picks.map(async (o) => (await api(`/v1/orders/${o.id}`, { token })).body.shipments[0].waybill_no));
    assert.notEqual(waybills[0], waybills[1], 'each order got its own waybill');
    assertClean(b);
  } finally {
    await b.close();
  }
});
