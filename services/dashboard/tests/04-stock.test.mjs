import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, tokenFor, uid, until } from './lib.mjs';

test('SKUs and warehouses are created from the screen; an adjustment clicked twice quickly counts once', async () => {
  const token = await tokenFor();
  const code = `T-${uid()}`;
  const wh = `W${uid().slice(0, 6)}`;
  const b = await openBrowser();
  const { page } = b;
  const adjustments = { sent: 0, answered: 0, keys: new Set() };
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/v1/stock/adjustments')) {
      adjustments.sent += 1;
      adjustments.keys.add(r.headers()['idempotency-key']);
    }
  });
  page.on('requestfinished', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/v1/stock/adjustments')) adjustments.answered += 1;
  });
  page.on('requestfailed', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/v1/stock/adjustments')) adjustments.answered += 1;
  });
  try {
    await gotoApp(page, '/stock');
    await loginUi(page);
    await page.locator('[data-testid=stock-table] tbody tr[data-sku]').first().waitFor();
    await settle(page);
    await shootBoth(page, 'stock');

    // A warehouse, from the screen.
    await page.locator('[data-testid=new-warehouse]').click();
    const wd = page.locator('[data-testid=warehouse-dialog]');
    await wd.locator('input[name=code]').fill(wh);
    await wd.locator('input[name=name]').fill(`测试仓 ${wh}`);
    await wd.locator('[data-testid=warehouse-create]').click();
    await wd.locator('input[name=code]').waitFor({ state: 'detached' });
    const whs = await api('/v1/warehouses', { token });
    assert.ok(
      whs.body.some((w) => w.code === wh),
      'the warehouse exists',
    );

    // A SKU, from the screen.
    await page.locator('[data-testid=new-sku]').click();
    const sd = page.locator('[data-testid=sku-dialog]');
    await sd.locator('input[name=code]').fill(code);
    await sd.locator('input[name=name]').fill('测试商品 双击入库');
    await shootBoth(page, 'stock-new-sku', { fullPage: false });
    await sd.locator('[data-testid=sku-create]').click();
    const row = page.locator(`[data-testid=stock-table] tr[data-sku="${code}"]`);
    await row.waitFor();

    await row.click();
    const drawer = page.locator('[data-testid=sku-drawer]');
    await drawer.locator('[data-testid=sku-on-hand]').waitFor();
    assert.equal(await drawer.locator('[data-testid=sku-on-hand]').innerText(), '0');
    await drawer.locator('input[name=quantity]').fill('7');
    await drawer.locator('input[name=reason]').fill('到货 双击测试');
    await drawer.locator('[data-testid=adjust-submit]').dblclick();
    await page.waitForFunction(() => document.querySelector('[data-testid=sku-on-hand]')?.textContent === '7');
    // Whatever the double click sent must have been answered before counting.
    await until(() => adjustments.sent > 0 && adjustments.answered === adjustments.sent, { what: 'adjustments answered' });
    const stock = await api(`/v1/stock/${code}`, { token });
    assert.equal(stock.body.on_hand, 7, 'on hand moved by 7 exactly once');
    const ledger = await api(`/v1/stock/${code}/ledger`, { token });
    const moves = ledger.body.filter((e) => e.kind === 'adjustment' || e.kind === 'receipt');
    assert.equal(moves.length, 1, `one movement in the ledger (requests sent: ${adjustments.sent})`);
    assert.equal(adjustments.keys.size, 1, 'every request of the submission carried the same Idempotency-Key');
    await drawer.locator('[data-testid=ledger] tbody tr').first().waitFor();
    await settle(page);
    await shootBoth(page, 'stock-ledger', { fullPage: false });

    // A second, separate submission is a new adjustment (a new key).
    await drawer.locator('input[name=quantity]').fill('3');
    await drawer.locator('input[name=reason]').fill('第二次到货');
    await drawer.locator('[data-testid=adjust-submit]').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=sku-on-hand]')?.textContent === '10');
    assert.equal((await api(`/v1/stock/${code}`, { token })).body.on_hand, 10);
    assertClean(b);
  } finally {
    await b.close();
  }
});

test('the low-stock threshold is saved from the stock screen and the server keeps it', async () => {
  const token = await tokenFor();
  const before = (await api('/v1/inventory/settings', { token })).body.low_stock_threshold;
  const want = before === 6 ? 7 : 6;
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/stock');
    await loginUi(page);
    await page.getByRole('button', { name: new RegExp(`低库存阈值：${before}`) }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input').fill(String(want));
    await dialog.getByRole('button', { name: '保存' }).click();
    await page.getByRole('button', { name: new RegExp(`低库存阈值：${want}`) }).waitFor();
    const after = await api('/v1/inventory/settings', { token });
    assert.equal(after.body.low_stock_threshold, want, 'the server has the new threshold');
    assertClean(b);
  } finally {
    await api('/v1/inventory/settings', { token, method: 'PUT', body: { low_stock_threshold: before } });
    await b.close();
  }
});
