import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, pushPaidTrade, signupApi, uid, until } from './lib.mjs';

/** A fresh seller with one SKU in stock and a Bazaar shop that received a trade whose line has no merchant code. */
async function sellerWithUnmappedOrder() {
  const seller = await signupApi('mapping');
  const { token } = seller;
  const sku = `TEA-${uid().slice(0, 6)}`;
  assert.equal((await api('/v1/skus', { token, method: 'POST', body: { code: sku, name: '明前龙井 250g' } })).status, 201);
  const adj = await api('/v1/stock/adjustments', {
    token,
    method: 'POST',
    headers: { 'Idempotency-Key': randomUUID() },
    body: { sku_code: sku, delta: 10, reason: '采购到货' },
  });
  assert.ok(adj.status < 300, `stock received: ${adj.status} ${JSON.stringify(adj.body)}`);
  const shopId = `shop-m${uid().slice(0, 6).toLowerCase()}`;
  const ch = await api('/v1/channels', {
    token,
    method: 'POST',
    body: { marketplace: 'bazaar', shop_id: shopId, name: `对应测试店 ${shopId}` },
  });
  assert.equal(ch.status, 201, JSON.stringify(ch.body));
  const itemId = String(600000 + Math.floor(Math.random() * 99999));
  const variantId = String(Math.floor(Math.random() * 1e9));
  const tid = `T${Date.now()}${uid().slice(0, 4)}`;
  const res = await pushPaidTrade({
    webhookUrl: ch.body.webhook_url,
    secret: ch.body.webhook_secret,
    shopId,
    tid,
    buyer: '对应买家',
    payment: '268.00',
    lines: [
      // No outer_sku_id: the seller set no merchant code on the marketplace.
      {
        num_iid: itemId,
        sku_id: variantId,
        title: '明前龙井 250g 礼盒装',
        sku_properties: '规格:250g',
        num: 1,
        price: '268.00',
        payment: '268.00',
      },
    ],
  });
  assert.equal(res.status, 200, `webhook accepted: ${await res.clone().text()}`);
  const order = await until(
    async () => {
      const r = await api(`/v1/orders?external_id=${tid}`, { token });
      const o = r.body.items?.[0];
      return o && o.holds.some((h) => h.reason === 'unmapped_sku') ? o : null;
    },
    { timeout: 30_000, what: 'the order on hold unmapped_sku' },
  );
  return { seller, token, sku, channelId: ch.body.id, itemId, variantId, tid, order };
}

