import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, pushPaidTrade, tokenFor, uid, until } from './lib.mjs';

test('connecting a shop shows its webhook URL once; a webhook signed with the shown secret becomes an order in the list', async () => {
  const token = await tokenFor();
  const shopId = `shop-t${uid().slice(0, 6).toLowerCase()}`;
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/shops');
    await loginUi(page);
    await page.locator('[data-testid=shops] .shop').first().waitFor();
    await settle(page);
    await shootBoth(page, 'shops');

    await page.locator('[data-testid=connect-shop]').click();
    const d = page.locator('[data-testid=connect-dialog]');
    await d.locator('input[name=shop_id]').fill(shopId);
    await d.locator('input[name=name]').fill(`测试店铺 ${shopId}`);
    await shootBoth(page, 'shops-connect', { fullPage: false });
    await d.locator('[data-testid=connect-submit]').click();
    const urlEl = d.locator('[data-testid=connected-webhook-url]');
    await urlEl.waitFor();
    const webhookUrl = await urlEl.innerText();
    const secret = await d.locator('[data-testid=connected-webhook-secret]').innerText();
    assert.match(webhookUrl, /\/v1\/webhooks\/bazaar\/[0-9a-f-]{36}$/);
    assert.ok(secret.length >= 16, 'the secret is shown');
    await shootBoth(page, 'shops-connected', { fullPage: false });
    await d.locator('[data-testid=connect-done]').click();
    // Listing never shows the secret again.
    const list = await api('/v1/channels', { token });
    const ch = list.body.find((c) => c.shop_id === shopId);
    assert.ok(ch && !ch.webhook_secret);

    // The marketplace pushes a paid trade, signed with the secret the screen showed.
    const tid = `T${Date.now()}${uid().slice(0, 4)}`;
    const res = await pushPaidTrade({
      webhookUrl,
      secret,
      shopId,
      tid,
      buyer: '测试买家',
      payment: '158.00',
      lines: [{ num_iid: '1', sku_id: '1', outer_sku_id: 'TEE-RED-M', title: '纯棉T恤 红色 M', num: 2, price: '79.00', payment: '158.00' }],
    });
    assert.equal(res.status, 200, `webhook accepted: ${await res.clone().text()}`);
    assert.equal((await res.json()).status, 'accepted');

    // The order appears in the list, found by its tid.
    await gotoApp(page, `/orders?tid=${tid}`);
    const row = page.locator(`[data-testid=orders-table] tr[data-order="${tid}"]`);
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), new RegExp(`测试店铺 ${shopId}`));
    await shootBoth(page, 'orders-webhook', { fullPage: false });

    // Reconcile now on a shop with credentials (the demo's) reports its run.
    await gotoApp(page, '/shops');
    const demoShop = page.locator('[data-testid=shops] .shop').filter({ has: page.locator('[data-testid=shop-shop-8848]') });
    await demoShop.locator('[data-testid=reconcile]').click();
    await demoShop.locator('[data-testid=reconcile-result]').waitFor();

    // Stock-sync rules show a preview before saving.
    await demoShop.getByRole('button', { name: '库存同步规则' }).click();
    const rd = page.locator('[data-testid=rules-dialog]');
    await rd.locator('[data-testid=rules-preview] tbody tr').first().waitFor();
    await rd.locator('input[name=percent]').fill('40');
    await until(async () => (await rd.locator('[data-testid=rules-preview] tr.is-changed').count()) > 0, { what: 'the preview to change' });
    await settle(page);
    await shootBoth(page, 'shops-rules', { fullPage: false });
    assertClean(b);
  } finally {
    await b.close();
  }
});
