import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, tokenFor, until } from './lib.mjs';

// After shipping, the demo's Courier collects a parcel about 2 s later and delivers it about a
// minute after that (its schedule is compressed), so a shipment that left may already be
// further along; the marketplace may also finish the trade once it is delivered.
const LEFT = ['shipped', 'in_transit', 'delivered'];
const ORDER_SHIPPED = ['shipped', 'partially_shipped', 'completed'];

/**
 * Pending shipments nothing holds, newest first (as the 待取号 tab lists them), whose orders
 * were all paid over a minute ago: the demo's buyers and seller act on a trade only within a
 * minute of its payment (refund requests, address changes, shipping it from the marketplace's
 * console, which cancels the shipment here), so nothing moves these while the test runs.
 */
async function pendingShipments(token, n, filter = () => true) {
  const settled = (s) => s.orders.every((o) => o.paid_at && Date.now() - Date.parse(o.paid_at) > 65_000);
  return until(
    async () => {
      const r = await api('/v1/shipments?status=pending&limit=50', { token });
      const free = r.body.items
        .filter((s) => !s.problem && s.orders.length > 0 && s.orders.every((o) => o.holds.length === 0))
        // Trades pushed by other tests (05-shops) carry no receiver: the carrier refuses those.
        .filter((s) => s.receiver.name && s.receiver.phone && s.receiver.address)
        .filter(settled)
        .filter(filter);
      return free.length >= n ? free.slice(0, n) : null;
    },
    { timeout: 180_000, interval: 2000, what: `${n} pending shipments paid over a minute ago` },
  );
}

async function selectRows(page, ids) {
  for (const id of ids) {
    const row = page.locator(`[data-testid=shipments-table] tr[data-shipment="${id}"]`);
    await row.waitFor();
    await row.locator('input[type=checkbox]').check();
  }
  await page.locator('[data-testid=bulkbar]').waitFor();
}

/** Scans a code into the scan-to-ship box and waits for its answer: the latest result line. */
async function scan(page, code) {
  const box = page.locator('[data-testid=scan-input]');
  await box.fill(code);
  await box.press('Enter');
  await page.waitForFunction((c) => {
    const r = document.querySelector('[data-testid=scan-result]');
    return r && r.getAttribute('data-code') === c && r.getAttribute('data-outcome') !== 'pending';
  }, code);
  const r = page.locator('[data-testid=scan-result]');
  return { outcome: await r.getAttribute('data-outcome'), text: await r.innerText() };
}

/** Pages in a PDF: page objects (`/Type /Page`, not `/Pages`). */
function countPages(bytes) {
  return (bytes.toString('latin1').match(/\/Type\s*\/Page(?![s\w])/g) ?? []).length;
}