test('an order waiting on an unmapped variant: release is refused with the server reason; mapping it in the screen lifts the hold', async () => {
  const s = await sellerWithUnmappedOrder();
  assert.equal(s.order.status, 'on_hold');
  assert.equal(s.order.lines[0].sku_code, null);
  assert.equal(s.order.lines[0].mapping, 'unmapped');
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/holds');
    await loginUi(page, s.seller);
    const row = page.locator(`[data-testid=holds-table] tr[data-order="${s.tid}"]`);
    await row.waitFor();
    assert.match(await row.locator('[data-hold=unmapped_sku]').innerText(), /商品未对应/);

    // A person cannot release it: the dialog shows what the server answered, and nothing changes.
    await row.locator('[data-testid=release-one]').click();
    const dialog = page.locator('[data-testid=hold-dialog]');
    await dialog.locator('[data-testid=hold-submit]').click();
    const result = dialog.locator(`[data-testid="hold-result-${s.tid}"] .error-inline`);
    await result.waitFor();
    assert.equal(await result.getAttribute('data-code'), 'invalid_state_transition');
    await shootBoth(page, 'release-refused', { fullPage: false });
    await dialog.locator('[data-testid=hold-close]').click();
    let o = (await api(`/v1/orders/${s.order.id}`, { token: s.token })).body;
    assert.equal(o.status, 'on_hold');
    assert.ok(o.holds.some((h) => h.reason === 'unmapped_sku'));

    // The order page says which line waits and why.
    await gotoApp(page, `/orders/${s.order.id}`);
    await page.locator('[data-testid=order-holds] li[data-hold=unmapped_sku]').waitFor();
    await page.locator('[data-testid=line-unmapped]').waitFor();
    await settle(page);
    await shootBoth(page, 'order-unmapped');

    // The mapping screen lists the variant first, with the one order waiting on it.
    await page.locator('[data-nav="/mapping"]').click();
    const waiting = page.locator(`[data-testid=waiting-table] tr[data-item="${s.itemId}"][data-variant="${s.variantId}"]`);
    await waiting.waitFor();
    assert.equal((await waiting.locator('[data-testid=waiting-orders]').innerText()).trim(), '1');
    await page.locator(`[data-testid=items-table] tr[data-item="${s.itemId}"][data-mapping=unmapped]`).waitFor();
    await settle(page);
    await shootBoth(page, 'mapping');

    // An unknown SKU: the picker warns, and the server's 422 is shown; nothing is mapped.
    const picker = waiting.locator('input[list]');
    await picker.fill('NO-SUCH-SKU');
    await waiting.locator('[data-testid=sku-unknown]').waitFor();
    const waitingPanel = page.locator('#waiting');
    await waitingPanel.locator('[data-testid=mapping-save]').click();
    const err = waitingPanel.locator('[data-testid=mapping-savebar] [role=alert]');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-code'), 'unknown_reference');
    assert.match(await err.innerText(), /NO-SUCH-SKU/, 'the problem names the SKU');
    await shootBoth(page, 'mapping-unknown-sku', { fullPage: false });
    o = (await api(`/v1/orders/${s.order.id}`, { token: s.token })).body;
    assert.equal(o.lines[0].mapping, 'unmapped');

    // The right SKU: saved, the variant leaves the waiting list, the order reserves and ships.
    await picker.fill(s.sku);
    await waitingPanel.locator('[data-testid=mapping-save]').click();
    await waiting.waitFor({ state: 'detached' });
    await page.locator('[data-testid=waiting-table] [data-state=empty]').waitFor();
    // The hold lifts once the mapping is set, and the line's stock is reserved.
    o = await until(
      async () => {
        const r = (await api(`/v1/orders/${s.order.id}`, { token: s.token })).body;
        return r.status === 'allocated' ? r : null;
      },
      { timeout: 30_000, what: 'the order to be allocated' },
    );
    assert.equal(o.lines[0].reservation_state, 'confirmed');
    assert.equal(o.lines[0].warehouses[0]?.warehouse_code, 'MAIN', 'the line names its warehouse');
    const stock = (await api(`/v1/stock/${encodeURIComponent(s.sku)}`, { token: s.token })).body;
    assert.equal(stock.reserved, o.lines[0].quantity, 'the mapped line took its stock');
    assert.equal(o.holds.length, 0);
    assert.equal(o.lines[0].sku_code, s.sku);
    assert.equal(o.lines[0].mapping, 'mapped');
    const items = (await api(`/v1/channels/${s.channelId}/items`, { token: s.token })).body.items;
    const item = items.find((i) => i.item_id === s.itemId && i.variant_id === s.variantId);
    assert.equal(item?.sku_code, s.sku, 'the shop item maps to the SKU');
    await page.locator(`[data-testid=items-table] tr[data-item="${s.itemId}"][data-mapping=mapped]`).waitFor();
    await settle(page);
    await shootBoth(page, 'mapping-done');

    await gotoApp(page, `/orders/${s.order.id}`);
    await page.locator('[data-testid=order-holds-none]').waitFor();
    await page.locator('[data-testid=order-lines] tbody tr').first().getByText('MAIN').waitFor();
    await settle(page);
    await shootBoth(page, 'order-mapped');
    assertClean(b);
  } finally {
    await b.close();
  }
});
