import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, tokenFor, uid, until } from './lib.mjs';

test('orders held by hand in bulk show in the holds view with their reason and note, and release in bulk', async () => {
  const token = await tokenFor();
  // Two orders nothing holds yet, not shipped: what a seller would stop before it goes out.
  const picks = await until(
    async () => {
      const r = await api('/v1/orders?status=allocated&per_page=50', { token });
      const free = r.body.items.filter((o) => o.holds.length === 0);
      return free.length >= 2 ? free.slice(0, 2) : null;
    },
    { timeout: 60_000, what: 'two allocated orders without holds' },
  );
  const note = `核实地址 ${uid()}`;
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
    await page.locator('[data-testid=bulkbar] [data-action=hold]').click();
    const dialog = page.locator('[data-testid=hold-dialog]');
    await dialog.locator('input[name=note]').fill(note);
    await shootBoth(page, 'hold-dialog', { fullPage: false });
    await dialog.locator('[data-testid=hold-submit]').click();
    await dialog.locator('[data-testid=hold-summary]').waitFor();
    for (const o of picks) {
      assert.match(await dialog.locator(`[data-testid="hold-result-${o.external_id}"]`).innerText(), /成功/);
    }
    // What the server now says, not only what the page says.
    for (const o of picks) {
      const r = await api(`/v1/orders/${o.id}`, { token });
      assert.equal(r.body.status, 'on_hold', `${o.external_id} is on hold`);
      const manual = r.body.holds.find((h) => h.reason === 'manual');
      assert.ok(manual, 'a manual hold');
      assert.match(manual.detail, new RegExp(note));
      assert.ok(manual.releasable);
    }
    await dialog.locator('[data-testid=hold-close]').click();

    // The holds view, on the manual tab, lists them with the reason and the note.
    await page.locator('[data-nav="/holds"]').click();
    await page.locator('[data-testid=reason-tabs] [data-tab=manual]').click();
    await page.waitForURL(/reason=manual/);
    for (const o of picks) {
      const row = page.locator(`[data-testid=holds-table] tr[data-order="${o.external_id}"]`);
      await row.waitFor();
      assert.match(await row.locator('[data-hold=manual]').first().innerText(), /手动挂起/);
      assert.match(await row.innerText(), new RegExp(note));
    }
    await settle(page);
    await shootBoth(page, 'holds');

    // The audit rules open from here (defaults: the optional rules are off).
    await page.locator('[data-testid=audit-rules-open]').click();
    const rules = page.locator('[data-testid=audit-rules]');
    await rules.locator('input[name=buyer_memo]').waitFor();
    const server = (await api('/v1/orders/audit-rules', { token })).body;
    assert.equal(await rules.locator('input[name=buyer_memo]').isChecked(), server.buyer_memo);
    assert.equal(await rules.locator('input[name=amount_on]').isChecked(), !!server.amount_over);
    await shootBoth(page, 'audit-rules', { fullPage: false });
    await rules.getByRole('button', { name: '取消' }).click();

    // Release both in bulk.
    for (const o of picks) {
      await page.locator(`[data-testid=holds-table] tr[data-order="${o.external_id}"] input[type=checkbox]`).check();
    }
    await page.locator('[data-testid=bulkbar] [data-action=release]').click();
    await dialog.locator('[data-testid=hold-submit]').click();
    await dialog.locator('[data-testid=hold-summary]').waitFor();
    for (const o of picks) {
      assert.match(await dialog.locator(`[data-testid="hold-result-${o.external_id}"]`).innerText(), /成功/);
    }
    await shootBoth(page, 'release-results', { fullPage: false });
    for (const o of picks) {
      const r = await api(`/v1/orders/${o.id}`, { token });
      assert.ok(!r.body.holds.some((h) => h.reason === 'manual'), `${o.external_id} released`);
      assert.notEqual(r.body.status, 'on_hold');
      assert.ok(
        r.body.timeline.some((e) => e.kind === 'hold' && e.detail.includes(note)),
        'the hold and its note are on the timeline',
      );
    }
    await dialog.locator('[data-testid=hold-close]').click();
    // Released orders leave the manual tab.
    for (const o of picks) {
      await page.locator(`[data-testid=holds-table] tr[data-order="${o.external_id}"]`).waitFor({ state: 'detached' });
    }

    // The order page shows where each line's units are reserved, and that nothing holds it.
    await gotoApp(page, `/orders/${picks[0].id}`);
    await page.locator('[data-testid=order-holds-none]').waitFor();
    const order = (await api(`/v1/orders/${picks[0].id}`, { token })).body;
    const cells = await page.locator('[data-testid=line-warehouses]').allInnerTexts();
    assert.equal(cells.length, order.lines.length);
    order.lines.forEach((l, i) => {
      for (const w of l.warehouses) assert.match(cells[i], new RegExp(w.warehouse_code), 'each line shows its warehouse');
    });
    await settle(page);
    await shootBoth(page, 'order-released');
    assertClean(b);
  } finally {
    await b.close();
  }
});