test('draw waybills, print them as a batch, ship one by scanning and one in bulk', async () => {
  const token = await tokenFor();
  const picks = await pendingShipments(token, 4);
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/shipping?status=pending');
    await loginUi(page);
    await page.locator('[data-testid=shipments-table] tbody tr[data-shipment]').first().waitFor();
    // The tabs carry the counts from /v1/shipments/counts.
    const counts = (await api('/v1/shipments/counts', { token })).body;
    assert.ok(counts.pending >= 3);
    assert.match(await page.locator('[data-testid=shipment-tabs] [data-tab=pending]').innerText(), /待取号\s*[\d,]+/);
    await settle(page);
    await shootBoth(page, 'shipping');

    // 1. Draw waybills for four.
    await selectRows(
      page,
      picks.map((s) => s.id),
    );
    await shootBoth(page, 'shipping-selected', { fullPage: false });
    await page.locator('[data-testid=bulkbar] [data-action=draw]').click();
    const draw = page.locator('[data-testid=draw-dialog]');
    await draw.locator('[data-testid=draw-submit]').click();
    await draw.locator('[data-testid=draw-summary]').waitFor();
    const ids = [];
    for (const { id } of picks) {
      const cell = draw.locator(`[data-testid="draw-result-${id}"] [data-outcome]`);
      const outcome = await cell.getAttribute('data-outcome');
      if (outcome === 'drawn') {
        assert.match(await cell.innerText(), /已取号\s*ZT|已取号\s*SF/);
        ids.push(id);
      } else {
        // The demo's buyers ask for refunds now and then: a shipment held since it was listed is
        // skipped, and says why.
        assert.equal(outcome, 'skipped', `shipment ${id}: ${await cell.innerText()}`);
        assert.match(await cell.innerText(), /已跳过[\s\S]*(on_hold|intercepted)/);
      }
    }
    assert.ok(ids.length >= 2, `at least two drawn (${ids.length})`);
    await shootBoth(page, 'shipping-draw-results', { fullPage: false });
    await draw.locator('[data-testid=draw-close]').click();
    const drawn = await Promise.all(ids.map(async (id) => (await api(`/v1/shipments/${id}`, { token })).body));
    for (const s of drawn) {
      assert.equal(s.status, 'waybill_allocated');
      assert.ok(s.waybill?.code, 'a waybill code');
    }

    // 2. Print them as one batch from the 已取号 tab.
    await page.locator('[data-testid=shipment-tabs] [data-tab=waybill_allocated]').click();
    await page.waitForURL(/status=waybill_allocated/);
    await selectRows(page, ids);
    await page.locator('[data-testid=bulkbar] [data-action=print]').click();
    const print = page.locator('[data-testid=print-dialog]');
    await print.locator('[data-sort=route]').click();
    await print.locator('[data-size="76x130"]').click();
    await shootBoth(page, 'shipping-print-dialog', { fullPage: false });
    await print.locator('[data-testid=print-submit]').click();
    const progress = print.locator('[data-testid=batch-progress]');
    await progress.waitFor();
    await page.waitForFunction((n) => {
      const p = document.querySelector('[data-testid=batch-progress]');
      return p && p.getAttribute('data-total') === String(n) && p.getAttribute('data-done') === String(n);
    }, ids.length);
    assert.equal(await print.locator('[data-testid=batch-count]').innerText(), `${ids.length}/${ids.length} · 100%`);
    const frame = print.locator('[data-testid=batch-pdf]');
    await frame.waitFor({ timeout: 30_000 });
    const src = await frame.getAttribute('src');
    assert.match(src, /^blob:/, 'the labels are shown from a blob URL');
    assert.match(await print.locator('[data-testid=batch-pdf-download]').getAttribute('href'), /^blob:/);
    // Chromium's PDF viewer opened the document: it takes the PDF's title (电子面单 3 张 76x130).
    const viewer = await until(() => page.frames().find((f) => f.url().startsWith('chrome-extension://')), {
      what: 'the PDF viewer',
      timeout: 20_000,
    });
    await viewer.waitForFunction(() => /电子面单/.test(document.title), null, { timeout: 20_000 });
    assert.match(await viewer.title(), /电子面单 \d+ 张 76x130/);
    await settle(page);
    await shootBoth(page, 'shipping-print-batch', { fullPage: false });

    // The batch, from Node: one page per parcel, in a real PDF.
    const batchId = await print.locator('[data-testid=print-batch]').getAttribute('data-batch');
    const batch = (await api(`/v1/label-batches/${batchId}`, { token })).body;
    const parcels = drawn.reduce((n, s) => n + s.parcels, 0);
    assert.equal(batch.status, 'done');
    assert.equal(batch.total, ids.length);
    assert.equal(batch.pages, parcels, 'as many pages as parcels');
    const pdf = await fetch(`${BASE}${batch.pdf_url}`, { headers: { Authorization: `Bearer ${token}` } });
    const bytes = Buffer.from(await pdf.arrayBuffer());
    assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.equal(countPages(bytes), parcels, 'the PDF has one page per parcel');
    await print.locator('[data-testid=print-close]').click();
    for (const id of ids) {
      const s = (await api(`/v1/shipments/${id}`, { token })).body;
      assert.equal(s.status, 'printed');
      assert.equal(s.print_count, 1);
    }

    // 3. Ship the first by scanning its waybill code.
    await gotoApp(page, '/shipping');
    const code = drawn[0].waybill.code;
    const shipped = await scan(page, code);
    assert.equal(shipped.outcome, 'shipped');
    assert.match(shipped.text, /已发货/);
    // A code no shipment has says so.
    const unknown = await scan(page, 'ZT0000000000000');
    assert.equal(unknown.outcome, 'unknown');
    assert.match(unknown.text, /找不到运单号/);
    // The same code again: shipped before.
    assert.equal((await scan(page, code)).outcome, 'already_shipped');
    await settle(page);
    await shootBoth(page, 'shipping-scan', { fullPage: false });

    // 4. Ship the second with the bulk action on the 已打印 tab.
    await page.locator('[data-testid=shipment-tabs] [data-tab=printed]').click();
    await page.waitForURL(/status=printed/);
    await selectRows(page, [ids[1]]);
    await page.locator('[data-testid=bulkbar] [data-action=ship]').click();
    const ship = page.locator('[data-testid=ship-dialog]');
    await ship.locator('[data-testid=ship-submit]').click();
    await ship.locator('[data-testid=ship-summary]').waitFor();
    assert.equal(await ship.locator(`[data-testid="ship-result-${ids[1]}"] [data-outcome]`).getAttribute('data-outcome'), 'shipped');
    await shootBoth(page, 'shipping-ship-results', { fullPage: false });
    await ship.locator('[data-testid=ship-close]').click();

    // What the server says: both left, and their orders are shipped.
    for (const s of drawn.slice(0, 2)) {
      const now = (await api(`/v1/shipments/${s.id}`, { token })).body;
      assert.ok(LEFT.includes(now.status), `shipment ${s.id} left (${now.status})`);
      for (const o of s.orders) {
        const order = await until(
          async () => {
            const r = (await api(`/v1/orders/${o.order_id}`, { token })).body;
            return ORDER_SHIPPED.includes(r.status) ? r : null;
          },
          { timeout: 30_000, what: `order ${o.external_id} shipped` },
        );
        assert.ok(
          (order.shipments ?? []).some((w) => w.waybill_no === s.waybill.code),
          `order ${o.external_id} was written back with waybill ${s.waybill.code}`,
        );
      }
    }
    // The others are still printed, waiting.
    for (const id of ids.slice(2)) assert.equal((await api(`/v1/shipments/${id}`, { token })).body.status, 'printed');

    // 5. The order page lists its shipment with a link to it; the shipment page shows it all.
    const first = drawn[0];
    await gotoApp(page, `/orders/${first.orders[0].order_id}`);
    const link = page.locator(`[data-testid=order-shipping] tr[data-shipment="${first.id}"] [data-testid=order-shipment-link]`);
    await link.waitFor();
    await settle(page);
    await shootBoth(page, 'order-shipping');
    await link.click();
    await page.locator(`[data-testid=shipment-page][data-shipment="${first.id}"]`).waitFor();
    assert.equal(await page.locator('[data-testid=shipment-waybill]').innerText(), first.waybill.code);
    assert.ok((await page.locator('[data-testid=shipment-history] li').count()) >= 3, 'created, drawn, printed, shipped');
    assert.equal(await page.locator('[data-testid=shipment-waybills] tr[data-state=live]').count(), 1);
    await page.locator('[data-testid=label-preview]').click();
    const label = page.locator('[data-testid=label-pdf]');
    await label.waitFor();
    assert.match(await label.getAttribute('src'), /^blob:/);
    await settle(page);
    await shootBoth(page, 'shipment');
    assertClean(b);
  } finally {
    await b.close();
  }
});

