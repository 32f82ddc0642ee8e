import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, tokenFor, until } from './lib.mjs';

// The demo's buyers never send goods back by themselves: the test ships a trade through
// Cairn, then has the marketplace simulator's buyer ask for a refund with the goods sent back
// (`return_goods`: the lines wait for the goods, WAIT_BUYER_RETURN_GOODS), and Cairn expects a
// return. The simulator's address is the demo shops' Open API base URL (CAIRN_SIM_URL
// overrides it).

async function simUrl(token) {
  if (process.env.CAIRN_SIM_URL) return process.env.CAIRN_SIM_URL.replace(/\/$/, '');
  const channels = (await api('/v1/channels', { token })).body;
  const base = channels.find((c) => c.api?.base_url)?.api.base_url;
  assert.ok(base, 'a demo shop with the simulator as its Open API');
  return base.replace(/\/$/, '');
}

async function sim(base, path, { method = 'GET', body } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

/**
 * A pending shipment of one trade with at least two units, that nothing holds and that the
 * demo no longer acts on (paid over a minute ago, see 11-shipping), with a full receiver.
 */
async function pickShipment(token) {
  const units = (s) => s.lines.reduce((n, l) => n + l.quantity, 0);
  return until(
    async () => {
      const r = await api('/v1/shipments?status=pending&limit=100', { token });
      return r.body.items.find(
        (s) =>
          !s.problem &&
          s.orders.length === 1 &&
          s.orders[0].holds.length === 0 &&
          s.orders[0].paid_at &&
          Date.now() - Date.parse(s.orders[0].paid_at) > 65_000 &&
          s.receiver.name &&
          s.receiver.phone &&
          s.receiver.address &&
          units(s) >= 2,
      );
    },
    { timeout: 180_000, interval: 2000, what: 'a pending one-trade shipment of two units or more, paid over a minute ago' },
  );
}

/** Draws, prints (one batch) and ships `s` through Cairn's API, as a seller would. */
async function shipThroughCairn(token, s) {
  const drawn = await api('/v1/shipments/waybills', { token, method: 'POST', body: { shipment_ids: [s.id] } });
  assert.equal(drawn.status, 200, JSON.stringify(drawn.body));
  assert.equal(drawn.body.results[0].outcome, 'drawn', JSON.stringify(drawn.body.results[0]));
  const batch = await api('/v1/label-batches', {
    token,
    method: 'POST',
    body: { shipment_ids: [s.id], sort: 'as_given', size: '100x180' },
  });
  assert.ok(batch.status === 200 || batch.status === 202, JSON.stringify(batch.body));
  await until(async () => (await api(`/v1/label-batches/${batch.body.id}`, { token })).body.status === 'done', {
    what: 'the label batch printed',
  });
  const shipped = await api('/v1/shipments/ship', { token, method: 'POST', body: { ids: [s.id] } });
  assert.equal(shipped.body.results[0].outcome, 'shipped', JSON.stringify(shipped.body.results[0]));
  return (await api(`/v1/shipments/${s.id}`, { token })).body;
}

/** The SKU's ledger (oldest first), or its newest movement with `newest`. */
async function ledger(token, sku, { newest = false } = {}) {
  const q = newest ? 'newest_first=true&limit=1' : 'limit=100000';
  const r = await api(`/v1/stock/${encodeURIComponent(sku)}/ledger?${q}`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/**
 * The SKU's on-hand in `warehouse` with the ledger's newest movement id, read so that no
 * movement lands between the two (the ledger is read again until it has not moved).
 */
async function snapshot(token, sku, warehouse) {
  const newest = async () => (await ledger(token, sku, { newest: true }))[0]?.id ?? null;
  for (;;) {
    const a = await newest();
    const stock = (await api(`/v1/stock/${encodeURIComponent(sku)}`, { token })).body;
    if ((await newest()) === a) {
      const w = stock.warehouses.find((x) => x.warehouse_code === warehouse);
      return { onHand: w ? w.on_hand : 0, last: a };
    }
  }
}

/** The SKU's movements after snapshot `from` up to snapshot `to` (included), oldest first. */
async function movementsBetween(token, sku, from, to) {
  const all = await ledger(token, sku);
  const i = from.last ? all.findIndex((m) => m.id === from.last) : -1;
  const j = to.last ? all.findIndex((m) => m.id === to.last) : -1;
  return all.slice(i + 1, j + 1);
}

async function openReturns(page) {
  await gotoApp(page, '/shipping');
  await loginUi(page);
  await page.locator('[data-testid=returns-link]').click();
  await page.locator('[data-testid=returns]').waitFor();
}

test('a return shipped through Cairn is received with one unit damaged: stock grows by the sellable units once', async () => {
  const token = await tokenFor();
  const base = await simUrl(token);

  // 1. A trade shipped through Cairn and written back to the marketplace.
  const picked = await pickShipment(token);
  const shipment = await shipThroughCairn(token, picked);
  const { order_id: orderId, external_id: tid } = shipment.orders[0];
  await until(
    async () => {
      const t = (await sim(base, `/admin/trades/${tid}`)).body;
      return t?.status === 'WAIT_BUYER_CONFIRM_GOODS' && t.orders.every((o) => o.refund_status === 'NO_REFUND');
    },
    { what: `trade ${tid} shipped at the marketplace (the write-back)` },
  );
  await until(
    async () => (await api(`/v1/orders/${orderId}`, { token })).body.lines.every((l) => l.shipped_waybill === shipment.waybill.code),
    { what: `order ${tid} recorded as shipped with ${shipment.waybill.code}` },
  );

  // 2. The buyer asks for a refund and sends the goods back; Cairn expects them.
  const refund = await sim(base, `/admin/trades/${tid}/refund`, { method: 'POST', body: { outcome: 'return_goods' } });
  assert.equal(refund.status, 200, JSON.stringify(refund.body));
  assert.ok(refund.body.orders.every((o) => o.refund_status === 'WAIT_BUYER_RETURN_GOODS'));
  const ret = await until(
    async () => (await api('/v1/returns?status=expected', { token })).body.items.find((r) => r.order_id === orderId),
    { timeout: 60_000, what: `the return of ${tid} expected` },
  );
  assert.equal(ret.shipment_id, shipment.id);
  assert.equal(ret.warehouse_code, shipment.warehouse_code);
  const skus = new Map();
  for (const l of ret.expected) skus.set(l.sku_code, (skus.get(l.sku_code) ?? 0) + l.quantity);
  const [firstSku, firstQty] = [...skus.entries()][0];
  // One unit of the first SKU arrives damaged, everything else sellable.
  const sellable = new Map([...skus].map(([s, q]) => [s, s === firstSku ? q - 1 : q]));
  const before = new Map();
  for (const s of skus.keys()) before.set(s, await snapshot(token, s, ret.warehouse_code));

  const b = await openBrowser();
  const { page } = b;
  // A second tab (its own session, as a colleague's), watched for CSP violations like the first.
  const other = await b.context.newPage();
  other.setDefaultTimeout(15_000);
  other.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && b.problems.push(`CSP: ${m.text()}`));
  other.on('pageerror', (e) => b.problems.push(`page error: ${e.message}`));
  try {
    // 3. The 退货 view from the 发货 navigation: the expected return with its trade, shipment,
    //    warehouse and lines.
    await openReturns(page);
    const row = page.locator(`[data-testid=returns-table] tr[data-return="${ret.id}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-status'), 'expected');
    assert.equal(await row.locator('[data-testid=return-order]').innerText(), tid);
    assert.equal(await row.locator('[data-testid=return-order]').getAttribute('href'), `/orders/${orderId}`);
    assert.equal(await row.locator('[data-testid=return-shipment]').getAttribute('href'), `/shipping/${shipment.id}`);
    assert.match(await row.locator('[data-testid=return-warehouse]').innerText(), new RegExp(ret.warehouse_code));
    for (const l of ret.expected) {
      const line = row.locator(`[data-testid=return-expected] [data-sku="${l.sku_code}"]`);
      assert.match(await line.innerText(), new RegExp(`${l.sku_code}[\\s\\S]*×${l.quantity}`));
    }
    assert.match(await page.locator('[data-testid=return-tabs] [data-tab=expected]').innerText(), /待收货\s*\d+/);
    await settle(page);
    await shootBoth(page, 'returns');

    // A colleague's tab with the same return, still expected there (used in step 6).
    await gotoApp(other, '/shipping/returns');
    await loginUi(other);
    const otherRow = other.locator(`[data-testid=returns-table] tr[data-return="${ret.id}"]`);
    await otherRow.locator('[data-testid=receive-open]').click();
    const otherDialog = other.locator('[data-testid=receive-dialog]');
    await otherDialog.locator('[data-testid=receive-submit]').waitFor();

    // 4. Receive it: all sellable to start with; more than expected is refused in the browser;
    //    one unit of the first SKU damaged.
    await row.locator('[data-testid=receive-open]').click();
    const dialog = page.locator('[data-testid=receive-dialog]');
    const first = dialog.locator(`[data-testid=receive-lines] tr[data-sku="${firstSku}"]`);
    await first.waitFor();
    assert.equal(await first.locator('input[name^=sellable]').inputValue(), String(firstQty));
    assert.equal(await first.locator('input[name^=damaged]').inputValue(), '0');
    await first.locator('input[name^=damaged]').fill('1');
    assert.equal(await first.locator('input[name^=sellable]').inputValue(), String(firstQty - 1), 'damaged units leave the sellable ones');
    await first.locator('input[name^=sellable]').fill(String(firstQty));
    await first.locator('[data-testid=receive-line-error]').waitFor();
    assert.match(await first.locator('[data-testid=receive-line-error]').innerText(), new RegExp(`不能超过应退的 ${firstQty} 件`));
    assert.ok(await dialog.locator('[data-testid=receive-submit]').isDisabled(), 'more than expected cannot be sent');
    await shootBoth(page, 'returns-receive-invalid', { fullPage: false });
    await first.locator('input[name^=sellable]').fill(String(firstQty - 1));
    await dialog.locator('[data-testid=receive-summary]').waitFor();
    await shootBoth(page, 'returns-receive', { fullPage: false });
    await dialog.locator('[data-testid=receive-submit]').click();
    await page.getByText(`${tid} 已收货`).waitFor();
    await dialog.locator('[data-testid=receive-submit]').waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });

    // 5. It moved to 已收货, with what arrived and when.
    await page.locator('[data-testid=return-tabs] [data-tab=received]').click();
    await page.waitForURL(/status=received/);
    const done = page.locator(`[data-testid=returns-table] tr[data-return="${ret.id}"]`);
    await done.waitFor();
    assert.equal(await done.getAttribute('data-status'), 'received');
    for (const [s, q] of skus) {
      const got = done.locator(`[data-testid=return-received] [data-sku="${s}"]`);
      assert.equal(await got.getAttribute('data-sellable'), String(sellable.get(s)));
      assert.equal(await got.getAttribute('data-damaged'), String(s === firstSku ? 1 : 0));
      if (s === firstSku) assert.match(await got.innerText(), /残次 1/);
      assert.ok(q >= 1);
    }
    assert.match(await done.locator('[data-testid=return-received-at]').innerText(), /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    await settle(page);
    await shootBoth(page, 'returns-received');

    // The server: received as sent; each SKU's on-hand grew by its sellable units through one
    // `return` movement in the ledger, and by nothing else.
    const now = (await api(`/v1/returns/${ret.id}`, { token })).body;
    assert.equal(now.status, 'received');
    assert.ok(now.received_at);
    const cause = `return of ${tid} received`;
    const isOurs = (m) => m.kind === 'return' && m.cause === cause;
    for (const [s, q] of sellable) {
      // The receipt restocks through the bus (stock.returned): wait for its movement.
      const after =
        q === 0
          ? await snapshot(token, s, ret.warehouse_code)
          : await until(
              async () => {
                const x = await snapshot(token, s, ret.warehouse_code);
                return (await movementsBetween(token, s, before.get(s), x)).some(isOurs) ? x : null;
              },
              { what: `the return movement of ${s}` },
            );
      const moved = (await movementsBetween(token, s, before.get(s), after)).filter((m) => m.warehouse_code === ret.warehouse_code);
      const ours = moved.filter(isOurs);
      assert.equal(ours.length, q > 0 ? 1 : 0, `${s}: ${q > 0 ? 'one return movement' : 'nothing sellable, nothing restocked'}`);
      if (q === 0) continue;
      assert.equal(ours[0].on_hand_delta, q, `${s}: +${q} on hand`);
      const others = moved.filter((m) => !isOurs(m)).reduce((n, m) => n + m.on_hand_delta, 0);
      assert.equal(
        after.onHand - before.get(s).onHand,
        q + others,
        `${s}: on hand grew by the ${q} sellable units (and by ${others} through other movements)`,
      );
    }

    // 6. The colleague's tab sends other quantities (all sellable): the server's 409 and its
    //    detail show in the dialog, and nothing is restocked twice.
    await otherDialog.locator('[data-testid=receive-submit]').click();
    const err = otherDialog.locator('[data-testid=receive-error] [role=alert]');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-code'), 'invalid_state_transition');
    assert.match(await err.innerText(), /当前状态不允许此操作/);
    assert.match(await err.innerText(), /already received, with other quantities/);
    // It says why, and does not offer to send it again.
    assert.match(await otherDialog.locator('[data-testid=receive-conflict]').innerText(), /已经收过货/);
    assert.ok(await otherDialog.locator('[data-testid=receive-submit]').isDisabled(), 'no second try');
    await settle(other);
    await shootBoth(other, 'returns-receive-conflict', { fullPage: false });
    for (const [s, q] of sellable) {
      assert.equal((await ledger(token, s)).filter(isOurs).length, q > 0 ? 1 : 0, `${s}: still one return movement`);
    }
    // Behind the dialog the colleague's list caught up: the return is no longer expected there.
    await otherDialog.locator('[data-testid=receive-cancel]').click();
    await otherRow.waitFor({ state: 'detached' });

    // 7. The order page shows the return in its shipments panel.
    await gotoApp(page, `/orders/${orderId}`);
    const onOrder = page.locator(`[data-testid=order-returns] tr[data-return="${ret.id}"]`);
    await onOrder.waitFor();
    assert.equal(await onOrder.getAttribute('data-status'), 'received');
    assert.match(await onOrder.innerText(), /已收货/);
    assert.match(await onOrder.innerText(), /残次 1/);
    await settle(page);
    await shootBoth(page, 'order-returns');
    assertClean(b);
  } finally {
    await b.close();
  }
});
