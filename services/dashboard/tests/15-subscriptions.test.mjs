import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, signupApi, uid, until } from './lib.mjs';

/** A webhook receiver on a free port: records every request and answers `status` (204 to start with). */
async function receiver() {
  const got = [];
  const state = { status: 204 };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({
        path: req.url,
        id: req.headers['webhook-id'],
        timestamp: req.headers['webhook-timestamp'],
        signature: req.headers['webhook-signature'] ?? '',
        body,
        answered: state.status,
      });
      res.writeHead(state.status);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { got, state, url: `http://127.0.0.1:${port}/hook`, close: () => new Promise((r) => server.close(r)) };
}

/** Standard Webhooks: v1,base64(HMAC-SHA256(base64-decoded key after whsec_, "id.timestamp.body")). */
function verifies(secret, g) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = `v1,${createHmac('sha256', key).update(`${g.id}.${g.timestamp}.${g.body}`).digest('base64')}`;
  return g.signature.split(' ').includes(expected);
}

/** The delivery id behind a `webhook-id` (`msg_` and the id without dashes). */
function deliveryId(msgId) {
  const h = msgId.replace(/^msg_/, '');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function adjust(token, sku, delta) {
  const r = await api('/v1/stock/adjustments', {
    token,
    method: 'POST',
    headers: { 'Idempotency-Key': randomUUID() },
    body: { sku_code: sku, delta, reason: '订阅测试' },
  });
  assert.ok(r.status < 300, `adjusted: ${r.status} ${JSON.stringify(r.body)}`);
}

test('a subscription made in the screen delivers signed events; the log shows failures, redelivery, replay, disabling', async () => {
  const rx = await receiver();
  const seller = await signupApi('subs');
  const { token } = seller;
  const sku = `SUB-${uid().slice(0, 6)}`;
  assert.equal((await api('/v1/skus', { token, method: 'POST', body: { code: sku, name: '订阅测试 SKU' } })).status, 201);
  const b = await openBrowser();
  try {
    const { page } = b;
    await gotoApp(page, '/settings/subscriptions');
    await loginUi(page, seller);
    await page.locator('[data-testid=subs-table] [data-state=empty]').waitFor();
    assert.equal(await page.locator('.nav-item.is-active').innerText(), '订阅与推送');

    // 1. Create it: URL, events with their descriptions, a note; the secret is shown once.
    await page.locator('[data-testid=sub-new]').click();
    const dialog = page.locator('[data-testid=sub-dialog]');
    await dialog.locator('input[name=url]').fill('ftp://nope');
    await dialog.locator('.field-error').waitFor();
    assert.ok(await dialog.locator('[data-testid=sub-submit]').isDisabled());
    await dialog.locator('input[name=url]').fill(rx.url);
    const offered = await dialog.locator('input[name=event_type]').evaluateAll((xs) => xs.map((x) => x.value));
    assert.equal(offered.length, 10);
    assert.ok(offered.includes('invoice.issued'), offered.join());
    assert.match(await dialog.locator('label:has(input[value="stock.level_changed"])').innerText(), /库存变化[\s\S]*SKU 的库存数量变化/);
    await dialog.locator('input[name=event_type][value="stock.level_changed"]').check();
    await dialog.locator('input[name=description]').fill('ERP 库存同步');
    await shootBoth(page, 'subscriptions-new', { fullPage: false });
    await dialog.locator('[data-testid=sub-submit]').click();
    const secret = await dialog.locator('[data-testid=sub-secret]').innerText();
    assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/);
    assert.match(await dialog.locator('[data-testid=verify-note]').innerText(), /webhook-signature/);
    await shootBoth(page, 'subscriptions-created', { fullPage: false });
    await dialog.locator('[data-testid=sub-done]').click();
    const row = page.locator(`[data-testid=subs-table] tr[data-url="${rx.url}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-status'), 'active');
    const rowText = await row.innerText();
    assert.match(rowText, /订单已付款[\s\S]*库存变化/);
    assert.match(rowText, /ERP 库存同步/);
    assert.match(rowText, new RegExp(seller.email.replace(/[.]/g, '\\.')), 'created by the seller, by email');
    assert.ok(!(await page.locator('.content').innerText()).includes(secret), 'the secret is not shown again');

    // 2. A stock change is delivered, signed with that secret.
    await adjust(token, sku, 5);
    const first = await until(() => rx.got.find((g) => JSON.parse(g.body).type === 'stock.level_changed'), { what: 'the first delivery' });
    assert.equal(first.path, '/hook');
    assert.match(first.id, /^msg_[0-9a-f]{32}$/);
    assert.ok(verifies(secret, first), 'the webhook-signature verifies with the secret');
    assert.ok(!verifies(`whsec_${Buffer.from('another key').toString('base64')}`, first), 'and not with another');
    assert.ok(Math.abs(Number(first.timestamp) - Date.now() / 1000) < 300, 'a current webhook-timestamp');
    const firstId = deliveryId(first.id);

    // The log shows it delivered, with its attempt.
    await row.locator('[data-testid=sub-log]').click();
    await page.locator('[data-testid=subscription]').waitFor();
    const log = page.locator('[data-testid=deliveries-table]');
    const firstRow = log.locator(`tr[data-delivery="${firstId}"][data-status=delivered]`);
    await firstRow.waitFor({ timeout: 20_000 });
    assert.equal(await firstRow.getAttribute('data-event-type'), 'stock.level_changed');
    assert.match(await firstRow.innerText(), /已送达[\s\S]*204/);
    await firstRow.locator('[data-testid=delivery-expand]').click();
    const firstAttempts = log.locator(`tr[data-attempts-of="${firstId}"] [data-testid=attempt-log]`);
    await firstAttempts.locator('tr[data-attempt-code="204"]').waitFor();
    assert.match(await firstAttempts.innerText(), new RegExp(first.id));

    // 3. The receiver fails: the attempt shows 503 and the delivery waits for its retry.
    rx.state.status = 503;
    await adjust(token, sku, -2);
    const failed = await until(() => rx.got.find((g) => g.answered === 503), { what: 'the failing delivery' });
    const failedId = deliveryId(failed.id);
    const failedRow = log.locator(`tr[data-delivery="${failedId}"]`);
    await failedRow.locator('[data-testid=delivery-last]').filter({ hasText: '503' }).waitFor({ timeout: 20_000 });
    assert.equal(await failedRow.getAttribute('data-status'), 'pending');
    await failedRow.locator('[data-testid=delivery-expand]').click();
    const failedAttempts = log.locator(`tr[data-attempts-of="${failedId}"] [data-testid=attempt-log]`);
    await failedAttempts.locator('tr[data-attempt-code="503"]').first().waitFor();
    // Filtering by status: pending shows it and not the delivered one.
    await page.locator('[data-testid=delivery-filter] [data-filter=pending]').click();
    await log.locator(`tr[data-delivery="${failedId}"]`).waitFor();
    assert.equal(await log.locator(`tr[data-delivery="${firstId}"]`).count(), 0);
    await page.locator('[data-testid=delivery-filter] [data-filter=all]').click();
    await log.locator(`tr[data-delivery="${firstId}"]`).waitFor();
    // The row stays expanded across the filter.
    await failedAttempts.locator('tr[data-attempt-code="503"]').first().waitFor();
    await settle(page);
    await shootBoth(page, 'subscription-failing');

    // 4. The receiver is back; Redeliver sends it again now, with the same webhook-id.
    rx.state.status = 204;
    const sentBefore = rx.got.filter((g) => g.id === failed.id).length;
    await log.locator(`tr[data-delivery="${failedId}"] [data-testid=redeliver]`).click();
    await until(() => rx.got.filter((g) => g.id === failed.id && g.answered === 204).length > 0, { what: 'the redelivery' });
    assert.ok(rx.got.filter((g) => g.id === failed.id).length > sentBefore);
    assert.ok(verifies(secret, rx.got.filter((g) => g.id === failed.id).at(-1)));
    await log.locator(`tr[data-delivery="${failedId}"][data-status=delivered]`).waitFor({ timeout: 20_000 });
    await failedAttempts.locator('tr[data-attempt-code="204"]').waitFor();

    // 5. Replay the last hour: both deliveries are queued and sent again.
    await page.locator('[data-testid=replay-open]').click();
    const replay = page.locator('[data-testid=replay-dialog]');
    await replay.locator('input[name=since]').waitFor();
    await shootBoth(page, 'subscription-replay', { fullPage: false });
    const countOf = (id) => rx.got.filter((g) => g.id === id).length;
    const before = { first: countOf(first.id), failed: countOf(failed.id) };
    await replay.locator('[data-testid=replay-submit]').click();
    const result = replay.locator('[data-testid=replay-result]');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-requeued'), '2');
    assert.match(await result.innerText(), /已重新排队 2 条推送/);
    await replay.locator('[data-testid=replay-done]').click();
    await until(() => countOf(first.id) > before.first && countOf(failed.id) > before.failed, { what: 'the replayed deliveries' });

    // 6. Disabled while a delivery fails: its retry is parked ("waits for enabling") and nothing
    // is sent; enabling sends it at once.
    rx.state.status = 503;
    await adjust(token, sku, 1);
    const parked = await until(() => rx.got.find((g) => g.answered === 503 && g.id !== failed.id), { what: 'another failure' });
    await page.locator('[data-testid=sub-toggle]').click();
    await page.locator('[data-testid=subscription][data-status=disabled]').waitFor();
    assert.match(
      await page.locator('[data-testid=sub-disabled-reason]').innerText(),
      new RegExp(`Disabled by ${seller.email.replace(/[.]/g, '\\.')}`),
    );
    assert.ok(await log.locator(`tr[data-delivery="${firstId}"] [data-testid=redeliver]`).isDisabled());
    assert.ok(await page.locator('[data-testid=replay-open]').isDisabled());
    const parkedId = deliveryId(parked.id);
    const parkedRow = log.locator(`tr[data-delivery="${parkedId}"][data-status=pending]`).filter({ hasText: '等待启用' });
    // Parked when its retry comes due (5 s after the failure, or 30 s after a second one).
    await parkedRow.waitFor({ timeout: 50_000 });
    const tries = countOf(parked.id);
    await settle(page);
    await shootBoth(page, 'subscription-disabled');
    assert.equal(countOf(parked.id), tries, 'nothing is sent while disabled');
    rx.state.status = 204;
    await page.locator('[data-testid=sub-toggle]').click();
    await page.locator('[data-testid=subscription][data-status=active]').waitFor();
    await until(() => rx.got.some((g) => g.id === parked.id && g.answered === 204), { what: 'the parked delivery, sent on enabling' });
    await log.locator(`tr[data-delivery="${parkedId}"][data-status=delivered]`).waitFor({ timeout: 20_000 });
    await settle(page);
    await shootBoth(page, 'subscription');

    // 7. Back on the list: edit the description and the events; delete after confirming.
    await page.locator('.back-link').click();
    await row.waitFor();
    await row.locator('[data-testid=sub-edit]').click();
    const edit = page.locator('[data-testid=sub-dialog]');
    assert.equal(await edit.locator('input[name=url]').inputValue(), rx.url);
    assert.ok(await edit.locator('input[name=event_type][value="stock.level_changed"]').isChecked());
    await edit.locator('input[name=event_type][value="order.paid"]').uncheck();
    await edit.locator('input[name=description]').fill('ERP 库存同步（仅库存）');
    await edit.locator('[data-testid=sub-submit]').click();
    await row.filter({ hasText: '仅库存' }).waitFor();
    assert.ok(!(await row.innerText()).includes('订单已付款'));
    const stored = await api('/v1/subscriptions', { token });
    assert.deepEqual(stored.body.subscriptions[0].event_types, ['stock.level_changed']);
    assert.equal(stored.body.subscriptions[0].status, 'active', 'editing keeps it enabled');
    await settle(page);
    await shootBoth(page, 'subscriptions');
    await row.locator('[data-testid=sub-delete]').click();
    const del = page.locator('[data-testid=sub-delete-dialog]');
    assert.match(await del.innerText(), new RegExp(rx.url.replace(/[.]/g, '\\.')));
    await del.locator('[data-testid=sub-delete-confirm]').click();
    await page.locator('[data-testid=subs-table] [data-state=empty]').waitFor();
    assert.deepEqual((await api('/v1/subscriptions', { token })).body.subscriptions, []);
    assertClean(b);
  } finally {
    await b.close();
    await rx.close();
  }
});

test('staff manage subscriptions too (events:write)', async () => {
  const owner = await signupApi('subs-owner');
  const email = `staff-${randomUUID().slice(0, 8)}@example.cn`;
  const inv = await api('/v1/users', { token: owner.token, method: 'POST', body: { email, role: 'staff' } });
  assert.equal(inv.status, 201, JSON.stringify(inv.body));
  const token = new URL(inv.body.accept_url).hash.replace(/^#token=/, '');
  const password = `staff-${randomUUID().slice(0, 8)} password`;
  const acc = await api('/v1/invites/accept', { method: 'POST', body: { token: decodeURIComponent(token), password } });
  assert.ok(acc.status < 300, JSON.stringify(acc.body));
  const b = await openBrowser();
  try {
    const { page } = b;
    await gotoApp(page, '/settings/subscriptions');
    await loginUi(page, { email, password });
    await page.locator('[data-testid=subs-table] [data-state=empty]').waitFor();
    assert.equal(await page.locator('[data-testid=user-role]').getAttribute('data-role'), 'staff');
    assert.ok(!(await page.locator('[data-testid=sub-new]').isDisabled()), 'staff may subscribe');
    await page.locator('[data-testid=sub-new]').click();
    const dialog = page.locator('[data-testid=sub-dialog]');
    await dialog.locator('input[name=url]').fill(`https://erp.example.com/hooks/${uid()}`);
    await dialog.locator('[data-testid=sub-submit]').click();
    await dialog.locator('[data-testid=sub-secret]').waitFor();
    await dialog.locator('[data-testid=sub-done]').click();
    const row = page.locator('[data-testid=subs-table] tr[data-status=active]');
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(email.replace(/[.]/g, '\\.')));
    assertClean(b);
  } finally {
    await b.close();
  }
});