test('the carrier rules editor saves the merge wait, and a reload shows it', async () => {
  const token = await tokenFor();
  const before = (await api('/v1/shipping/rules', { token })).body;
  const wanted = before.merge_wait_seconds === 615 ? 630 : 615;
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/shipping');
    await loginUi(page);
    await page.locator('[data-testid=carriers-link]').click();
    await page.locator('[data-testid=accounts-table] tr[data-account=ZTO]').waitFor();
    await page.locator('[data-testid=accounts-table] tr[data-account=SF]').waitFor();
    // ZTO is a franchise branch with a balance; SF is direct (monthly).
    assert.match(await page.locator('tr[data-account=ZTO] [data-testid=account-quantity]').innerText(), /\d/);
    assert.match(await page.locator('tr[data-account=SF] [data-testid=account-quantity]').innerText(), /月结/);
    const wait = page.locator('[data-testid=rules-form] input[name=merge_wait_seconds]');
    await wait.waitFor();
    assert.equal(await wait.inputValue(), String(before.merge_wait_seconds));
    assert.equal(await page.locator('[data-testid=rule-list] [data-rule]').count(), before.rules.length);
    await settle(page);
    await shootBoth(page, 'carriers');

    await wait.fill(String(wanted));
    await page.locator('[data-testid=rules-save]').click();
    await page.getByText('快递规则已保存').waitFor();
    await page.reload();
    await page.locator('[data-testid=rules-form] input[name=merge_wait_seconds]').waitFor();
    assert.equal(await page.locator('[data-testid=rules-form] input[name=merge_wait_seconds]').inputValue(), String(wanted));
    const after = (await api('/v1/shipping/rules', { token })).body;
    assert.equal(after.merge_wait_seconds, wanted);
    // Everything else went back as it was (payments through yuan and back to fen).
    assert.deepEqual({ ...after, merge_wait_seconds: before.merge_wait_seconds }, before);

    // An invalid rule is stopped here: a rule without a name.
    await page.locator('[data-testid=rule-add]').click();
    assert.ok(await page.locator('[data-testid=rules-save]').isDisabled(), 'a nameless rule cannot be saved');
    await shootBoth(page, 'carriers-rule-added', { fullPage: false });
    assertClean(b);
  } finally {
    await b.close();
    // Leave the demo as it was.
    await api('/v1/shipping/rules', { token, method: 'PUT', body: before });
  }
});

test("a split whose parts do not add up shows the server's problem and changes nothing", async () => {
  const token = await tokenFor();
  const units = (s) => s.lines.reduce((n, l) => n + l.quantity, 0);
  const [s] = await pendingShipments(token, 1, (x) => units(x) >= 2);
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, `/shipping/${s.id}`);
    await loginUi(page);
    await page.locator(`[data-testid=shipment-page][data-shipment="${s.id}"]`).waitFor();
    await page.locator('[data-testid=shipment-split]').click();
    const dialog = page.locator('[data-testid=split-dialog]');
    // Part 1 keeps every unit of the first line and part 2 takes one more: too many.
    await dialog.locator('input[name=part1-0]').fill(String(s.lines[0].quantity));
    await dialog.locator('input[name=part2-0]').fill('1');
    await dialog.locator('[data-testid=split-mismatch]').waitFor();
    await dialog.locator('[data-testid=split-submit]').click();
    const err = dialog.locator('[data-testid=split-error] [role=alert]');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-code'), 'invalid_input');
    assert.match(await err.innerText(), /填写的内容有误/);
    assert.match(await err.innerText(), /the parts must add up to the shipment/);
    await shootBoth(page, 'shipment-split-error', { fullPage: false });
    const now = (await api(`/v1/shipments/${s.id}`, { token })).body;
    assert.deepEqual(now.lines, s.lines, 'the shipment is as it was');
    assertClean(b);
  } finally {
    await b.close();
  }
});
